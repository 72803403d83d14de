"""Opening the database: engine, dialect-specific settings and schema creation."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from oms_server.store.migrations import VERSION_TABLE, upgrade_store
from oms_server.store.schema import metadata

log = logging.getLogger(__name__)

#: How long SQLite waits for a lock held by another connection.
SQLITE_BUSY_TIMEOUT_MS = 10_000


class DatabaseConfigError(ValueError):
    """The database URL cannot be used."""

    def __str__(self) -> str:
        return f"database: {self.args[0]}"


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL and durable (FULL) commits."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, parsed.database)
    return create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)


def parse_url(url: str) -> URL:
    """``url`` parsed; DatabaseConfigError unless it is a SQLite or PostgreSQL URL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseConfigError(f"cannot parse OMS_DB_URL {url!r}: {exc}") from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseConfigError(
            f"unsupported database {parsed.get_backend_name()!r}; use sqlite+aiosqlite or "
            "postgresql+asyncpg"
        )
    return parsed


def sqlite_file_path(url: str) -> str | None:
    """The file of a plain SQLite file URL; None for other backends, in-memory or URI options."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.query:
        return None
    if parsed.database in (None, "", ":memory:"):
        return None
    return os.path.abspath(parsed.database)


def connect_sqlite(path: str) -> sqlite3.Connection:
    """A stdlib connection with the engine's pragmas; it never begins transactions itself."""
    connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    _apply_pragmas(connection)
    return connection


async def create_schema(engine: AsyncEngine) -> None:
    """Make or upgrade the store's schema: the migrations, to their newest revision."""
    await upgrade_store(engine)


async def drop_schema(engine: AsyncEngine) -> None:
    """Drop every table, the migrations' version table too (tests only)."""
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))


def _create_sqlite_engine(url: str, database: str | None) -> AsyncEngine:
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    _apply_pragmas(dbapi_connection)


def _apply_pragmas(dbapi_connection: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
