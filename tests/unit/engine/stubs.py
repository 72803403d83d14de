"""Hand-written stand-ins for the engine's ports, and builders, shared by the engine tests.

- ``StubStore``: an ``OrderStore`` whose ``seal`` returns the change set and whose
  ``commit`` records it, can be held (a commit waits until released) and can fail.
- ``ScriptedVenues``: a ``VenuePort`` with books that never move, whose venues can be
  taken out of routing; it records what the engine sends.
- ``ManualClock``: the engine's clock, moved by the test.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from oms_server.domain.access import Principal, Role
from oms_server.domain.accounts import Account
from oms_server.domain.child import ChildOrder, ChildState, VenueExecType, VenueReport
from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import OrderState, OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.reports import ExecutionReport
from oms_server.domain.session import TradingSession
from oms_server.engine.commands import OrderCommands
from oms_server.engine.hub import ReportHub
from oms_server.engine.ports import ChangeSet, Halt, SealedChanges
from oms_server.engine.recorder import Batch
from router.book import Level, VenueBook, VenueInfo

AAPL = Instrument(
    "AAPL", tick_size=Decimal("0.01"), lot_size=Decimal(1), reference_price=Decimal(100)
)
INSTRUMENTS = {"AAPL": AAPL}
VENUES = ("V1", "V2")
FEE_BPS = Decimal(2)
#: Where the clock starts: one second after the epoch, in ns.
START_NS = 1_000_000_000
NS_PER_S = 1_000_000_000
#: Cash every funded account starts with.
FUNDS = Decimal(1_000_000)
#: Below the best ask (100.01) and above the best bid (99.99): a buy here rests.
RESTING_BUY_PRICE = Decimal("100.00")


class ManualClock:
    """The engine's clock in ns; it moves only when the test says so."""

    def __init__(self, now_ns: int = START_NS) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: Decimal | int) -> None:
        self.now_ns += int(Decimal(seconds) * NS_PER_S)


