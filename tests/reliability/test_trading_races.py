"""Trading races over the real stack (issue 26): real gRPC, an OMS routing over a real
nats-server to the venue simulators.

A replace overtaken by fills at its venue is refused (REPLACE_REJECTED, saying why) and
leaves no link to an order that never existed, its client order id free again; one the
fills did not overtake replaces the original. Under contention among accounts, a DAY or
GTC limit whose takes miss rests its remainder at a venue; only IOC and FOK remainders
end CANCELED. The engine unit tests cover both with scripted venues; these hold the whole
stack to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import grpc
import pytest

from clients.bench.venue_fills import venue_fills
from oms_server.domain.child import ChildState
from protos.oms.v1 import common_pb2, order_pb2
from protos.oms.v1 import order_service_pb2 as pb
from protos.venue.v1 import venue_pb2 as v
from tests.support.fixtures import call_metadata, open_test_accounts
from tests.support.market import THREE_VENUES, Market, RoutedOms, market_running, oms_running
from tests.support.orders import limit_buy
from tests.support.reports import FINAL_STATES, stored_trade_executions
from tests.support.waiting import eventually
from venues.nats_runtime import EmbeddedNats

pytestmark = pytest.mark.timeout(60)

MD = call_metadata()
DIRECT = common_pb2.ROUTING_STRATEGY_DIRECT
VENUES = ("ALPHA", "BRAVO", "CHARLIE")
ZERO = Decimal(0)


class ReportLog:
    """Every execution report of one account, from a StreamExecutionReports kept open."""

    def __init__(self, oms: RoutedOms, account_id: str = "ACC1") -> None:
        self.by_order: dict[str, list[order_pb2.ExecutionReport]] = defaultdict(list)
        request = pb.StreamExecutionReportsRequest(account_id=account_id, max_batch=100)
        self._call = oms.orders.StreamExecutionReports(
            request, metadata=call_metadata(accounts=(account_id,))
        )
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._call:
            for report in message.reports:
                self.by_order[report.order_id].append(report)

    def of(self, order_id: str, exec_type: int) -> list[order_pb2.ExecutionReport]:
        return [r for r in self.by_order.get(order_id, []) if r.exec_type == exec_type]

    async def close(self) -> None:
        self._call.cancel()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await self._task


async def get_order(oms: RoutedOms, order_id: str, metadata: tuple = MD) -> order_pb2.Order:
    reply = await oms.orders.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=metadata)
    return reply.order


async def not_found(oms: RoutedOms, order_id: str) -> bool:
    try:
        await get_order(oms, order_id)
    except grpc.aio.AioRpcError as exc:
        return exc.code() == grpc.StatusCode.NOT_FOUND
    return False


def acknowledged(oms: RoutedOms, count: int) -> bool:
    """``count`` children are open at the venues, each acknowledged there."""
    assert oms.app is not None and oms.app.engine is not None
    children = oms.app.engine.open_children()
    return len(children) == count and all(c.state is ChildState.NEW for c in children)


# -- a replace racing a fill ------------------------------------------------------------

RACED = 60
#: Below every venue's best bid (189.97 and up): the orders rest until the sweep.
RESTING_PRICE = "189.90"
ORIGINAL_QTY = Decimal(10)
#: Each replace cuts 10 to 6: a fill of 6 or more before the venue cancels overtakes it.
REPLACE_QTY = Decimal(6)
#: Sellers each venue gets while the replaces' cancels wait there: 10 orders filled and
#: the 11th by 3 (ALPHA: replaced, keeping the 3), by 7 (BRAVO: overtaken), or not at all.
SWEEP = {"ALPHA": Decimal(103), "BRAVO": Decimal(107), "CHARLIE": Decimal(100)}
#: How long each venue holds an order message that arrives while it is set (the replaces'
#: cancels) before handling it; the sweep must come within it (five seconds leave room
#: for a loaded machine: the replaces and the sweep are 63 loopback calls).
VENUE_DELAY_MS = 5000
#: The reasons a REPLACE_REJECTED gives when fills overtook the replace.
OVERTAKEN = {"filled beyond the new quantity", "order is FILLED"}


def sweep(venue: str, quantity: Decimal) -> v.SimulatorControl:
    """Replace the venue's AAPL book with sellers below the resting bids."""
    book = v.BookSnapshot(
        venue=venue,
        symbol="AAPL",
        bids=[v.BookLevel(price="189.00", size="100")],
        asks=[v.BookLevel(price="189.80", size=str(quantity))],
    )
    return v.SimulatorControl(set_book=book)


