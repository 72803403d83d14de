"""Submit -> venue over NATS -> fills -> stream, end to end with real parts."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import call_metadata
from tests.support.market import Market, RoutedOms
from tests.support.orders import limit_buy
from tests.support.reports import FINAL_STATES
from tests.support.waiting import eventually

MD = call_metadata()
DIRECT = common_pb2.ROUTING_STRATEGY_DIRECT


async def reports_until_final(oms: RoutedOms, order_id: str) -> list:
    """Every report of ``order_id`` from the stream, until its terminal one."""
    seen = []
    call = oms.orders.StreamExecutionReports(
        pb.StreamExecutionReportsRequest(account_id="ACC1"), metadata=MD
    )
    async for message in call:
        if message.report.order_id != order_id:
            continue
        seen.append(message.report)
        if message.report.order_state in FINAL_STATES:
            call.cancel()
            break
    return seen


async def test_a_direct_order_crossing_two_levels_fills_and_streams_back(
    routed_oms: RoutedOms, market: Market
) -> None:
    request = limit_buy(
        "x1", quantity="500", limit_price="190.02", routing_strategy=DIRECT, venue="ALPHA"
    )
    order = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order
    reports = await asyncio.wait_for(reports_until_final(routed_oms, order.order_id), 20)
    kinds = [(r.exec_type, r.order_state) for r in reports]
    assert kinds == [
        (common_pb2.EXEC_TYPE_NEW, common_pb2.ORDER_STATE_NEW),
        (common_pb2.EXEC_TYPE_TRADE, common_pb2.ORDER_STATE_PARTIALLY_FILLED),
        (common_pb2.EXEC_TYPE_TRADE, common_pb2.ORDER_STATE_FILLED),
    ]
    first, last = reports[1], reports[2]
    assert (first.last_qty, first.last_price, first.last_venue) == ("300", "190.01", "ALPHA")
    assert (first.cum_qty, first.leaves_qty) == ("300", "200")
    assert (last.last_qty, last.last_price, last.cum_qty, last.leaves_qty) == (
        "200",
        "190.02",
        "500",
        "0",
    )
    assert Decimal(last.avg_price) == (300 * Decimal("190.01") + 200 * Decimal("190.02")) / 500
    assert market.simulators["ALPHA"].fills_made == 2


async def test_a_direct_limit_that_does_not_cross_rests_at_the_venue_and_cancels(
    routed_oms: RoutedOms, market: Market
) -> None:
    request = limit_buy(
        "rest1", quantity="100", limit_price="189.50", routing_strategy=DIRECT, venue="BRAVO"
    )
    order = (await routed_oms.orders.SubmitOrder(request, metadata=MD)).order

    async def resting() -> bool:
        depth = market.simulators["BRAVO"].engine.top_of_book("AAPL", 10)
        return any(price == Decimal("189.50") for price, _ in depth.bids)

    await eventually(resting, message="child resting at BRAVO")
    canceled = await routed_oms.orders.CancelOrder(
        pb.CancelOrderRequest(order_id=order.order_id), metadata=MD
    )
    assert canceled.order.state == common_pb2.ORDER_STATE_PENDING_CANCEL
    reports = await asyncio.wait_for(reports_until_final(routed_oms, order.order_id), 20)
    assert reports[-1].order_state == common_pb2.ORDER_STATE_CANCELED
    assert not await resting()
