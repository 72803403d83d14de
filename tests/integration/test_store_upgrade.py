"""A store the wave-1 OMS wrote, opened by today's OMS: migrated under the lease, nothing lost.

The store is tests/data/wave1_store.json (a real wave-1 stack's rows) in the wave-1
tables, on SQLite and PostgreSQL. Today's OmsApp takes the lease, migrates and starts;
every row then reads back through today's Store as it was written, the engine holds the
same working orders, sequences, cash, positions and halts, and goes on from them.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import text

from oms_server.app import OmsApp
from oms_server.config import Settings
from oms_server.domain.access import Role
from oms_server.domain.decimals import fmt
from oms_server.store.changes import account_to_row, halt_to_row, position_to_row
from oms_server.store.database import create_engine
from oms_server.store.migrations import head_revision, store_revision, upgrade_store
from oms_server.store.repository import Store
from oms_server.store.rows import child_to_row, order_to_row, report_to_row
from protos.oms.v1 import common_pb2, order_service_pb2_grpc
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import INSTRUMENTS, TEST_SECRET, call_metadata
from tests.support.fresh_databases import fresh_db_url
from tests.support.orders import error_reason, limit_buy
from tests.support.wave1_store import WAVE1_ROWS, make_wave1_store

pytestmark = pytest.mark.timeout(120)
__all__ = ["fresh_db_url"]  # the fixture, imported for pytest

log = logging.getLogger(__name__)

TERMINAL = {"FILLED", "CANCELED", "REPLACED", "REJECTED", "EXPIRED"}
ADMIN = call_metadata(Role.ADMIN, ())
PAIRED_FILLS = text("SELECT count(*) FROM executions WHERE fill_exec_id <> ''")
#: Copies of the wave-1 rows in the store whose upgrade is timed.
VOLUME_COPIES = 250
#: Sequence numbers of one copy's events start this far after the previous copy's.
VOLUME_SEQUENCE_STRIDE = 1_000


@pytest.fixture
async def upgraded(fresh_db_url: str, tmp_path: Path) -> AsyncIterator[OmsApp]:
    """Today's OMS started on a wave-1 store (it migrates it)."""
    engine = create_engine(fresh_db_url)
    try:
        await make_wave1_store(engine)
    finally:
        await engine.dispose()
    settings = Settings(
        grpc_addr="127.0.0.1:0",
        db_url=fresh_db_url,
        auth_secret=TEST_SECRET,
        state_dir=tmp_path / "state",
    )
    app = OmsApp(settings, INSTRUMENTS, TEST_SECRET)
    await app.start()
    try:
        yield app
    finally:
        await app.stop(grace_s=1.0)


async def test_every_wave1_row_reads_back_through_todays_store(upgraded: OmsApp) -> None:
    store = upgraded.store
    assert store is not None
    assert await store_revision(store.engine) == head_revision()

    for row in WAVE1_ROWS["orders"]:
        order = await store.get_order(row["order_id"])
        assert order is not None
        assert_kept(row, order_to_row(order))
        assert order.expire_ns is None
        events = await store.order_events(row["order_id"])
        assert_all_kept(rows_of("order_events", order_id=row["order_id"]), events, "exec_id",
                        report_to_row)  # fmt: skip
        children = await store.children_of(row["order_id"])
        assert_all_kept(rows_of("child_orders", parent_order_id=row["order_id"]), children,
                        "child_order_id", child_to_row)  # fmt: skip
    for table in WAVE1_ROWS:
        assert await store.count(table) == len(WAVE1_ROWS[table]), table
    stored = {(r["venue"], r["exec_id"]): r for r in await store.load_rows("executions")}
    for row in WAVE1_ROWS["executions"]:
        assert_kept(row, stored[(row["venue"], row["exec_id"])])
    assert [halt_to_row(h) for h in await store.load_halts()] == WAVE1_ROWS["halts"]


async def test_fills_from_before_the_fills_list_are_in_it(upgraded: OmsApp) -> None:
    """Revision 0003 pairs each wave-1 venue fill with the TRADE event it made."""
    store = upgraded.store
    assert store is not None
    trades = {e["exec_id"]: e for e in WAVE1_ROWS["order_events"] if e["exec_type"] == "TRADE"}
    fills = []
    for account in {row["account_id"] for row in WAVE1_ROWS["accounts"]}:
        fills += await store.list_executions(account, limit=1_000)

    assert sorted(f.exec_id for f in fills) == sorted(trades)
    for fill in fills:
        trade = trades[fill.exec_id]
        assert (fill.order_id, fill.venue, fmt(fill.last_qty), fmt(fill.last_price)) == (
            trade["order_id"], trade["last_venue"], trade["last_qty"], trade["last_price"],
        )  # fmt: skip


async def test_the_engine_starts_where_wave1_stopped(upgraded: OmsApp) -> None:
    engine, store = upgraded.engine, upgraded.store
    assert engine is not None and store is not None
    working = {r["order_id"] for r in WAVE1_ROWS["orders"] if r["state"] not in TERMINAL}

    assert {o.order_id for o in engine.working_orders()} == working
    assert await store.load_last_sequences() == last_sequences(WAVE1_ROWS["order_events"])
    for row in WAVE1_ROWS["accounts"]:
        account = engine.account(row["account_id"])
        assert_kept(row, account_to_row(account, row["updated_ns"]), skip={"risk_limits"})
        limits = json.loads(account_to_row(account, 0)["risk_limits"])
        assert {k: limits[k] for k in json.loads(row["risk_limits"])} == json.loads(
            row["risk_limits"]
        )
    for row in WAVE1_ROWS["positions"]:
        position = engine.account(row["account_id"]).positions[row["symbol"]]
        stored = position_to_row(row["account_id"], row["symbol"], position)
        assert_kept(row, stored)
        assert stored["realized_pnl"] == Decimal(0)
    for row in WAVE1_ROWS["halts"]:
        assert engine.halted(row["scope"]) is not None


