"""The FIX venue connector against QuickFIX's own executor example (real processes).

The executor (C++, built from Debian's libquickfix-doc by tests/support/fix_venue.py)
fills every limit order at its price. Between it and the OMS sits a TCP relay, so a test
can lose the venue's messages on the wire and cut the connection.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from router.circuit_breaker import BreakerState
from tests.support.fix_venue import (
    Executor,
    Executors,
    FixProxy,
    build_executors,
    missing_prerequisites,
)
from tests.support.fixtures import RunningOms, call_metadata
from tests.support.market import RoutedOms, started_market
from tests.support.orders import limit_buy
from tests.support.reports import final_order, order_events
from tests.support.waiting import eventually
from venues.fix.connector import FixVenueConnector
from venues.fix.engine import fix, session_id
from venues.nats_runtime import EmbeddedNats
from venues.scenario import Scenario

# 60 s a test; the first also builds the executor (about 10 s of CPU, once per source).
pytestmark = pytest.mark.timeout(180)

VENUE = "FIXV"
DIRECT = common_pb2.ROUTING_STRATEGY_DIRECT
MD = call_metadata()
PRICE = Decimal("190.00")


@pytest.fixture(scope="session")
def executors() -> Executors:
    reason = missing_prerequisites()
    if reason is not None:
        message = f"QuickFIX's executor cannot be built: {reason} (make test installs it)"
        if os.environ.get("OMS_REQUIRE_FIX_VENUE") == "1":  # CI: the FIX venue must be tried
            pytest.fail(message)
        pytest.skip(message)
    return build_executors()


#: A NATS simulator (ALPHA, which gives AAPL its book and so risk its reference price)
#: beside a FIX venue (FIXV): the OMS routes to both through one composite port.
SCENARIO = """
seed = 1
[[instruments]]
symbol = "AAPL"
tick_size = "0.01"
lot_size = "1"
reference_price = "190.00"

[[venues]]
name = "ALPHA"
[[venues.books]]
symbol = "AAPL"
bids = [["189.99", "500"]]
asks = [["190.01", "300"]]

