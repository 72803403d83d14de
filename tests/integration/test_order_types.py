"""Order types on a moving book end to end (issue 21): real venues over real NATS, the
books moved by simulator control messages, outcomes worked out by hand."""

from __future__ import annotations

import grpc
import pytest

from protos.oms.v1 import common_pb2 as S
from protos.oms.v1 import order_service_pb2 as pb
from protos.venue.v1 import venue_pb2 as v
from tests.support.fixtures import call_metadata
from tests.support.market import Market, RoutedOms
from tests.support.orders import field_violations, limit_buy
from tests.support.reports import final_order, order_events
from tests.support.waiting import eventually

MD = call_metadata()
VENUES = ("ALPHA", "BRAVO", "CHARLIE")


async def quote_everywhere(market: Market, bid: str, ask: str) -> None:
    """Every venue's AAPL book becomes one bid and one ask of 300."""
    for venue in VENUES:
        book = v.BookSnapshot(
            venue=venue,
            symbol="AAPL",
            bids=[v.BookLevel(price=bid, size="300")],
            asks=[v.BookLevel(price=ask, size="300")],
        )
        await market.control(venue, v.SimulatorControl(set_book=book))


async def trigger_of(oms: RoutedOms, order_id: str) -> str:
    reply = await oms.orders.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=MD)
    return reply.order.trigger_price


async def trigger_becomes(oms: RoutedOms, order_id: str, price: str) -> None:
    async def there() -> bool:
        return await trigger_of(oms, order_id) == price

    await eventually(there, message=f"trigger at {price}")


async def test_a_trailing_buy_follows_the_ask_down_survives_a_restart_and_fires(
    routed_oms: RoutedOms, market: Market
) -> None:
    """Ask 190.01, offset 0.50: trigger 190.51; the ask falls to 189.60: 190.10. While the
    OMS is down the ask rises to 189.80 (from scratch the trigger would be 190.30); after
    the restart it is still 190.10, and an ask of 190.10 fires it: 100 bought at 190.10."""
    request = limit_buy(
        "trail-1",
        limit_price="",
        order_type=S.ORDER_TYPE_TRAILING_STOP,
        trailing_offset="0.50",
    )
    placed = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order
    assert placed.trigger_price == "190.51"

    await quote_everywhere(market, "189.58", "189.60")
    await trigger_becomes(routed_oms, placed.order_id, "190.1")

    await routed_oms.stop()
    await quote_everywhere(market, "189.78", "189.80")
    await routed_oms.start()
    assert await trigger_of(routed_oms, placed.order_id) == "190.1"

    await quote_everywhere(market, "190.08", "190.10")
    done = await final_order(routed_oms, placed.order_id, timeout_s=10)
    assert done.state == S.ORDER_STATE_FILLED
    assert (done.cum_qty, done.avg_price) == ("100", "190.1")
    events = await order_events(routed_oms, placed.order_id)
    (fired,) = [e for e in events if e.exec_type == S.EXEC_TYPE_TRIGGERED]
    assert fired.text == "triggered at 190.1: best ask 190.1"


async def test_a_buy_market_if_touched_waits_for_the_ask_to_fall_to_its_price(
    routed_oms: RoutedOms, market: Market
) -> None:
    """Stop price 189.50 below the 190.01 ask: it waits; an ask of 189.50 buys 100 there."""
    request = limit_buy(
        "mit-1", limit_price="", order_type=S.ORDER_TYPE_MARKET_IF_TOUCHED, stop_price="189.50"
    )
    placed = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order
    await quote_everywhere(market, "189.48", "189.50")
    done = await final_order(routed_oms, placed.order_id, timeout_s=10)
    assert (done.state, done.avg_price) == (S.ORDER_STATE_FILLED, "189.5")


@pytest.mark.parametrize("offset", ["", "0", "0.005"])
async def test_a_bad_trailing_offset_is_invalid_argument_naming_it_and_stores_nothing(
    routed_oms: RoutedOms, offset: str
) -> None:
    request = limit_buy(
        "bad-1", limit_price="", order_type=S.ORDER_TYPE_TRAILING_STOP, trailing_offset=offset
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routed_oms.orders.SubmitOrder(request, metadata=MD)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == ["trailing_offset"]
    listed = await routed_oms.orders.ListOrders(
        pb.ListOrdersRequest(account_id="ACC1"), metadata=MD
    )
    assert list(listed.orders) == []
