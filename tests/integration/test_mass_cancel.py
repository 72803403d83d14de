"""Mass cancel (CancelAllOrders) against three real venue simulators over NATS.

200 resting orders across ALPHA, BRAVO and CHARLIE are mass-cancelled while sellers
sweep every venue's bids: the venues are slowed down so that the cancels wait there
while the sweep fills, and those fills reach the OMS after the orders went
PENDING_CANCEL. Every order must end final, with its quantities adding up, and the
fills the OMS stored must be exactly the fills the venues made.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import grpc
import pytest

from clients.bench.venue_fills import venue_fills
from oms_server.domain.child import ChildState
from protos.oms.v1 import common_pb2, order_pb2
from protos.oms.v1 import order_service_pb2 as pb
from protos.venue.v1 import venue_pb2 as v
from tests.support.fixtures import call_metadata
from tests.support.market import Market, RoutedOms
from tests.support.orders import limit_buy
from tests.support.reports import all_final, stored_executions
from tests.support.waiting import eventually

MD = call_metadata()
DIRECT = common_pb2.ROUTING_STRATEGY_DIRECT
VENUES = ("ALPHA", "BRAVO", "CHARLIE")
ORDERS = 200
#: Below every venue's best bid (189.97 and up): the orders rest.
RESTING_PRICE = "189.90"
#: Each venue's new sellers: enough for about half of the bids resting there.
SWEEP_QTY = "400"
#: How long each venue holds an order message (the cancels) before handling it.
VENUE_DELAY_MS = 300
SUBMIT_CHUNK = 50
FINAL_TIMEOUT_S = 40.0


def resting_buy(i: int, **overrides: object) -> pb.SubmitOrderRequest:
    fields: dict[str, object] = {
        "quantity": str(5 + i % 7),
        "limit_price": RESTING_PRICE,
        "routing_strategy": DIRECT,
        "venue": VENUES[i % len(VENUES)],
    }
    fields.update(overrides)
    return limit_buy(f"mass-{i}", **fields)  # type: ignore[arg-type]


async def submit_all(oms: RoutedOms, requests: list[pb.SubmitOrderRequest]) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(requests), SUBMIT_CHUNK):
        chunk = requests[start : start + SUBMIT_CHUNK]
        replies = await asyncio.gather(*(oms.orders.SubmitOrder(r, metadata=MD) for r in chunk))
        ids.extend(reply.order.order_id for reply in replies)
    return ids


def acknowledged(oms: RoutedOms, count: int) -> bool:
    """Every one of ``count`` children is resting, acknowledged by its venue."""
    assert oms.app is not None and oms.app.engine is not None
    children = oms.app.engine.open_children()
    return len(children) == count and all(c.state is ChildState.NEW for c in children)


def sweep(venue: str) -> v.SimulatorControl:
    """Replace the venue's AAPL book with sellers below the resting bids."""
    book = v.BookSnapshot(
        venue=venue,
        symbol="AAPL",
        bids=[v.BookLevel(price="189.00", size="100")],
        asks=[v.BookLevel(price="189.80", size=SWEEP_QTY)],
    )
    return v.SimulatorControl(set_book=book)


async def test_mass_cancel_of_200_orders_at_three_venues_with_fills_racing_it(
    routed_oms: RoutedOms, market: Market
) -> None:
    requests = [resting_buy(i) for i in range(ORDERS)]
    ids = await submit_all(routed_oms, requests)
    await eventually(lambda: acknowledged(routed_oms, ORDERS), message="200 orders resting")
    for venue in VENUES:
        await market.control(venue, v.SimulatorControl(latency_ms=VENUE_DELAY_MS))

    reply = await routed_oms.orders.CancelAllOrders(
        pb.CancelAllOrdersRequest(account_id="ACC1"), metadata=MD
    )
    assert reply.canceled_count == ORDERS
    await asyncio.gather(*(market.control(venue, sweep(venue)) for venue in VENUES))

    orders = await all_final(routed_oms, ids, timeout_s=FINAL_TIMEOUT_S)
    states = {o.state for o in orders}
    assert states == {common_pb2.ORDER_STATE_FILLED, common_pb2.ORDER_STATE_CANCELED}
    filled_at: dict[str, Decimal] = dict.fromkeys(VENUES, Decimal(0))
    for order, request in zip(orders, requests, strict=True):
        quantity, cum = Decimal(request.quantity), Decimal(order.cum_qty)
        assert (Decimal(order.quantity), order.leaves_qty) == (quantity, "0")
        if order.state == common_pb2.ORDER_STATE_FILLED:
            assert cum == quantity
        else:  # canceled: the leaves the venue canceled are what did not fill
            assert Decimal(0) <= cum < quantity
        filled_at[request.venue] += cum
    assert filled_at == dict.fromkeys(VENUES, Decimal(SWEEP_QTY))  # each sweep filled whole
    partly = [o for o in orders if o.state == common_pb2.ORDER_STATE_CANCELED and o.cum_qty != "0"]
    assert len(partly) <= len(VENUES)  # at most the last order each sweep reached

    late = await fills_after_the_cancel(routed_oms, ids)
    assert late > 0, "no fill raced the mass cancel"
    filled_qty = sum(filled_at.values())
    assert routed_oms.app is not None and routed_oms.market is not None
    at_venues = await venue_fills(routed_oms.market.nats.url, ids)
    assert at_venues.complete
    assert await stored_executions(routed_oms, "TRADE") == at_venues.trades
    assert filled_qty == at_venues.quantity
    listed = await listed_fills(routed_oms)
    assert len(listed) == at_venues.trades
    by_order: dict[str, Decimal] = {}
    for fill in listed:
        by_order[fill.order_id] = by_order.get(fill.order_id, Decimal(0)) + Decimal(fill.last_qty)
    assert by_order == {o.order_id: Decimal(o.cum_qty) for o in orders if o.cum_qty != "0"}
    assert not any(
        price == Decimal(RESTING_PRICE)
        for s in market.simulators.values()
        for price, _ in s.engine.top_of_book("AAPL", 10).bids
    )