@dataclass
class Raced:
    """One resting order, its replace, and what became of it."""

    index: int
    order_id: str = ""
    announced_id: str = ""
    original: order_pb2.Order | None = None
    replacement: order_pb2.Order | None = None

    @property
    def venue(self) -> str:
        return VENUES[self.index % len(VENUES)]

    @property
    def replace_key(self) -> str:
        return f"race-r-{self.index}"

    @property
    def last(self) -> order_pb2.Order:
        """The order the chain ends in: the replacement, or the original left working."""
        found = self.replacement or self.original
        assert found is not None
        return found


def replace_settled(reports: ReportLog, raced: list[Raced]) -> bool:
    """Every replace was answered on the stream: REPLACED or REPLACE_REJECTED."""
    return all(
        reports.of(r.order_id, common_pb2.EXEC_TYPE_REPLACED)
        or reports.of(r.order_id, common_pb2.EXEC_TYPE_REPLACE_REJECTED)
        for r in raced
    )


async def new_order_with_key(oms: RoutedOms, raced: Raced) -> order_pb2.Order:
    """A new order under the client order id of ``raced``'s refused replace."""
    request = limit_buy(
        raced.replace_key, limit_price="189.50", routing_strategy=DIRECT, venue=raced.venue
    )
    try:
        return (await oms.orders.SubmitOrder(request, metadata=MD)).order
    except grpc.aio.AioRpcError as exc:
        message = f"{raced.replace_key} is not free: {exc.code()} {exc.details()}"
        raise AssertionError(message) from exc


