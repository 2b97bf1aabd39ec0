from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from pipeline.campaigns.staging import stage_users
from pipeline.campaigns.users import UserRow, read_users

EXAMPLES = Path(__file__).parents[3] / "examples"
HEADER = "external_id,name,phone,email,locale,timezone,risk_tier\n"


def staged(path: Path, **options: int) -> tuple[list[list[str]], list[tuple[int, str]]]:
    out = io.StringIO()
    bad = []
    for chunk in stage_users(path, "US", out, **options):
        bad += [(line, errors[0].describe()) for line, _, errors in chunk.bad]
    return list(csv.reader(io.StringIO(out.getvalue()))), bad


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    body = (EXAMPLES / "users.csv").read_text().split("\n", 1)[1]
    bad = (EXAMPLES / "bad_users.csv").read_text().split("\n", 1)[1]
    multiline = 'M-1,"Two\nlines, ""quoted""",+12125550143,,en,UTC,2\n'
    path = tmp_path / "mixed.csv"
    path.write_text(HEADER + body + multiline + bad + multiline.replace("M-1", "M-2") + body)
    return path


def test_staging_matches_the_row_by_row_reader(mixed: Path) -> None:
    rows, bad = staged(mixed)
    verdicts = list(read_users(mixed, "US", find_duplicates=False))
    good = [v for _, _, v in verdicts if isinstance(v, UserRow)]
    assert [[str(x) if x is not None else "" for x in row] for row in good] == rows
    expected_bad = [(line, v[0].describe()) for line, _, v in verdicts if isinstance(v, list)]
    assert bad == expected_bad and len(bad) == 8  # the file's duplicate is left to launch
    assert any(row[0] == "M-1" or row[1] == "M-1" for row in rows)


@pytest.mark.parametrize(("workers", "chunk_lines"), [(1, 1), (1, 5), (2, 1), (2, 7)])
def test_chunking_and_workers_do_not_change_the_result(
    mixed: Path, workers: int, chunk_lines: int
) -> None:
    assert staged(mixed, workers=workers, chunk_lines=chunk_lines) == staged(mixed)


def test_a_quoted_field_spanning_lines_is_never_cut(mixed: Path) -> None:
    rows, _ = staged(mixed, chunk_lines=1)
    multiline = [row for row in rows if row[1] in ("M-1", "M-2")]
    assert [row[2] for row in multiline] == ['Two\nlines, "quoted"'] * 2
    # Lines: header 1, 32 users on 2..33, M-1 starts on 34 and takes two lines.
    assert multiline[0][0] == "34"
