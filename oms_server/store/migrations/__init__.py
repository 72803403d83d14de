"""Schema migrations: the Alembic revisions in ``versions/`` make and change every store.

``upgrade_store`` brings a store to the newest revision (``head``) on the store's own
engine, in one transaction, before the writer starts. OmsApp runs it (through
Store.open) while it holds the store's lease, so no other process migrates or writes
meanwhile. A store made before migrations existed (wave 1, commit 0f5cb75: its tables
and no ``alembic_version`` table) is stamped at BASELINE_REVISION first, then upgraded
like any other. README "Development" tells how to add a revision;
tests/unit/store/test_migrations.py fails when schema.py and the revisions disagree.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)
# Alembic says at INFO which dialect it found, every time a store opens; env.py logs each
# step the OMS takes instead. A level configured for "alembic" is left as it is.
if logging.getLogger("alembic").level == logging.NOTSET:
    logging.getLogger("alembic").setLevel(logging.WARNING)

#: This package: env.py, script.py.mako and versions/.
MIGRATIONS_DIR = Path(__file__).resolve().parent
#: The table where Alembic keeps a store's revision.
VERSION_TABLE = "alembic_version"
#: The revision of the wave-1 schema: where a store made before migrations stands.
BASELINE_REVISION = "0001"
#: A table every store made before migrations has (store_lease alone does not count:
#: taking the lease makes it, on a new store too).
BASELINE_TABLE = "orders"
#: Where ``new revision`` files go, named ``<rev>_<slug>.py`` (scripts/new_migration.py).
FILE_TEMPLATE = "%%(rev)s_%%(slug)s"
#: Config.attributes key of the connection env.py runs the revisions on.
CONNECTION_ATTRIBUTE = "connection"


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What ``upgrade_store`` did: the revision before (None: a new store) and after."""

    before: str | None
    after: str | None
    stamped: bool
    elapsed_s: float

    @property
    def changed(self) -> bool:
        return self.stamped or self.before != self.after


def alembic_config(
    connection: Connection | None = None, script_location: Path = MIGRATIONS_DIR
) -> Config:
    """The Alembic configuration of the OMS's revisions (no alembic.ini needed); env.py
    runs them on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.attributes[CONNECTION_ATTRIBUTE] = connection
    return config


@functools.cache
def scripts() -> ScriptDirectory:
    """The revisions, read once per process."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision: the schema of schema.py."""
    head = scripts().get_current_head()
    assert head is not None, "no revisions in versions/"
    return head


async def upgrade_store(engine: AsyncEngine, revision: str = "head") -> Upgrade:
    """Bring the store to ``revision`` in one transaction (stamping a pre-migration store
    at the baseline first); on SQLite the transaction holds the write lock throughout."""
    started = time.perf_counter()
    async with engine.connect() as conn:
        await _begin(conn)
        before, stamped = await conn.run_sync(_stamp_unversioned)
        target = head_revision() if revision == "head" else revision
        if before != target or stamped:
            await conn.run_sync(_run_upgrade, revision)
        after = await conn.run_sync(current_revision)
        await conn.commit()
    done = Upgrade(before, after, stamped, time.perf_counter() - started)
    if done.changed:
        origin = "a new store" if before is None else "wave 1" if stamped else before
        log.info("store schema: %s -> %s in %.3f s", origin, after, done.elapsed_s)
    return done


async def store_revision(engine: AsyncEngine) -> str | None:
    """The revision a store stands at (None: not versioned)."""
    async with engine.connect() as conn:
        return await conn.run_sync(current_revision)


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in ``connection``'s store (None: not versioned)."""
    return MigrationContext.configure(connection).get_current_revision()


async def _begin(conn: AsyncConnection) -> None:
    """Begin the migration's transaction. SQLite's driver starts one only before DML, so
    DDL would commit statement by statement: BEGIN IMMEDIATE makes the whole upgrade one
    transaction (and takes the write lock now rather than halfway through)."""
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        await conn.begin()


def _stamp_unversioned(connection: Connection) -> tuple[str | None, bool]:
    """The store's revision, after stamping a pre-migration store at the baseline; and
    whether it was stamped."""
    revision = current_revision(connection)
    if revision is not None or not inspect(connection).has_table(BASELINE_TABLE):
        return revision, False
    MigrationContext.configure(connection).stamp(scripts(), BASELINE_REVISION)
    return BASELINE_REVISION, True


def _run_upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)
