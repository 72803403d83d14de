"""Group commits on SQLite: the stdlib writer and the SQLAlchemy path store the same rows.

Every test runs on both write paths over a SQLite file: ``sqlite3`` (what Store.open
uses for a file) and ``sqlalchemy`` (what PostgreSQL and in-memory SQLite use).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oms_server.domain.child import ChildOrder, ChildState
from oms_server.domain.enums import OrderState, OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.order import Order
from oms_server.store.database import create_engine, create_schema
from oms_server.store.journal import JournalBatch
from oms_server.store.repository import Store
from oms_server.store.rows import child_to_row, order_to_row
from oms_server.store.sqlite_writer import THREAD_NAME


async def open_store(path: str, url: str) -> Store:
    if path == "sqlite3":
        return await Store.open(url)
    engine = create_engine(url)
    await create_schema(engine)
    return Store(engine)


@pytest.fixture(params=["sqlite3", "sqlalchemy"])
def write_path(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'oms.db'}"


@pytest.fixture
async def store(write_path: str, url: str) -> AsyncIterator[Store]:
    opened = await open_store(write_path, url)
    try:
        yield opened
    finally:
        await opened.close()


def order(order_id: str, **changes: Any) -> Order:
    fields: dict[str, Any] = {
        "order_id": order_id,
        "account_id": "ACC1",
        "client_order_id": f"c-{order_id}",
        "symbol": "AAPL",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "time_in_force": TimeInForce.DAY,
        "quantity": Decimal("100"),
        "limit_price": Decimal("190.01"),
        "stop_price": None,
        "routing_strategy": RoutingStrategy.BEST_PRICE,
        "venue": "",
        "created_ns": 1,
        "updated_ns": 1,
    }
    fields.update(changes)
    return Order(**fields)


def halt(scope: str, reason: str) -> dict[str, Any]:
    return {"scope": scope, "reason": reason, "halted_by": "ops", "halted_ns": 1}


def execution(exec_id: str, last_qty: str) -> dict[str, Any]:
    return {
        "venue": "XNAS",
        "exec_id": exec_id,
        "child_order_id": "o1-1",
        "parent_order_id": "o1",
        "exec_type": "TRADE",
        "last_qty": Decimal(last_qty),
        "last_price": Decimal("190"),
        "fee": Decimal("0.01"),
        "liquidity": "TAKER",
        "transact_ns": 1,
    }


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


async def commit(store: Store, **writes: Any) -> None:
    """Commit one batch: ``orders=[(order, is_new)]``, ``events``, ``executions``, ``halts``."""
    batch = JournalBatch()
    for o, is_new in writes.get("orders", ()):
        batch.upsert("orders", o.order_id, order_to_row(o), is_new=is_new)
    for row in writes.get("events", ()):
        batch.append("order_events", row)
    for row in writes.get("executions", ()):
        batch.append("executions", row)
    for scope, reason, is_new in writes.get("halts", ()):
        if reason is None:
            batch.delete("halts", scope)
        else:
            batch.upsert("halts", scope, halt(scope, reason), is_new=is_new)
    await store.commit(batch)


async def halts(store: Store) -> dict[str, str]:
    return {r["scope"]: r["reason"] for r in await store.load_rows("halts")}


async def test_a_batch_inserts_updates_and_deletes(store: Store) -> None:
    await commit(store, orders=[(order("o1"), True)], halts=[("*", "first", True)])
    filled = order("o1", state=OrderState.FILLED, cum_qty=Decimal(100), version=2)
    await commit(
        store,
        orders=[(filled, False), (order("o2"), True)],
        halts=[("*", None, False), ("*", "second", False), ("ACC1", "risk", True)],
    )
    assert (await store.get_order("o1")) == filled
    assert (await store.get_order("o2")) == order("o2")
    assert await halts(store) == {"*": "second", "ACC1": "risk"}
    await commit(store, halts=[("ACC1", None, False)])
    assert await halts(store) == {"*": "second"}


async def test_an_execution_stored_twice_is_kept_once(store: Store) -> None:
    await commit(store, executions=[execution("x1", "10")])
    await commit(store, executions=[execution("x1", "99"), execution("x2", "5")])
    rows = {r["exec_id"]: r["last_qty"] for r in await store.load_rows("executions")}
    assert rows == {"x1": Decimal(10), "x2": Decimal(5)}


@pytest.mark.parametrize(
    "value",
    ["12345678901234.12345678", "0.00000001", "-987654321.123456789012345", "1.500", "2E+3"],
)
async def test_decimals_read_back_exactly(store: Store, value: str) -> None:
    o = order("o1", quantity=Decimal(value), cum_notional=Decimal(value), fees=Decimal(value))
    await commit(store, orders=[(o, True)])
    stored = await store.get_order("o1")
    assert stored is not None
    assert (stored.quantity, stored.cum_notional, stored.fees) == (Decimal(value),) * 3


async def test_a_gtd_orders_expire_time_reads_back_and_other_orders_have_none(
    store: Store,
) -> None:
    gtd = order("o1", time_in_force=TimeInForce.GTD, expire_ns=1_717_444_800_123_456_789)
    await commit(store, orders=[(gtd, True), (order("o2"), True)])
    assert await store.get_order("o1") == gtd
    stored = await store.get_order("o2")
    assert stored is not None and stored.expire_ns is None


async def test_both_write_paths_store_the_same_text(tmp_path: Path) -> None:
    paths = ("sqlite3", "sqlalchemy")
    files = {p: tmp_path / f"{p}.db" for p in paths}
    odd = order("o2", limit_price=Decimal("190.0100"), stop_price=Decimal("1E+2"), text="x")
    for path in paths:
        store = await open_store(path, f"sqlite+aiosqlite:///{files[path]}")
        try:
            await commit(store, orders=[(order("o1"), True), (odd, True)], events=[event(1)])
            await commit(store, orders=[(order("o1", cum_qty=Decimal("0.50")), False)])
        finally:
            await store.close()
    assert raw_rows(files["sqlite3"]) == raw_rows(files["sqlalchemy"])


async def test_a_new_row_may_leave_out_columns_that_have_defaults(store: Store) -> None:
    row = order_to_row(order("o1"))
    for column in ("venue", "text", "sender", "fees", "reroutes"):
        del row[column]
    batch = JournalBatch()
    batch.upsert("orders", "o1", row, is_new=True)
    await store.commit(batch)
    assert (await store.get_order("o1")) == order("o1")


async def test_a_failed_commit_stores_nothing_of_its_batch(store: Store) -> None:
    await commit(store, events=[event(1)], halts=[("*", "kept", True)])
    with pytest.raises(Exception, match="UNIQUE constraint failed"):
        # orders and halts are written before order_events, whose key 1 is taken.
        await commit(
            store,
            orders=[(order("o1"), True)],
            events=[event(2), event(1)],
            executions=[execution("x1", "1")],
            halts=[("*", None, False), ("ACC1", "lost", True)],
        )
    assert await store.get_order("o1") is None
    assert await halts(store) == {"*": "kept"}
    assert (await store.count("order_events"), await store.count("executions")) == (1, 0)
    await commit(store, orders=[(order("o1"), True)], events=[event(2)])
    assert (await store.get_order("o1")) == order("o1")
    assert await store.count("order_events") == 2


async def test_a_read_right_after_a_commit_sees_it(store: Store) -> None:
    for sequence in range(1, 31):
        await commit(store, events=[event(sequence)])
        assert await store.load_last_sequences() == {"ACC1": sequence}


async def test_rows_survive_closing_and_reopening(write_path: str, url: str) -> None:
    store = await open_store(write_path, url)
    await commit(store, orders=[(order("o1"), True)])
    await store.close()
    reopened = await open_store(write_path, url)
    try:
        assert (await reopened.get_order("o1")) == order("o1")
    finally:
        await reopened.close()


async def test_closing_the_store_ends_the_writer_thread(url: str) -> None:
    before = writer_threads()
    store = await Store.open(url)
    assert writer_threads() == before + 1
    await store.close()
    assert writer_threads() == before


async def test_an_in_memory_database_keeps_working() -> None:
    store = await Store.open("sqlite+aiosqlite://")
    try:
        await commit(store, orders=[(order("o1"), True)])
        assert (await store.get_order("o1")) == order("o1")
    finally:
        await store.close()


def writer_threads() -> int:
    return sum(t.name == THREAD_NAME for t in threading.enumerate())


def raw_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored value as SQLite holds it (text, integer, NULL)."""
    connection = sqlite3.connect(path)
    try:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("orders", "order_events")
        }
    finally:
        connection.close()