class StubStore:
    """An order store in memory: commits are recorded, held on demand, failed on demand."""

    def __init__(self) -> None:
        #: Every change set committed, in commit order.
        self.committed: list[ChangeSet] = []
        #: Commit attempts, failed ones included.
        self.attempts = 0
        #: Raised by the next commit attempts, first one first.
        self.failures: list[BaseException] = []
        #: Commits waiting for ``release`` right now.
        self.waiting = 0
        self._open = asyncio.Event()
        self._open.set()

    def hold(self) -> None:
        """Make commits wait until ``release``."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def seal(self, changes: ChangeSet) -> SealedChanges:
        return changes

    async def commit(self, sealed: SealedChanges) -> None:
        assert isinstance(sealed, ChangeSet)
        self.attempts += 1
        self.waiting += 1
        try:
            await self._open.wait()
        finally:
            self.waiting -= 1
        if self.failures:
            raise self.failures.pop(0)
        self.committed.append(sealed)

    def committed_order_ids(self) -> list[list[str]]:
        """The ids of the orders each committed batch wrote."""
        return [list(changes.orders) for changes in self.committed]

    # -- what OrderStore reads at start-up: an empty journal --------------------------------

    async def load_working_orders(self) -> list[Order]:
        return []

    async def list_members(self, list_ids: Sequence[str]) -> list[Order]:
        return []

    async def client_order_ids(self) -> AsyncIterator[list[tuple[str, str, str]]]:
        nothing: list[list[tuple[str, str, str]]] = []
        for chunk in nothing:
            yield chunk

    async def order_id_for_client_id(self, account_id: str, client_order_id: str) -> str | None:
        return None

    async def load_last_sequences(self) -> dict[str, int]:
        return {}

    async def load_halts(self) -> list[Halt]:
        return []

    async def load_accounts(self) -> list[Account]:
        return []

    async def load_open_children(self) -> list[ChildOrder]:
        return []

    async def child_counts(self, parent_ids: Sequence[str]) -> dict[str, int]:
        return {}

    async def get_order(self, order_id: str) -> Order | None:
        return None


class ScriptedVenues:
    """Books that never move (ask 100.01, bid 99.99 at every venue); records what is sent."""

    def __init__(self, venues: Sequence[str] = VENUES) -> None:
        self.names = tuple(venues)
        #: Venues taken out of routing (as an open circuit breaker would).
        self.down: set[str] = set()
        self.sent: list[ChildOrder] = []
        self.cancels: list[str] = []

    #: The books move nothing, but they are market data: mids are the reference.
    publishes_books = True

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        asks = (Level(Decimal("100.01"), Decimal(300)), Level(Decimal("100.02"), Decimal(500)))
        bids = (Level(Decimal("99.99"), Decimal(300)), Level(Decimal("99.98"), Decimal(500)))
        return {v: VenueBook(v, symbol, bids, asks) for v in self.names}

    def venue_infos(self) -> Mapping[str, VenueInfo]:
        return {v: VenueInfo(v, FEE_BPS, Decimal(1), 0.1, v not in self.down) for v in self.names}

    def send_new(self, child: ChildOrder) -> None:
        self.sent.append(child)

    def send_cancel(self, child: ChildOrder) -> None:
        self.cancels.append(child.child_order_id)

    def sent_ids(self) -> list[str]:
        return [child.child_order_id for child in self.sent]


def trader(*accounts: str) -> Principal:
    return Principal(
        subject=f"trader-{'-'.join(accounts)}", role=Role.TRADER, accounts=frozenset(accounts)
    )


ADMIN = Principal(subject="ops", role=Role.ADMIN)


def request(
    client_order_id: str,
    *,
    account_id: str = "A",
    side: Side = Side.BUY,
    quantity: Decimal | int = 100,
    limit_price: Decimal | None = RESTING_BUY_PRICE,
    time_in_force: TimeInForce = TimeInForce.DAY,
    order_type: OrderType = OrderType.LIMIT,
    stop_price: Decimal | None = None,
    expire_ns: int | None = None,
) -> OrderRequest:
    """A limit order request (a DAY buy of 100 AAPL at 100.00 unless told otherwise)."""
    return OrderRequest(
        account_id=account_id,
        client_order_id=client_order_id,
        symbol="AAPL",
        side=side,
        order_type=order_type,
        time_in_force=time_in_force,
        quantity=Decimal(quantity),
        limit_price=limit_price,
        stop_price=stop_price,
        routing_strategy=RoutingStrategy.BEST_PRICE,
        venue="",
        expire_ns=expire_ns,
    )


def order(order_id: str, *, account_id: str = "A", **changes: Any) -> Order:
    """An order value as the store would hold it (NEW unless told otherwise)."""
    fields: dict[str, Any] = {
        "order_id": order_id,
        "account_id": account_id,
        "client_order_id": f"c-{order_id}",
        "symbol": "AAPL",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "time_in_force": TimeInForce.DAY,
        "quantity": Decimal(100),
        "limit_price": RESTING_BUY_PRICE,
        "stop_price": None,
        "routing_strategy": RoutingStrategy.BEST_PRICE,
        "venue": "",
        "state": OrderState.NEW,
    }
    fields.update(changes)
    return Order(**fields)


def child(child_order_id: str, *, parent_order_id: str = "o1", **changes: Any) -> ChildOrder:
    """A resting child buy of 100 AAPL at V1 (PENDING_NEW unless told otherwise)."""
    fields: dict[str, Any] = {
        "child_order_id": child_order_id,
        "parent_order_id": parent_order_id,
        "account_id": "A",
        "venue": "V1",
        "symbol": "AAPL",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "time_in_force": TimeInForce.DAY,
        "quantity": Decimal(100),
        "limit_price": RESTING_BUY_PRICE,
    }
    fields.update(changes)
    return ChildOrder(**fields)


def commands(
    venues: ScriptedVenues | None = None,
    clock: ManualClock | None = None,
    accounts: Sequence[str] = ("A", "B"),
    session: TradingSession | None = None,
) -> OrderCommands:
    """Command handlers with funded accounts (each holding 10,000 AAPL), that batch committed."""
    engine = OrderCommands(
        INSTRUMENTS, ReportHub(), venues=venues, clock=clock or ManualClock(), session=session
    )
    for account_id in accounts:
        engine.create_account(account_id)
        engine.deposit(account_id, FUNDS)
        engine.accounts.get(account_id).position("AAPL").quantity = Decimal(10_000)
    settle(engine)
    return engine


def settle(engine: OrderCommands) -> Batch:
    """What the writer does after a batch: seal it and, once committed, finish it."""
    batch = engine.seal()
    engine.committed(batch)
    return batch


def events(batch: Batch) -> list[tuple[str, int, str]]:
    """(order id, sequence, exec type) of every report of a batch, in order."""
    return [(r.order_id, r.sequence, r.exec_type.value) for r in batch.changes.events]


_exec_ids = itertools.count(1)


def venue_report(
    child: ChildOrder,
    exec_type: VenueExecType,
    status: ChildState,
    *,
    qty: Decimal | int = 0,
    cum: Decimal | int | None = None,
    price: Decimal = RESTING_BUY_PRICE,
    exec_id: str | None = None,
) -> VenueReport:
    """What ``child``'s venue says of it; a fill of ``qty`` when ``qty`` is positive."""
    cum_qty = child.cum_qty + Decimal(qty) if cum is None else Decimal(cum)
    return VenueReport(
        venue=child.venue,
        exec_id=exec_id or f"x{next(_exec_ids)}",
        child_order_id=child.child_order_id,
        exec_type=exec_type,
        status=status,
        last_qty=Decimal(qty),
        last_price=price if qty else ZERO,
        cum_qty=cum_qty,
        leaves_qty=child.quantity - cum_qty,
    )


def reports_of(batch: Batch, order_id: str) -> list[ExecutionReport]:
    return [r for r in batch.changes.events if r.order_id == order_id]
