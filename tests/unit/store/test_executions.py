"""The fills list from the store: venue fills joined with the TRADE events they made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from oms_server.domain.child import ChildState, Liquidity, VenueExecType, VenueReport
from oms_server.domain.enums import ExecType, OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.executions import Execution
from oms_server.domain.order import Order
from oms_server.engine.ports import AppliedReport, ChangeSet
from oms_server.store.database import create_engine, create_schema
from oms_server.store.repository import Store


@pytest.fixture(params=["sqlite3", "sqlalchemy"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store over a SQLite file, written by the stdlib writer or by SQLAlchemy."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'oms.db'}"
    if request.param == "sqlite3":
        opened = await Store.open(url)
    else:
        engine = create_engine(url)
        await create_schema(engine)
        opened = Store(engine)
    try:
        yield opened
    finally:
        await opened.close()


def order(order_id: str, account_id: str = "ACC1", symbol: str = "AAPL") -> Order:
    return Order(
        order_id=order_id,
        account_id=account_id,
        client_order_id=f"c-{order_id}",
        symbol=symbol,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        quantity=Decimal(100),
        limit_price=Decimal("190.05"),
        stop_price=None,
        routing_strategy=RoutingStrategy.BEST_PRICE,
        venue="",
    )


class Journal:
    """Writes what the engine would: per fill, the venue report and the parent's TRADE event."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sequences: dict[str, int] = {}

    async def fill(
        self, parent: Order, venue: str, venue_exec_id: str, qty: int, liquidity: Liquidity
    ) -> str:
        sequence = self.sequences.get(parent.account_id, 0) + 1
        self.sequences[parent.account_id] = sequence
        parent.version += 1
        event = parent.report(
            sequence, ExecType.TRADE, 10 * sequence, last_qty=Decimal(qty), last_venue=venue
        )
        report = VenueReport(
            venue=venue,
            exec_id=venue_exec_id,
            child_order_id=f"{parent.order_id}.1",
            exec_type=VenueExecType.TRADE,
            status=ChildState.PARTIALLY_FILLED,
            last_qty=Decimal(qty),
            last_price=Decimal("190.01"),
            fee=Decimal("-0.02") if liquidity is Liquidity.MAKER else Decimal("0.057"),
            liquidity=liquidity,
            transact_ns=5 * sequence,
        )
        ack = VenueReport(venue, f"{venue_exec_id}-ack", report.child_order_id,
                          VenueExecType.NEW, ChildState.NEW)  # fmt: skip
        changes = ChangeSet(
            events=[event],
            executions=[
                AppliedReport(ack, parent.order_id),
                AppliedReport(report, parent.order_id, event.exec_id),
            ],
        )
        await self.store.commit(self.store.seal(changes))
        return event.exec_id


async def test_fills_come_newest_first_with_the_venue_report_and_the_order(store: Store) -> None:
    journal = Journal(store)
    a, b = order("o1"), order("o2", symbol="MSFT")
    first = await journal.fill(a, "ALPHA", "A-1", 30, Liquidity.TAKER)
    second = await journal.fill(b, "BRAVO", "B-1", 20, Liquidity.MAKER)
    fills = await store.list_executions("ACC1", limit=10)
    assert [f.exec_id for f in fills] == [second, first]
    assert fills[1] == Execution(
        exec_id=first,
        sequence=1,
        account_id="ACC1",
        order_id="o1",
        client_order_id="c-o1",
        symbol="AAPL",
        side=Side.BUY,
        venue="ALPHA",
        venue_exec_id="A-1",
        last_qty=Decimal(30),
        last_price=Decimal("190.01"),
        fee=Decimal("0.057"),
        liquidity=Liquidity.TAKER,
        transact_ns=5,
    )
    assert (fills[0].liquidity, fills[0].fee) == (Liquidity.MAKER, Decimal("-0.02"))


async def test_fills_filter_by_order_and_symbol_and_page_by_sequence(store: Store) -> None:
    journal = Journal(store)
    a, b = order("o1"), order("o2", symbol="MSFT")
    ids = [
        await journal.fill(parent, "ALPHA", f"X-{i}", 1, Liquidity.TAKER)
        for i, parent in enumerate([a, b, a, b, a])
    ]
    of_a = await store.list_executions("ACC1", order_id="o1", limit=10)
    assert [f.exec_id for f in of_a] == [ids[4], ids[2], ids[0]]
    msft = await store.list_executions("ACC1", symbol="MSFT", limit=10)
    assert [f.exec_id for f in msft] == [ids[3], ids[1]]
    page = await store.list_executions("ACC1", limit=2)
    rest = await store.list_executions("ACC1", limit=10, before=page[-1].sequence)
    assert [f.exec_id for f in page + rest] == ids[::-1]


async def test_an_account_sees_only_its_fills(store: Store) -> None:
    journal = Journal(store)
    await journal.fill(order("o1"), "ALPHA", "X-1", 1, Liquidity.TAKER)
    mine = await journal.fill(order("o2", account_id="ACC2"), "ALPHA", "X-2", 1, Liquidity.TAKER)
    assert [f.exec_id for f in await store.list_executions("ACC2", limit=10)] == [mine]
    assert await store.list_executions("ACC3", limit=10) == []
