"""Order lifetimes end to end: a scenario whose [session] closes a few seconds ahead, real
venues over real NATS, and what the remainders of IOC and FOK orders become.

Each session test gets its own OMS, because its scenario's session is written from the
time the OMS starts: open an hour ago (UTC), close ``CLOSE_IN_S`` from then.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from oms_server.domain.session import NS_PER_S
from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import call_metadata
from tests.support.market import THREE_VENUES, Market, RoutedOms, started_market
from tests.support.orders import error_reason, field_violations, limit_buy
from tests.support.reports import final_order, order_events
from tests.support.waiting import eventually
from venues.nats_runtime import EmbeddedNats
from venues.scenario import parse_scenario

MD = call_metadata()
#: Seconds from the start of a test's OMS to its session's close.
CLOSE_IN_S = 4
#: Below every AAPL offer of THREE_VENUES (best ask 190.01): a buy here rests at a venue.
RESTING_PRICE = "189.50"
S = common_pb2


@dataclass
class Session:
    """A routed OMS trading in a session that closes at ``close_ns``."""

    oms: RoutedOms
    market: Market
    close_ns: int


def closing_soon(close_in_s: float) -> tuple[str, int]:
    """A [session] table that opened an hour ago and closes ``close_in_s`` from now (UTC,
    whole seconds), and the close in Unix ns."""
    close_s = math.ceil(time.time() + close_in_s)
    close = datetime.fromtimestamp(close_s, UTC)
    opened = close - timedelta(hours=1)
    table = (
        f'\n[session]\ntimezone = "UTC"\nopen = "{opened:%H:%M:%S}"\nclose = "{close:%H:%M:%S}"\n'
    )
    return table, close_s * NS_PER_S


@pytest.fixture
async def session(
    nats_server: EmbeddedNats, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[Session]:
    market = await started_market(nats_server, THREE_VENUES)
    table, close_ns = closing_soon(CLOSE_IN_S)
    market.scenario = parse_scenario(THREE_VENUES + table, "closing-soon.toml")
    oms = RoutedOms(sqlite_url, tmp_path / "state", market=market)  # its session: the table's
    try:
        await oms.start()
        yield Session(oms, market, close_ns)
    finally:
        await oms.stop()
        await market.stop()


def gtd_until(expire_ns: int, client_order_id: str) -> pb.SubmitOrderRequest:
    expire = Timestamp()
    expire.FromNanoseconds(expire_ns)
    return limit_buy(
        client_order_id,
        limit_price=RESTING_PRICE,
        time_in_force=S.TIME_IN_FORCE_GTD,
        expire_time=expire,
    )


async def submitted(oms: RoutedOms, request: pb.SubmitOrderRequest) -> str:
    return (await oms.orders.SubmitOrder(request, metadata=MD)).order.order_id


async def get(oms: RoutedOms, order_id: str) -> object:
    reply = await oms.orders.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=MD)
    return reply.order


def working_at_venues(market: Market) -> int:
    """Orders of the OMS resting on the simulators' books."""
    return sum(
        status.status.is_live
        for sim in market.simulators.values()
        for status in sim.engine.statuses()
    )


async def resting_at_a_venue(market: Market, count: int) -> None:
    await eventually(lambda: working_at_venues(market) >= count, message="children at venues")


async def exec_types(oms: RoutedOms, order_id: str) -> list[int]:
    return [event.exec_type for event in await order_events(oms, order_id)]


# -- the session --------------------------------------------------------------------------


async def test_a_resting_day_order_expires_at_the_close_and_a_gtc_order_does_not(
    session: Session,
) -> None:
    oms = session.oms
    day = await submitted(oms, limit_buy("day-1", limit_price=RESTING_PRICE))
    gtc = await submitted(
        oms, limit_buy("gtc-1", limit_price=RESTING_PRICE, time_in_force=S.TIME_IN_FORCE_GTC)
    )
    await resting_at_a_venue(session.market, 2)

    expired = await final_order(oms, day, timeout_s=CLOSE_IN_S + 10)
    assert (expired.state, expired.leaves_qty) == (S.ORDER_STATE_EXPIRED, "0")
    assert expired.update_time.ToNanoseconds() >= session.close_ns
    assert "DAY order expired at the session close" in expired.text
    trail = await exec_types(oms, day)
    assert trail[-2:] == [S.EXEC_TYPE_PENDING_CANCEL, S.EXEC_TYPE_EXPIRED]
    still = await get(oms, gtc)
    assert still.state == S.ORDER_STATE_NEW


