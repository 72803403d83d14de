"""The store lease: one owner per store, and a fencing token that every commit checks.

Each test runs on a SQLite file and on PostgreSQL (``db_url``); two leases in one process
compete as two processes would (an flock is per open file, an advisory lock per session).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from oms_server.store.database import create_engine, create_schema
from oms_server.store.journal import JournalBatch
from oms_server.store.lease import (
    LOCK_FILE_SUFFIX,
    LeaseLostError,
    PostgresLease,
    SqliteLease,
    StoreLease,
    StoreOwnedError,
    open_lease,
)
from oms_server.store.repository import Store

pytestmark = pytest.mark.timeout(30)

THIS_PROCESS = f"pid {os.getpid()} on host {socket.gethostname()}"


@pytest.fixture
async def leases() -> AsyncIterator[list[StoreLease]]:
    """Leases a test made (``lease_on``); every one is released at the end."""
    made: list[StoreLease] = []
    try:
        yield made
    finally:
        for lease in made:
            await lease.release()


def lease_on(url: str, leases: list[StoreLease]) -> StoreLease:
    lease = open_lease(url)
    leases.append(lease)
    return lease


def halt_and_event(scope: str, sequence: int) -> JournalBatch:
    """A batch of two tables: a halt and an order event."""
    batch = JournalBatch()
    batch.upsert(
        "halts",
        scope,
        {"scope": scope, "reason": "test", "halted_by": "ops", "halted_ns": 1},
        is_new=True,
    )
    batch.append("order_events", event(sequence))
    return batch


def event(sequence: int) -> dict[str, Any]:
    return {
        "account_id": "ACC1",
        "sequence": sequence,
        "exec_id": f"e{sequence}",
        "order_id": "o1",
        "client_order_id": "c-o1",
        "symbol": "AAPL",
        "side": "BUY",
        "exec_type": "NEW",
        "order_state": "NEW",
        "last_qty": Decimal(0),
        "last_price": Decimal(0),
        "last_venue": "",
        "cum_qty": Decimal(0),
        "leaves_qty": Decimal(100),
        "avg_price": Decimal(0),
        "text": "",
        "transact_ns": 1,
    }


async def take_over(url: str) -> None:
    """What a standby that takes the store over does to the token (the lock aside)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE store_lease SET token = token + 1"))
    finally:
        await engine.dispose()


async def stored(store: Store) -> tuple[int, int]:
    return await store.count("halts"), await store.count("order_events")


async def test_a_second_lease_is_refused_naming_the_holder(
    db_url: str, leases: list[StoreLease]
) -> None:
    first, second = lease_on(db_url, leases), lease_on(db_url, leases)
    await first.acquire(timeout_s=0)
    assert not await second.try_acquire()
    with pytest.raises(StoreOwnedError) as refused:
        await second.acquire(timeout_s=0.3)
    message = refused.value.message
    assert message.startswith(f"store {first.display_url} is owned by {THIS_PROCESS}")
    assert message.endswith("; stop that OMS first")
    assert " since 20" in message and "Z; stop" in message
    assert refused.value.reason == "STORE_OWNED"
    if isinstance(first, PostgresLease):
        assert "(PostgreSQL backend " in message
    assert second.token is None and first.token == 1


async def test_a_released_lease_is_taken_again_with_the_next_token(
    db_url: str, leases: list[StoreLease]
) -> None:
    first, second = lease_on(db_url, leases), lease_on(db_url, leases)
    await first.acquire(timeout_s=0)
    await first.release()
    await second.acquire(timeout_s=0)
    assert (first.token, second.token) == (None, 2)
    if isinstance(second, SqliteLease):
        assert THIS_PROCESS in second.lock_path.read_text()


async def test_a_waiting_acquire_takes_the_lease_when_its_holder_lets_go(
    db_url: str, leases: list[StoreLease]
) -> None:
    holder, standby = lease_on(db_url, leases), lease_on(db_url, leases)
    await holder.acquire(timeout_s=0)
    waiting = asyncio.create_task(standby.acquire(timeout_s=20))
    done, _ = await asyncio.wait({waiting}, timeout=0.5)  # it polls, in vain, meanwhile
    assert not done
    await holder.release()
    await asyncio.wait_for(waiting, 10)
    assert standby.token == 2


async def test_a_lease_taken_over_cannot_commit_and_stores_nothing(
    db_url: str, leases: list[StoreLease]
) -> None:
    lease = lease_on(db_url, leases)
    await lease.acquire(timeout_s=0)
    store = await Store.open(db_url, lease=lease)
    try:
        await store.commit(halt_and_event("ACC1", 1))
        await take_over(db_url)
        with pytest.raises(LeaseLostError) as lost:
            await store.commit(halt_and_event("ACC2", 2))
        assert "this OMS holds token 1, the store has token 2" in lost.value.message
        assert "nothing of this batch was stored" in lost.value.message
        assert await stored(store) == (1, 1)
    finally:
        await store.close()