async def listed_fills(oms: RoutedOms) -> list[order_pb2.Execution]:
    """Every fill of ACC1 as ListExecutions gives them, page by page."""
    found: list[order_pb2.Execution] = []
    page_token = ""
    while True:
        request = pb.ListExecutionsRequest(account_id="ACC1", page_token=page_token)
        page = await oms.orders.ListExecutions(request, metadata=MD)
        found.extend(page.executions)
        page_token = page.next_page_token
        if not page_token:
            return found


async def fills_after_the_cancel(oms: RoutedOms, order_ids: list[str]) -> int:
    """Fills applied to orders already PENDING_CANCEL (late fills, not lost)."""
    late = 0
    for order_id in order_ids:
        events = (
            await oms.orders.GetOrderEvents(
                pb.GetOrderEventsRequest(order_id=order_id), metadata=MD
            )
        ).events
        kinds = [e.exec_type for e in events]
        if common_pb2.EXEC_TYPE_PENDING_CANCEL in kinds:
            after = kinds[kinds.index(common_pb2.EXEC_TYPE_PENDING_CANCEL) :]
            late += after.count(common_pb2.EXEC_TYPE_TRADE)
    return late


async def test_mass_cancel_by_symbol_and_side_leaves_the_rest_working(
    routed_oms: RoutedOms, market: Market
) -> None:
    msft = limit_buy("m-1", symbol="MSFT", limit_price="419.00")
    aapl = [resting_buy(i, routing_strategy=common_pb2.ROUTING_STRATEGY_UNSPECIFIED, venue="")
            for i in range(3)]  # fmt: skip
    msft_id, *aapl_ids = await submit_all(routed_oms, [msft, *aapl])
    by_side = pb.CancelAllOrdersRequest(account_id="ACC1", side=common_pb2.SIDE_SELL)
    assert (await routed_oms.orders.CancelAllOrders(by_side, metadata=MD)).canceled_count == 0
    by_symbol = pb.CancelAllOrdersRequest(
        account_id="ACC1", symbol="AAPL", side=common_pb2.SIDE_BUY
    )
    assert (await routed_oms.orders.CancelAllOrders(by_symbol, metadata=MD)).canceled_count == 3
    canceled = await all_final(routed_oms, aapl_ids)
    assert {o.state for o in canceled} == {common_pb2.ORDER_STATE_CANCELED}
    assert all(o.text.startswith("mass cancel by ") for o in canceled)
    still = await routed_oms.orders.GetOrder(pb.GetOrderRequest(order_id=msft_id), metadata=MD)
    assert still.order.state == common_pb2.ORDER_STATE_NEW
    again = await routed_oms.orders.CancelAllOrders(by_symbol, metadata=MD)
    assert again.canceled_count == 0  # nothing of AAPL is working any more


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (pb.CancelAllOrdersRequest(account_id="NOPE"), grpc.StatusCode.PERMISSION_DENIED),
        (
            pb.CancelAllOrdersRequest(account_id="ACC1", symbol="ZZZ"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (pb.CancelAllOrdersRequest(account_id="ACC1", side=7), grpc.StatusCode.INVALID_ARGUMENT),  # type: ignore[arg-type]
    ],
    ids=["other-account", "unknown-symbol", "unknown-side"],
)
async def test_bad_mass_cancels_are_refused(
    routed_oms: RoutedOms, request_: pb.CancelAllOrdersRequest, code: grpc.StatusCode
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routed_oms.orders.CancelAllOrders(request_, metadata=MD)
    assert refused.value.code() == code
