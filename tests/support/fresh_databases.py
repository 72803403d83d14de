"""A database of its own for each migration test: a SQLite file, or a new PostgreSQL
database on the test server (OMS_TEST_PG_URL), dropped afterwards.

The shared ``test`` database is emptied by other engineers' runs at any moment; a
migration test makes and compares whole schemas, so it works in a database no one else
knows the name of.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests.support.fixtures import PG_URL, REQUIRE_POSTGRES

#: Names of the databases these tests make start with this (easy to find if one is left).
DATABASE_PREFIX = "oms_migration_test_"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a new, empty database: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'oms.db'}"
        return
    name = DATABASE_PREFIX + uuid.uuid4().hex[:12]
    server = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        await _execute(server, f'CREATE DATABASE "{name}"')
    except (OSError, Exception) as exc:  # asyncpg raises many kinds on connect
        await server.dispose()
        message = f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}: {exc}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.dispose()


async def _execute(engine: AsyncEngine, sql: str) -> None:
    async with engine.connect() as conn:
        await conn.execute(text(sql))
