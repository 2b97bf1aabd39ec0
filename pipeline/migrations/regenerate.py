"""Regenerate the one initial revision from the models (nothing is deployed yet).

python -m pipeline.migrations.regenerate
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from pipeline.migrations import MIGRATIONS_DIR, alembic_config


def main() -> None:
    for old in (MIGRATIONS_DIR / "versions").glob("*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as scratch:
        config = alembic_config(f"sqlite:///{Path(scratch) / 'empty.db'}")
        command.revision(config, "initial schema", autogenerate=True, rev_id="0001")
    print("wrote", *(MIGRATIONS_DIR / "versions").glob("*.py"))


if __name__ == "__main__":
    main()