def child(child_id: str, **changes: Any) -> ChildOrder:
    fields: dict[str, Any] = {
        "child_order_id": child_id,
        "parent_order_id": "P1",
        "account_id": "ACC1",
        "venue": "ALPHA",
        "symbol": "AAPL",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "time_in_force": TimeInForce.IOC,
        "quantity": Decimal("100"),
        "limit_price": Decimal("190.01"),
    }
    fields.update(changes)
    return ChildOrder(**fields)


async def test_children_still_owed_fills_are_reloaded_and_finished_ones_are_not(
    store: Store,
) -> None:
    done = Decimal("50")
    children = [
        child("working", state=ChildState.NEW),
        # The venue canceled the rest after filling 50; that fill is not applied yet.
        child("owed", state=ChildState.CANCELED, venue_done=True, venue_cum_qty=done),
        child("finished", state=ChildState.CANCELED, venue_done=True, venue_cum_qty=done,
              cum_qty=done),
    ]  # fmt: skip
    batch = JournalBatch()
    batch.upsert("orders", "P1", order_to_row(order("P1")), is_new=True)
    for c in children:
        batch.upsert("child_orders", c.child_order_id, child_to_row(c), is_new=True)
    await store.commit(batch)
    loaded = {c.child_order_id: c for c in await store.load_open_children()}
    assert set(loaded) == {"working", "owed"}
    assert not loaded["owed"].is_done and loaded["owed"].venue_cum_qty == done


async def test_idempotency_keys_are_read_back_in_chunks_oldest_first(store: Store) -> None:
    batch = JournalBatch()
    ids = [f"{1_000 + i:016x}abcd000001" for i in range(10)]
    for order_id in reversed(ids):  # stored newest first: the read must still sort
        batch.upsert("orders", order_id, order_to_row(order(order_id)), is_new=True)
    await store.commit(batch)
    chunks = [chunk async for chunk in store.client_order_ids(chunk=3)]
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    keys = [key for chunk in chunks for key in chunk]
    assert keys == [("ACC1", f"c-{i}", i) for i in ids]