async def test_a_replace_overtaken_by_fills_is_rejected_with_a_report_and_no_dangling_link(
    routed_oms: RoutedOms, market: Market
) -> None:
    """60 buys of 10 rest at three venues; each is replaced down to 6, and while the
    venues still hold the replaces' cancels, sellers there fill 30 orders in full and
    one by 3 and one by 7. Every replace ends one way or the other: REPLACED, linked to
    a replacement that exists and names it; or REPLACE_REJECTED on the stream saying
    why, the original unlinked and working or filled, the announced replacement never
    made, and the replace's client order id taken by a new order afterwards. The fills
    the chains hold add up to the sellers' quantity and to the venues' own count."""
    reports = ReportLog(routed_oms)
    raced = [Raced(i) for i in range(RACED)]
    submits = [
        limit_buy(
            f"race-{r.index}",
            quantity=str(ORIGINAL_QTY),
            limit_price=RESTING_PRICE,
            routing_strategy=DIRECT,
            venue=r.venue,
        )
        for r in raced
    ]
    for r, request in zip(raced, submits, strict=True):  # in order: time priority at venues
        r.order_id = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order.order_id
    await eventually(lambda: acknowledged(routed_oms, RACED), message=f"{RACED} orders resting")

    for venue in VENUES:
        await market.control(venue, v.SimulatorControl(latency_ms=VENUE_DELAY_MS))
    started = time.monotonic()
    replies = await asyncio.gather(
        *(
            routed_oms.orders.ReplaceOrder(
                pb.ReplaceOrderRequest(
                    order_id=r.order_id, quantity=str(REPLACE_QTY), client_order_id=r.replace_key
                ),
                metadata=MD,
            )
            for r in raced
        )
    )
    for r, reply in zip(raced, replies, strict=True):
        assert reply.order.state == common_pb2.ORDER_STATE_PENDING_REPLACE
        r.announced_id = reply.order.replaced_by_order_id
        assert r.announced_id and r.announced_id != r.order_id
    # The cancels wait at the venues; the sellers trade now.
    await asyncio.gather(*(market.control(name, sweep(name, q)) for name, q in SWEEP.items()))
    swept_after_s = time.monotonic() - started
    assert swept_after_s < VENUE_DELAY_MS / 1000, f"the sweep came {swept_after_s:.1f} s late"
    for venue in VENUES:  # what the OMS sends from here on need not wait (the cancels do)
        await market.control(venue, v.SimulatorControl(latency_ms=1))

    await eventually(
        lambda: replace_settled(reports, raced), timeout_s=20, message="every replace answered"
    )
    for r in raced:
        r.original = await get_order(routed_oms, r.order_id)

    replaced = [r for r in raced if r.original.state == common_pb2.ORDER_STATE_REPLACED]  # type: ignore[union-attr]
    rejected = [r for r in raced if r not in replaced]
    for r in replaced:
        assert r.original is not None
        assert r.original.replaced_by_order_id == r.announced_id
        assert not reports.of(r.order_id, common_pb2.EXEC_TYPE_REPLACE_REJECTED)
        r.replacement = await get_order(routed_oms, r.announced_id)
        assert r.replacement.replaces_order_id == r.order_id
        assert r.replacement.client_order_id == r.replace_key
        assert Decimal(r.replacement.quantity) == REPLACE_QTY
        assert Decimal(r.replacement.cum_qty) == Decimal(r.original.cum_qty) < REPLACE_QTY
    for r in rejected:
        assert r.original is not None
        assert r.original.replaced_by_order_id == "", f"{r.order_id} links to a replacement"
        assert r.original.state in (
            common_pb2.ORDER_STATE_FILLED,
            common_pb2.ORDER_STATE_PARTIALLY_FILLED,  # it works on at its old terms
        )
        assert Decimal(r.original.quantity) == ORIGINAL_QTY
        assert Decimal(r.original.cum_qty) >= REPLACE_QTY
        (refusal,) = reports.of(r.order_id, common_pb2.EXEC_TYPE_REPLACE_REJECTED)
        assert refusal.text in OVERTAKEN, refusal.text
        assert not reports.of(r.order_id, common_pb2.EXEC_TYPE_REPLACED)
        assert await not_found(routed_oms, r.announced_id), f"{r.announced_id} exists"

    # Fills overtook exactly the orders they filled by 6 or more.
    assert len(rejected) == 31, [r.original.cum_qty for r in rejected]  # type: ignore[union-attr]
    assert {r.original.state for r in rejected} == {  # type: ignore[union-attr]
        common_pb2.ORDER_STATE_FILLED,
        common_pb2.ORDER_STATE_PARTIALLY_FILLED,
    }
    assert any(r.original.cum_qty != "0" for r in replaced)  # type: ignore[union-attr]

    # The refused replaces' client order ids are free: a new order takes each one.
    fresh = await asyncio.gather(*(new_order_with_key(routed_oms, r) for r in rejected))
    for r, made in zip(rejected, fresh, strict=True):
        assert made.client_order_id == r.replace_key
        assert made.order_id not in (r.order_id, r.announced_id)
        assert made.replaces_order_id == ""

    # Every order still working rests at its venue; no fill was lost or made twice.
    working = RACED - sum(r.last.state == common_pb2.ORDER_STATE_FILLED for r in raced)
    await eventually(
        lambda: acknowledged(routed_oms, working + len(rejected)),
        message="the working orders and the new ones resting",
    )
    for r in raced:
        if r.replacement is not None:
            r.replacement = await get_order(routed_oms, r.replacement.order_id)
        else:
            r.original = await get_order(routed_oms, r.order_id)
    filled = sum((Decimal(r.last.cum_qty) for r in raced), ZERO)
    assert filled == sum(SWEEP.values())
    every_id = [r.order_id for r in raced] + [r.announced_id for r in replaced]
    at_venues = await venue_fills(market.nats.url, every_id)
    assert at_venues.complete
    assert at_venues.quantity == filled
    assert await stored_trade_executions(routed_oms) == at_venues.trades
    await reports.close()