async def test_the_upgraded_oms_goes_on_from_the_wave1_state(upgraded: OmsApp) -> None:
    last = last_sequences(WAVE1_ROWS["order_events"])
    rest = next(r for r in WAVE1_ROWS["orders"] if r["client_order_id"] == "w1-rest")
    async with grpc.aio.insecure_channel(upgraded.address) as channel:
        orders = order_service_pb2_grpc.OrderServiceStub(channel)
        again = await orders.SubmitOrder(  # the same order again: the same order back
            limit_buy("w1-rest", account_id="DEMO", symbol="MSFT", limit_price="380.00",
                      routing_strategy=common_pb2.ROUTING_STRATEGY_BEST_PRICE),
            metadata=ADMIN,
        )  # fmt: skip
        new = await orders.SubmitOrder(
            limit_buy("after-upgrade", account_id="DEMO", symbol="AAPL", quantity="5"),
            metadata=ADMIN,
        )
        events = await orders.GetOrderEvents(
            pb.GetOrderEventsRequest(order_id=new.order.order_id), metadata=ADMIN
        )
        with pytest.raises(grpc.aio.AioRpcError) as halted:  # W1 stays halted
            await orders.SubmitOrder(limit_buy("w1-after", account_id="W1"), metadata=ADMIN)

    assert again.order.order_id == rest["order_id"]
    assert [e.sequence for e in events.events] == [last["DEMO"] + 1]
    assert halted.value.code() is grpc.StatusCode.FAILED_PRECONDITION, error_reason(halted.value)


async def test_upgrade_figures(
    fresh_db_url: str, record_property: Callable[[str, object], None]
) -> None:
    """The wave-1 rows many times over (each copy its own orders): every row is kept, and
    the time the upgrade takes is recorded (``-o log_cli=true`` shows it)."""
    rows = scaled(WAVE1_ROWS, VOLUME_COPIES)
    engine = create_engine(fresh_db_url)
    try:
        written = await make_wave1_store(engine, rows)
        done = await upgrade_store(engine)
    finally:
        await engine.dispose()
    store = await Store.open(fresh_db_url)
    try:
        counts = {table: await store.count(table) for table in rows}
        async with store.engine.connect() as conn:
            fills = (await conn.execute(PAIRED_FILLS)).scalar_one()
    finally:
        await store.close()

    dialect = fresh_db_url.split(":", 1)[0]
    log.info("upgrade of %d wave-1 rows on %s: %.3f s", written, dialect, done.elapsed_s)
    record_property("rows_migrated", written)
    record_property("upgrade_s", round(done.elapsed_s, 3))
    assert counts == {table: len(table_rows) for table, table_rows in rows.items()}
    trades = sum(e["exec_type"] == "TRADE" for e in rows["order_events"])
    assert fills == trades


# -- helpers --------------------------------------------------------------------------


def assert_kept(
    wave1: Mapping[str, Any], today: Mapping[str, Any], skip: Iterable[str] = ()
) -> None:
    """Every wave-1 column of a row holds what wave 1 wrote (decimals as their text)."""
    for column, value in wave1.items():
        if column in skip:
            continue
        stored = today[column]
        text = fmt(stored) if isinstance(stored, Decimal) else stored
        assert text == value, f"{column}: {stored!r} is not wave 1's {value!r}"


def assert_all_kept(
    wave1: list[dict[str, Any]],
    today: list[Any],
    key: str,
    to_row: Callable[[Any], dict[str, Any]],
) -> None:
    """Each of ``today``'s items, encoded by ``to_row``, keeps its wave-1 row (by ``key``)."""
    assert len(today) == len(wave1)
    by_key = {row[key]: row for row in map(to_row, today)}
    for row in wave1:
        assert_kept(row, by_key[row[key]])


def rows_of(table: str, **where: str) -> list[dict[str, Any]]:
    return [r for r in WAVE1_ROWS[table] if all(r[k] == v for k, v in where.items())]


def last_sequences(events: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    last: Counter[str] = Counter()
    for event in events:
        last[event["account_id"]] = max(last[event["account_id"]], event["sequence"])
    return dict(last)


def scaled(rows: dict[str, list[dict[str, Any]]], copies: int) -> dict[str, list[dict[str, Any]]]:
    """``copies`` copies of the journal's orders, events, children and executions, each
    under its own ids; accounts, positions and halts once."""
    ids = {
        "orders": ("order_id", "client_order_id", "replaces_order_id", "replaced_by_order_id"),
        "order_events": ("order_id", "client_order_id", "exec_id"),
        "child_orders": ("child_order_id", "parent_order_id"),
        "executions": ("exec_id", "child_order_id", "parent_order_id"),
    }
    out = {table: list(table_rows) for table, table_rows in rows.items() if table not in ids}
    for table, columns in ids.items():
        out[table] = [_copy(row, columns, k) for k in range(copies) for row in rows[table]]
    return out


def _copy(row: Mapping[str, Any], columns: Iterable[str], k: int) -> dict[str, Any]:
    copy = dict(row)
    for column in columns:
        if copy[column]:
            copy[column] = f"{copy[column]}~{k:04d}"
    if "sequence" in copy:
        copy["sequence"] += k * VOLUME_SEQUENCE_STRIDE
    return copy
