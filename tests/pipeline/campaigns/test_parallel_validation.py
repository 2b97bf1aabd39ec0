"""Validation in worker processes gives exactly what one process gives: the same accepted
rows in the same order and the same bad rows (so the same first error), however the file is
cut into chunks — quoted fields that span lines included."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.campaigns.staging import stage_users

HEADER = ["external_id", "name", "phone", "email", "locale", "timezone", "risk_tier"]

values = st.fixed_dictionaries(
    {
        "external_id": st.sampled_from(["", "A1", "A2", "B-7", "x" * 129]),
        "name": st.sampled_from(["", "Ann", 'Two\nlines, "quoted"', "Zoë, Jr.", "\x00"]),
        "phone": st.sampled_from(["", "+12125550143", "(415) 555-0100", "12", "+44 7911 123456"]),
        "email": st.sampled_from(["", "a@example.com", "bad@", "ü@exämple.org"]),
        "locale": st.sampled_from(["", "en", "zh_cn", "???"]),
        "timezone": st.sampled_from(["", "UTC", "Europe/London", "Mars/Base"]),
        "risk_tier": st.sampled_from(["", "1", "3", "9"]),
    }
)
rows = st.lists(
    st.one_of(values.map(lambda v: [v[c] for c in HEADER]), st.just([]), st.just(["short"])),
    min_size=1,
    max_size=30,
)


def staged(path: Path, **options: int) -> tuple[str, list[tuple[int, list[str], str]]]:
    out = io.StringIO()
    bad = []
    for chunk in stage_users(path, "US", out, **options):
        bad += [(line, record, errors[0].describe()) for line, record, errors in chunk.bad]
    return out.getvalue(), bad


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows, st.integers(min_value=1, max_value=6))
def test_parallel_validation_matches_serial(records: list[list[str]], chunk_lines: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "users.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(records)
        serial = staged(path)
        parallel = staged(path, workers=2, chunk_lines=chunk_lines)
    # Same rows in the same order, and the same bad rows with their located first error.
    assert parallel == serial