# -- remainders under contention --------------------------------------------------------

#: THREE_VENUES with books published every 1.5 s: while others empty a level, the OMS
#: routes on the book it last saw (a slow feed), so takes miss and are routed again.
SLOW_FEED = THREE_VENUES.replace("md_throttle_ms = 5", "md_throttle_ms = 1500")
ACCOUNTS = ("ACC1", "ACC2", "ACC3", "ACC4", "ACC5", "ACC6")
#: Above the best ask (190.01 x 300 at ALPHA); the book holds 1,500 up to it (ALPHA 300
#: and 800, BRAVO 400), so every order of 400 is planned as takes alone (BRAVO's 400 is
#: the best net price), and every DAY or GTC one that rests does so at ALPHA (the best
#: rebate), taking on arrival what ALPHA still offers.
CONTENDED_LIMIT = "190.02"
CONTENDED_QTY = Decimal(400)
LIQUIDITY_AT_LIMIT = Decimal(1500)
RESTING_TIFS = (common_pb2.TIME_IN_FORCE_DAY, common_pb2.TIME_IN_FORCE_GTC)
ENDING_TIFS: dict[common_pb2.TimeInForce.ValueType, str] = {
    common_pb2.TIME_IN_FORCE_IOC: "IOC ",
    common_pb2.TIME_IN_FORCE_FOK: "FOK ",
}


@pytest.fixture
async def slow_market(nats_server: EmbeddedNats) -> AsyncIterator[Market]:
    async with market_running(nats_server, SLOW_FEED) as running:
        yield running