async def test_a_gtd_order_expires_at_its_expire_time(session: Session) -> None:
    expire_ns = time.time_ns() + NS_PER_S
    order_id = await submitted(session.oms, gtd_until(expire_ns, "gtd-1"))
    accepted = await get(session.oms, order_id)
    assert accepted.time_in_force == S.TIME_IN_FORCE_GTD
    assert accepted.expire_time.ToNanoseconds() == expire_ns

    expired = await final_order(session.oms, order_id, timeout_s=10)
    assert expired.state == S.ORDER_STATE_EXPIRED
    assert expired.update_time.ToNanoseconds() >= expire_ns
    assert (await exec_types(session.oms, order_id))[-1] == S.EXEC_TYPE_EXPIRED


async def test_a_new_day_order_after_the_close_is_refused_as_market_closed(
    session: Session,
) -> None:
    day = await submitted(session.oms, limit_buy("day-1", limit_price=RESTING_PRICE))
    await final_order(session.oms, day, timeout_s=CLOSE_IN_S + 10)  # expired: it is closed

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await session.oms.orders.SubmitOrder(limit_buy("day-2"), metadata=MD)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(refused.value) == "MARKET_CLOSED"
    assert "the market is closed: the session is" in (refused.value.details() or "")

    received = session.market.orders_received()
    waiting = await submitted(
        session.oms, limit_buy("gtc-1", time_in_force=S.TIME_IN_FORCE_GTC)
    )  # accepted, and waits in the OMS for the open
    assert (await get(session.oms, waiting)).state == S.ORDER_STATE_NEW
    assert session.market.orders_received() == received


async def test_a_day_order_of_an_oms_stopped_before_the_close_is_expired_after_restart(
    session: Session,
) -> None:
    oms = session.oms
    day = await submitted(oms, limit_buy("day-1", limit_price=RESTING_PRICE))
    await resting_at_a_venue(session.market, 1)
    await oms.stop()
    await eventually(lambda: time.time_ns() > session.close_ns, message="past the close")

    await oms.start()
    expired = await final_order(oms, day, timeout_s=10)
    assert expired.state == S.ORDER_STATE_EXPIRED
    assert (await exec_types(oms, day))[-1] == S.EXEC_TYPE_EXPIRED
    await eventually(
        lambda: working_at_venues(session.market) == 0,  # canceled at the venue too
        message="no child left at a venue",
    )


# -- remainders and unroutable orders -----------------------------------------------------


async def test_an_ioc_with_no_liquidity_is_canceled_saying_why(routed_oms: RoutedOms) -> None:
    ioc = limit_buy("ioc-1", limit_price=RESTING_PRICE, time_in_force=S.TIME_IN_FORCE_IOC)
    order = await final_order(routed_oms, await submitted(routed_oms, ioc))
    assert order.state == S.ORDER_STATE_CANCELED
    assert order.text == "IOC remainder canceled: no liquidity at the limit"
    assert (await exec_types(routed_oms, order.order_id))[-1] == S.EXEC_TYPE_CANCELED


async def test_a_fok_that_cannot_fill_is_canceled_saying_why(routed_oms: RoutedOms) -> None:
    # 190.01 x 300 at ALPHA is all there is within the limit
    fok = limit_buy(
        "fok-1", quantity="1000", limit_price="190.01", time_in_force=S.TIME_IN_FORCE_FOK
    )
    order = await final_order(routed_oms, await submitted(routed_oms, fok))
    assert (order.state, order.cum_qty) == (S.ORDER_STATE_CANCELED, "0")
    assert order.text == "FOK order canceled: cannot be filled in full"
    assert (await exec_types(routed_oms, order.order_id))[-1] == S.EXEC_TYPE_CANCELED


async def test_direct_to_an_unknown_venue_is_refused_naming_venue(routed_oms: RoutedOms) -> None:
    direct = limit_buy("direct-1", routing_strategy=S.ROUTING_STRATEGY_DIRECT, venue="NOWHERE")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routed_oms.orders.SubmitOrder(direct, metadata=MD)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == ["venue"]
    assert "unknown venue 'NOWHERE'" in (refused.value.details() or "")
