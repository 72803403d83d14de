"""Each shard's store, derived from OMS_DB_URL."""

from __future__ import annotations

import pytest

from oms_server.shards.layout import ShardLayoutError, shard_db_url


def test_a_sqlite_file_gets_a_directory_per_shard() -> None:
    assert shard_db_url("sqlite+aiosqlite:////srv/oms/oms.db", 2) == (
        "sqlite+aiosqlite:////srv/oms/shard-2/oms.db"
    )


def test_postgresql_gets_a_database_per_shard() -> None:
    assert shard_db_url("postgresql+asyncpg://oms:pw@db/oms", 1) == (
        "postgresql+asyncpg://oms:pw@db/oms_shard_1"
    )


def test_in_memory_sqlite_cannot_be_sharded() -> None:
    with pytest.raises(ShardLayoutError):
        shard_db_url("sqlite+aiosqlite:///:memory:", 1)