@pytest.fixture
async def slow_oms(
    slow_market: Market, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[RoutedOms]:
    oms = RoutedOms(sqlite_url, tmp_path / "state", market=slow_market)
    async with oms_running(oms) as running:
        yield running


@dataclass
class Contender:
    """One account's order of one time in force, and what became of it."""

    account_id: str
    time_in_force: common_pb2.TimeInForce.ValueType
    order: order_pb2.Order = field(default_factory=order_pb2.Order)

    @property
    def metadata(self) -> tuple:
        return call_metadata(accounts=(self.account_id,))

    @property
    def rests(self) -> bool:
        return self.time_in_force in RESTING_TIFS

    def request(self) -> pb.SubmitOrderRequest:
        name = common_pb2.TimeInForce.Name(self.time_in_force).removeprefix("TIME_IN_FORCE_")
        return limit_buy(
            f"contend-{self.account_id}-{name}",
            account_id=self.account_id,
            quantity=str(CONTENDED_QTY),
            limit_price=CONTENDED_LIMIT,
            time_in_force=self.time_in_force,
        )


def resting_bids(market: Market) -> Decimal:
    """What bids at the contended limit in the simulators' own books (only our orders:
    the market makers bid 189.99 at best)."""
    return sum(
        (
            size
            for simulator in market.simulators.values()
            for price, size in simulator.engine.top_of_book("AAPL", 10).bids
            if price == Decimal(CONTENDED_LIMIT)
        ),
        ZERO,
    )


async def contention_settled(oms: RoutedOms, contenders: list[Contender]) -> bool:
    """Every order is final or works only through acknowledged resting children (no
    take of it is still out)."""
    assert oms.app is not None and oms.app.engine is not None
    open_by_parent: dict[str, list] = defaultdict(list)
    for child in oms.app.engine.open_children():
        open_by_parent[child.parent_order_id].append(child)
    for c in contenders:
        c.order = await get_order(oms, c.order.order_id, c.metadata)
        children = open_by_parent.get(c.order.order_id, [])
        if c.order.state in FINAL_STATES:
            continue  # filled, or ended (an IOC or FOK; a DAY or GTC that should not)
        if (
            not c.rests
            or not children
            or any(
                ch.purpose.value != "rest"
                or ch.state not in (ChildState.NEW, ChildState.PARTIALLY_FILLED)
                for ch in children
            )
        ):
            return False
    return True


async def test_day_and_gtc_remainders_rest_under_contention_and_only_ioc_and_fok_ones_end(
    slow_oms: RoutedOms, slow_market: Market
) -> None:
    """Six accounts each buy 400 at 190.02 DAY, GTC, IOC and FOK at once: 9,600 wanted
    where the venues hold 1,500, every order planned on the same book. Most takes miss
    (others took the liquidity first) and are routed again on that book until the OMS
    gives up taking. Then every DAY and GTC order not filled in full rests its remainder
    at a venue (NEW or PARTIALLY_FILLED, never CANCELED), and the venues' books hold
    exactly those remainders; every IOC or FOK not filled in full ends CANCELED saying
    'IOC remainder canceled' or 'FOK order canceled'. The fills add up to the venues'."""
    assert slow_oms.app is not None
    await open_test_accounts(slow_oms.app, ACCOUNTS)
    contenders = [
        Contender(account_id, tif)
        for account_id in ACCOUNTS
        for tif in (*RESTING_TIFS, *ENDING_TIFS)
    ]
    replies = await asyncio.gather(
        *(slow_oms.orders.SubmitOrder(c.request(), metadata=c.metadata) for c in contenders)
    )
    for c, reply in zip(contenders, replies, strict=True):
        c.order = reply.order
    await eventually(
        lambda: contention_settled(slow_oms, contenders),  # type: ignore[arg-type]
        timeout_s=20,
        message="every order final or resting",
    )

    resting = [c for c in contenders if c.rests and c.order.state != common_pb2.ORDER_STATE_FILLED]
    ended = [
        c for c in contenders if not c.rests and c.order.state != common_pb2.ORDER_STATE_FILLED
    ]
    for c in resting:
        assert c.order.state in (
            common_pb2.ORDER_STATE_NEW,
            common_pb2.ORDER_STATE_PARTIALLY_FILLED,
        ), (c.order.client_order_id, common_pb2.OrderState.Name(c.order.state), c.order.text)
        assert Decimal(c.order.leaves_qty) == CONTENDED_QTY - Decimal(c.order.cum_qty) > 0
        assert "canceled" not in c.order.text, c.order.text
        events = await slow_oms.orders.GetOrderEvents(
            pb.GetOrderEventsRequest(order_id=c.order.order_id), metadata=c.metadata
        )
        assert common_pb2.EXEC_TYPE_CANCELED not in [e.exec_type for e in events.events]
    for c in ended:
        prefix = ENDING_TIFS[c.time_in_force]
        assert c.order.state == common_pb2.ORDER_STATE_CANCELED, c.order
        assert c.order.leaves_qty == "0"
        assert Decimal(c.order.cum_qty) < CONTENDED_QTY
        assert c.order.text.startswith(prefix), c.order.text
        if prefix == "IOC ":
            assert c.order.text.startswith("IOC remainder canceled"), c.order.text
    # 1,500 fills at most 3 orders of 400 in full: the rest of the 24 rest or end.
    assert len(resting) >= 9 and len(ended) >= 9, (len(resting), len(ended))

    remainders = sum((Decimal(c.order.leaves_qty) for c in resting), ZERO)
    await eventually(
        lambda: resting_bids(slow_market) == remainders,
        message=f"the venues' books hold the {remainders} resting",
    )
    filled = sum((Decimal(c.order.cum_qty) for c in contenders), ZERO)
    assert filled == LIQUIDITY_AT_LIMIT  # every order resting at 190.02 took what was left
    at_venues = await venue_fills(slow_market.nats.url, [c.order.order_id for c in contenders])
    assert at_venues.complete
    assert at_venues.quantity == filled