[[venues]]
name = "FIXV"
protocol = "fix"
taker_fee_bps = "2"
[venues.fix]
host = "127.0.0.1"
port = PORT
sender_comp_id = "OMS"
target_comp_id = "EXEC"
heartbeat_s = 1
"""


def fix_session_id(oms: MixedOms) -> object:
    return session_id(oms.market_scenario.venue(VENUE))


@dataclass
class MixedOms(RoutedOms):
    """An OMS with a NATS venue and a FIX venue (reached through the relay)."""

    @property
    def market_scenario(self) -> Scenario:
        assert self.market is not None
        return self.market.scenario

    @property
    def connector(self) -> FixVenueConnector:
        assert self.app is not None and self.app.fix_venues is not None
        return self.app.fix_venues

    async def ready(self) -> None:
        assert self.app is not None and self.app.connector is not None
        nats_venues = self.app.connector
        await eventually(lambda: "ALPHA" in nats_venues.books("AAPL"), message="ALPHA's book")
        await eventually(
            lambda: self.connector.is_logged_on(VENUE), message="FIX session logged on"
        )


@dataclass
class World:
    oms: MixedOms
    executor: Executor
    proxy: FixProxy


@contextlib.asynccontextmanager
async def running_world(
    binary: Path, nats_server: EmbeddedNats, db_url: str, tmp_path: Path
) -> AsyncIterator[World]:
    executor = Executor(binary, tmp_path / "executor")
    await executor.start()
    proxy = FixProxy(executor.port)
    await proxy.start()
    market = await started_market(nats_server, SCENARIO.replace("PORT", str(proxy.port)))
    oms = MixedOms(db_url, tmp_path / "state", market=market, ack_timeout_s=0.5)
    try:
        await oms.start()
        yield World(oms, executor, proxy)
    finally:
        await oms.stop()
        await market.stop()
        await proxy.stop()
        await executor.stop()


@pytest.fixture
async def world(
    executors: Executors, nats_server: EmbeddedNats, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[World]:
    """The executor with our OrderStatusRequest answer."""
    async with running_world(executors.status, nats_server, sqlite_url, tmp_path) as running:
        yield running


@pytest.fixture
async def plain_world(
    executors: Executors, nats_server: EmbeddedNats, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[World]:
    """The executor example exactly as QuickFIX ships it."""
    async with running_world(executors.plain, nats_server, sqlite_url, tmp_path) as running:
        yield running


async def submit_direct(oms: RunningOms, client_id: str, qty: str = "100") -> str:
    request = limit_buy(
        client_id, quantity=qty, limit_price="190.00", routing_strategy=DIRECT, venue=VENUE
    )
    reply = await oms.orders.SubmitOrder(request, metadata=MD)
    return str(reply.order.order_id)


def trades_text(events: list) -> str:
    return " ".join(e.text for e in events)


def trades(events: list) -> list:
    return [e for e in events if e.exec_type == common_pb2.EXEC_TYPE_TRADE]


async def test_a_direct_order_is_filled_by_the_fix_venue_with_the_right_reports(
    world: World,
) -> None:
    order_id = await submit_direct(world.oms, "fx1")
    order = await final_order(world.oms, order_id)
    assert order.state == common_pb2.ORDER_STATE_FILLED  # type: ignore[attr-defined]
    events = await order_events(world.oms, order_id)
    kinds = [(e.exec_type, e.order_state) for e in events]
    assert kinds[-1] == (common_pb2.EXEC_TYPE_TRADE, common_pb2.ORDER_STATE_FILLED)
    (fill,) = trades(events)
    assert (fill.last_qty, Decimal(fill.last_price), fill.last_venue) == ("100", PRICE, VENUE)
    assert (fill.cum_qty, fill.leaves_qty) == ("100", "0")
    assert world.executor.received("D") == 1
    assert world.oms.connector.breaker(VENUE).state is BreakerState.CLOSED


async def test_best_price_routing_passes_the_bookless_fix_venue_by(world: World) -> None:
    request = limit_buy(
        "fx-best",
        limit_price="190.01",
        routing_strategy=common_pb2.ROUTING_STRATEGY_BEST_PRICE,
    )
    order_id = (await world.oms.orders.SubmitOrder(request, metadata=MD)).order.order_id
    order = await final_order(world.oms, order_id)
    assert order.state == common_pb2.ORDER_STATE_FILLED  # type: ignore[attr-defined]
    assert {e.last_venue for e in trades(await order_events(world.oms, order_id))} == {"ALPHA"}
    assert world.executor.received("D") == 0


async def test_an_execution_report_delivered_twice_is_applied_once(world: World) -> None:
    order_id = await submit_direct(world.oms, "fx-dup")
    await final_order(world.oms, order_id)
    received = world.oms.connector.reports_received[VENUE]
    # Make the OMS's session believe it missed everything since logon: it asks the
    # executor to resend, and the executor resends its ExecutionReport (PossDupFlag=Y).
    sid = fix_session_id(world.oms)
    session = fix.Session.lookupSession(sid)
    session.setNextTargetMsgSeqNum(2)
    test_request = fix.Message()
    test_request.getHeader().setField(fix.MsgType("1"))
    test_request.setField(112, "resend-please")
    fix.Session.sendToTarget(test_request, sid)
    await eventually(
        lambda: world.oms.connector.reports_received[VENUE] > received,
        message="the executor's report received again",
    )
    events = await order_events(world.oms, order_id)
    assert len(trades(events)) == 1
    assert trades(events)[0].cum_qty == "100"
    assert world.executor.received("D") == 1


async def test_a_fill_lost_in_a_dropped_connection_is_found_by_order_status(
    world: World,
) -> None:
    world.proxy.swallow_replies = True  # the venue's answers never arrive...
    order_id = await submit_direct(world.oms, "fx-lost")
    await eventually(lambda: world.proxy.swallowed_reports >= 1, message="the fill was lost")
    world.proxy.cut()  # ...and the connection drops
    world.proxy.swallow_replies = False
    order = await final_order(world.oms, order_id)
    assert order.state == common_pb2.ORDER_STATE_FILLED  # type: ignore[attr-defined]
    (fill,) = trades(await order_events(world.oms, order_id))
    assert (fill.last_qty, Decimal(fill.last_price)) == ("100", PRICE)
    assert world.executor.received("D") == 1  # filled once, never resent
    assert world.executor.received("H") >= 1  # settled by OrderStatusRequest
    assert world.oms.connector.reports_received[VENUE] == 0


async def test_an_oms_restarted_with_a_fill_unheard_learns_it_from_the_venue(
    world: World,
) -> None:
    world.proxy.swallow_replies = True
    order_id = await submit_direct(world.oms, "fx-restart")
    await eventually(lambda: world.proxy.swallowed_reports >= 1, message="the fill was lost")
    await world.oms.stop()  # the child is open in the store, its fill unheard
    world.proxy.swallow_replies = False
    await world.oms.start()
    order = await final_order(world.oms, order_id)
    assert order.state == common_pb2.ORDER_STATE_FILLED  # type: ignore[attr-defined]
    assert world.executor.received("D") == 1
    assert world.executor.received("H") >= 1


async def test_an_order_lost_on_the_way_is_sent_again_once_the_venue_says_it_never_saw_it(
    world: World,
) -> None:
    world.proxy.swallow_requests = True  # the NewOrderSingle never arrives...
    order_id = await submit_direct(world.oms, "fx-unseen")
    await eventually(lambda: world.proxy.swallowed_orders >= 1, message="the order was lost")
    world.proxy.cut()  # ...and the connection drops
    world.proxy.swallow_requests = False
    order = await final_order(world.oms, order_id)
    assert order.state == common_pb2.ORDER_STATE_FILLED  # type: ignore[attr-defined]
    assert world.executor.received("H") >= 1  # "unknown order", so the engine resent it
    assert world.executor.received("D") == 1  # the one that arrived
    (fill,) = trades(await order_events(world.oms, order_id))
    assert fill.cum_qty == "100"


async def test_an_order_the_venue_refuses_ends_rejected_with_its_reason(world: World) -> None:
    """The executor takes only limit orders: a market order gets a session Reject."""
    request = limit_buy(
        "fx-market",
        order_type=common_pb2.ORDER_TYPE_MARKET,
        limit_price="",
        routing_strategy=DIRECT,
        venue=VENUE,
    )
    order_id = (await world.oms.orders.SubmitOrder(request, metadata=MD)).order.order_id
    order = await final_order(world.oms, order_id)
    assert order.state == common_pb2.ORDER_STATE_REJECTED  # type: ignore[attr-defined]
    assert "(tag 40)" in trades_text(await order_events(world.oms, order_id))  # OrdType
    assert world.oms.connector.breaker(VENUE).state is BreakerState.CLOSED


async def test_the_breaker_opens_while_the_venue_is_down_and_closes_once_it_answers(
    world: World,
) -> None:
    connector = world.oms.connector
    await world.executor.stop()
    await eventually(
        lambda: connector.breaker(VENUE).state is BreakerState.OPEN,
        message="breaker open",
    )
    assert connector.venue_infos()[VENUE].healthy is False
    refused_id = await submit_direct(world.oms, "fx-while-open")
    refused = await final_order(world.oms, refused_id)
    assert refused.state == common_pb2.ORDER_STATE_CANCELED  # type: ignore[attr-defined]
    assert "FIXV" in trades_text(await order_events(world.oms, refused_id))
    await world.executor.start()  # same port, same store
    await eventually(
        lambda: connector.breaker(VENUE).state is BreakerState.CLOSED,
        timeout_s=15,
        message="breaker closed again",
    )
    order_id = await submit_direct(world.oms, "fx-after")
    order = await final_order(world.oms, order_id)
    assert order.state == common_pb2.ORDER_STATE_FILLED  # type: ignore[attr-defined]
    assert world.executor.received("D") == 1  # only the order sent once it was back


async def test_the_example_as_shipped_fills_and_its_refused_status_requests_decide_nothing(
    plain_world: World,
) -> None:
    """QuickFIX's executor, unmodified, answers OrderStatusRequest with
    BusinessMessageReject: a child whose fill was lost stays as it is (not sent again,
    not rejected) and the venue is routable again once a probe is answered."""
    world = plain_world
    filled_id = await submit_direct(world.oms, "plain-1")
    filled = await final_order(world.oms, filled_id)
    assert filled.state == common_pb2.ORDER_STATE_FILLED  # type: ignore[attr-defined]
    world.proxy.swallow_replies = True
    lost_id = await submit_direct(world.oms, "plain-lost")
    await eventually(lambda: world.proxy.swallowed_reports >= 1, message="the fill was lost")
    world.proxy.cut()
    world.proxy.swallow_replies = False
    connector = world.oms.connector
    await eventually(lambda: connector.refuses_status_requests(VENUE), message="status refused")
    reply = await world.oms.orders.GetOrder(pb.GetOrderRequest(order_id=lost_id), metadata=MD)
    assert reply.order.state == common_pb2.ORDER_STATE_NEW
    assert world.executor.received("D") == 2  # the lost child was not sent again
    await eventually(  # a refusal is an answer: the probe after the reconnect closes it
        lambda: connector.breaker(VENUE).state is BreakerState.CLOSED, message="breaker closed"
    )
    assert world.executor.received("D") == 2