async def test_a_lease_taken_over_cannot_commit_through_sqlalchemy(
    sqlite_url: str, leases: list[StoreLease]
) -> None:
    # PostgreSQL commits through SQLAlchemy; on a SQLite file this path is the same code.
    lease = lease_on(sqlite_url, leases)
    await lease.acquire(timeout_s=0)
    engine = create_engine(sqlite_url)
    await create_schema(engine)
    store = Store(engine, lease=lease)
    try:
        await store.commit(halt_and_event("ACC1", 1))
        await take_over(sqlite_url)
        with pytest.raises(LeaseLostError):
            await store.commit(halt_and_event("ACC2", 2))
        assert await stored(store) == (1, 1)
    finally:
        await store.close()


async def test_a_released_lease_cannot_commit(db_url: str, leases: list[StoreLease]) -> None:
    lease = lease_on(db_url, leases)
    await lease.acquire(timeout_s=0)
    store = await Store.open(db_url, lease=lease)
    try:
        await lease.release()
        with pytest.raises(LeaseLostError, match="does not hold the lease"):
            await store.commit(halt_and_event("ACC1", 1))
        assert await stored(store) == (0, 0)
    finally:
        await store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_postgres_owner_whose_session_died_is_deposed_and_cannot_commit(
    db_url: str, leases: list[StoreLease]
) -> None:
    # A SQLite lock dies only with its process: tests/integration/test_store_ownership.py.
    deposed, standby = lease_on(db_url, leases), lease_on(db_url, leases)
    await deposed.acquire(timeout_s=0)
    store = await Store.open(db_url, lease=deposed)
    try:
        await store.commit(halt_and_event("ACC1", 1))
        engine = create_engine(db_url)
        try:
            async with engine.begin() as conn:  # the owner's session dies: its lock goes
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": f"oms {THIS_PROCESS}"},
                )
        finally:
            await engine.dispose()
        await standby.acquire(timeout_s=10)
        assert standby.token == 2
        with pytest.raises(LeaseLostError):
            await store.commit(halt_and_event("ACC2", 2))
        assert await stored(store) == (1, 1)
    finally:
        await store.close()


async def test_a_seized_lease_deposes_its_holder_which_keeps_its_lock_but_cannot_commit(
    db_url: str, leases: list[StoreLease]
) -> None:
    # A standby deposing a stopped (SIGSTOP) owner: the owner still holds the OS lock.
    holder, standby = lease_on(db_url, leases), lease_on(db_url, leases)
    await holder.acquire(timeout_s=0)
    store = await Store.open(db_url, lease=holder)
    try:
        await store.commit(halt_and_event("ACC1", 1))
        assert not await standby.try_acquire()
        await standby.seize()
        assert standby.token == 2
        with pytest.raises(LeaseLostError):
            await store.commit(halt_and_event("ACC2", 2))
        seized = await Store.open(db_url, lease=standby)
        try:
            await seized.commit(halt_and_event("ACC3", 3))
        finally:
            await seized.close()
        assert await stored(store) == (2, 2)
    finally:
        await store.close()


async def test_an_existing_store_without_the_lease_table_gets_it(
    db_url: str, leases: list[StoreLease]
) -> None:
    store = await Store.open(db_url)
    try:
        await store.commit(halt_and_event("ACC1", 1))
        async with store.engine.begin() as conn:
            await conn.execute(text("DROP TABLE store_lease"))
    finally:
        await store.close()
    lease = lease_on(db_url, leases)
    await lease.acquire(timeout_s=0)
    store = await Store.open(db_url, lease=lease)
    try:
        await store.commit(halt_and_event("ACC2", 2))
        assert (lease.token, await stored(store)) == (1, (2, 2))
    finally:
        await store.close()


async def test_an_in_memory_store_needs_no_lease() -> None:
    url = "sqlite+aiosqlite:///:memory:"
    first, second = open_lease(url), open_lease(url)
    await first.acquire(timeout_s=0)
    await second.acquire(timeout_s=0)
    assert first.fence_token() is None and second.fence_token() is None


def test_the_lock_file_sits_beside_the_database_file(sqlite_url: str) -> None:
    lease = open_lease(sqlite_url)
    assert isinstance(lease, SqliteLease)
    database = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    assert str(lease.lock_path) == database + LOCK_FILE_SUFFIX
