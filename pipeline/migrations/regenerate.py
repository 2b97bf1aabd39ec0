"""Regenerate the initial revision (0001) from the models (nothing is deployed yet). Later
revisions hold what autogenerate cannot see (PostgreSQL triggers) and are kept.

python -m pipeline.migrations.regenerate
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from pipeline.migrations import MIGRATIONS_DIR, alembic_config


def main() -> None:
    versions = MIGRATIONS_DIR / "versions"
    for old in versions.glob("0001_*.py"):
        old.unlink()
    later = {path: path.read_text() for path in versions.glob("*.py")}
    # Autogenerate diffs the models against an empty database, which alembic only allows
    # when it knows no revisions: the later ones step aside meanwhile.
    for path in later:
        path.unlink()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            config = alembic_config(f"sqlite:///{Path(scratch) / 'empty.db'}")
            command.revision(config, "initial schema", autogenerate=True, rev_id="0001")
    finally:
        for path, source in later.items():
            path.write_text(source)
    print("wrote", *versions.glob("0001_*.py"))


if __name__ == "__main__":
    main()
