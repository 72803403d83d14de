"""Add a schema revision after changing oms_server/store/schema.py.

    .venv/bin/python scripts/new_migration.py "orders: add settle_ns"
    .venv/bin/python scripts/new_migration.py --empty "positions: recompute cost"

It upgrades a scratch SQLite store to the newest revision, compares it with schema.py
(Alembic's autogenerate) and writes oms_server/store/migrations/versions/<next id>_<slug>.py
holding the operations it found, in batch mode so that they run on SQLite as well as on
PostgreSQL. Read it before committing: give a NOT NULL column a server_default for the
rows already stored, fill in what data needs moving, and check the downgrade. ``--empty``
writes a revision with no operations (a data migration). tests/unit/store/
test_migrations.py fails until schema.py and the revisions agree.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import Connection

from oms_server.store.database import create_engine
from oms_server.store.migrations import MIGRATIONS_DIR, alembic_config, upgrade_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("message", help='what the revision changes, e.g. "orders: add settle_ns"')
    parser.add_argument("--empty", action="store_true", help="no operations (data migrations)")
    args = parser.parse_args(argv)
    path = asyncio.run(new_revision(args.message, autogenerate=not args.empty))
    format_revision(path)
    print(f"wrote {path}: review it, then run tests/unit/store/test_migrations.py")
    return 0


async def new_revision(
    message: str, *, autogenerate: bool, migrations: Path = MIGRATIONS_DIR
) -> Path:
    """Write the next revision into ``migrations``, its operations found by comparing
    schema.py with a store at the newest revision; its file."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(scratch) / 'head.db'}")
        try:
            await upgrade_store(engine)
            async with engine.begin() as conn:
                return await conn.run_sync(_write, message, autogenerate, migrations)
        finally:
            await engine.dispose()


def format_revision(path: Path) -> None:
    """Format the new file as the project's code is (ruff), if ruff is installed."""
    subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", str(path)], check=False)


def _write(connection: Connection, message: str, autogenerate: bool, migrations: Path) -> Path:
    config = alembic_config(connection, migrations)
    head = ScriptDirectory.from_config(config).get_current_head()
    rev_id = f"{int(head or 0) + 1:04d}"
    script = command.revision(config, message=message, autogenerate=autogenerate, rev_id=rev_id)
    assert isinstance(script, Script), "one head, one new revision"
    return Path(script.path)


if __name__ == "__main__":
    sys.exit(main())
