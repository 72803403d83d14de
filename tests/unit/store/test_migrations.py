"""The migrations make schema.py's schema, from nothing and from every older store.

The guard: a store upgraded to the newest revision, on SQLite and PostgreSQL, must match
``schema.metadata`` as Alembic's autogenerate compares them (tables, columns, types,
nullability, indexes, unique constraints). A column added to schema.py without a
revision fails here; README "Development" tells how to add one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from oms_server.store import schema
from oms_server.store.database import create_engine
from oms_server.store.lease import open_lease
from oms_server.store.migrations import (
    BASELINE_REVISION,
    VERSION_TABLE,
    alembic_config,
    head_revision,
    store_revision,
    upgrade_store,
)
from tests.support.fresh_databases import fresh_db_url
from tests.support.wave1_store import WAVE1, make_wave1_store

pytestmark = pytest.mark.timeout(60)
__all__ = ["fresh_db_url"]  # the fixture, imported for pytest


@pytest.fixture
async def engine(fresh_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(fresh_db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_a_new_store_has_the_schema_of_schema_py(engine: AsyncEngine) -> None:
    done = await upgrade_store(engine)

    assert (done.before, done.after, done.stamped) == (None, head_revision(), False)
    diffs = await differences(engine, schema.metadata)
    assert diffs == [], (
        f"schema.py differs from the migrated store: {diffs}. Add a revision for the change "
        "(scripts/new_migration.py; README, Development)"
    )


async def test_the_baseline_is_the_wave1_schema(engine: AsyncEngine) -> None:
    await upgrade_store(engine, BASELINE_REVISION)

    assert await differences(engine, WAVE1) == []


async def test_a_wave1_store_is_stamped_and_upgraded_to_the_schema_of_schema_py(
    engine: AsyncEngine,
) -> None:
    await make_wave1_store(engine, {})

    done = await upgrade_store(engine)

    assert (done.before, done.after, done.stamped) == (BASELINE_REVISION, head_revision(), True)
    assert await differences(engine, schema.metadata) == []


async def test_an_upgraded_wave1_store_and_a_new_store_are_alike_to_the_letter(
    tmp_path: Path,
) -> None:
    """SQLite keeps each table's DDL as text: both ways to head leave the same text."""
    old = create_engine(sqlite_url(tmp_path, "old"))
    new = create_engine(sqlite_url(tmp_path, "new"))
    try:
        await make_wave1_store(old, {})
        await upgrade_store(old)
        await upgrade_store(new)
    finally:
        await old.dispose()
        await new.dispose()

    assert sqlite_ddl(tmp_path / "old.db") == sqlite_ddl(tmp_path / "new.db")


async def test_at_head_an_upgrade_changes_nothing(engine: AsyncEngine) -> None:
    await upgrade_store(engine)

    done = await upgrade_store(engine)

    assert (done.before, done.after, done.changed) == (head_revision(), head_revision(), False)


async def test_every_revision_downgrades_and_upgrades_again(engine: AsyncEngine) -> None:
    await upgrade_store(engine)

    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "base"))
        left = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    await upgrade_store(engine)

    assert left == [VERSION_TABLE]
    assert await store_revision(engine) == head_revision()
    assert await differences(engine, schema.metadata) == []


async def test_a_store_made_by_create_all_before_migrations_is_adopted(
    engine: AsyncEngine,
) -> None:
    """A development store made after wave 1 may already hold what 0002-0005 add."""
    async with engine.begin() as conn:
        await conn.run_sync(schema.metadata.create_all)

    done = await upgrade_store(engine)

    assert (done.stamped, done.after) == (True, head_revision())
    assert await differences(engine, schema.metadata) == []


async def test_the_lease_table_that_taking_the_lease_made_is_kept(fresh_db_url: str) -> None:
    """The OMS takes the lease (which makes store_lease) before it migrates."""
    lease = open_lease(fresh_db_url)
    await lease.acquire(timeout_s=0)
    taken = lease.token
    engine = create_engine(fresh_db_url)
    try:
        await upgrade_store(engine)
        diffs = await differences(engine, schema.metadata)
        async with engine.connect() as conn:
            token = (await conn.execute(text("SELECT token FROM store_lease"))).scalar_one()
    finally:
        await engine.dispose()
        await lease.release()

    assert diffs == []
    assert token == taken == 1


async def test_a_failed_upgrade_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    """Every step runs in one transaction: a step that fails undoes the steps before it."""
    url = sqlite_url(tmp_path, "oms")
    engine = create_engine(url)
    try:
        await make_wave1_store(engine, {})
        async with engine.begin() as conn:  # 0005 cannot add a column to a view
            await conn.execute(text("ALTER TABLE positions RENAME TO positions_table"))
            await conn.execute(text("CREATE VIEW positions AS SELECT * FROM positions_table"))
        before = sqlite_ddl(tmp_path / "oms.db")

        with pytest.raises(Exception, match="view"):
            await upgrade_store(engine)
    finally:
        await engine.dispose()

    assert sqlite_ddl(tmp_path / "oms.db") == before


# -- helpers --------------------------------------------------------------------------


async def differences(engine: AsyncEngine, metadata: MetaData) -> list[Any]:
    """What autogenerate would change to make the store ``metadata`` (nothing: [])."""

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        return await conn.run_sync(compare)


def sqlite_url(tmp_path: Path, name: str) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"


def sqlite_ddl(path: Path) -> dict[str, str]:
    """Every table, index and view of a SQLite file with the DDL SQLite keeps for it."""
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    finally:
        connection.close()
    return {f"{kind} {name}": sql or "" for kind, name, sql in rows}
