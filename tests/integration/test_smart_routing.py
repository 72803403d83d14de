"""Smart order routing end to end, on the scripted three-venue market of tests/support/market.py.

AAPL asks (price x size, taker fee):
    ALPHA   190.01 x 300, 190.02 x 800   (3 bps)
    BRAVO   190.02 x 400, 190.03 x 600   (1 bps)
    CHARLIE 190.03 x 900, 190.04 x 900   (0.5 bps)
Net of fees a buyer pays: BRAVO 190.02 -> 190.039002, CHARLIE 190.03 -> 190.0395015,
BRAVO 190.03 -> 190.049003, CHARLIE 190.04 -> 190.049502, ALPHA 190.01 -> 190.067003,
ALPHA 190.02 -> 190.077006. So the cheapest 1,000 are BRAVO 400 @ 190.02 and
CHARLIE 600 @ 190.03 (average 190.026), although ALPHA shows the best raw price.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal

from oms_server.domain.access import Role
from protos.oms.v1 import admin_service_pb2, admin_service_pb2_grpc, common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from protos.venue.v1 import venue_pb2 as v
from tests.support.fixtures import call_metadata
from tests.support.market import Market, RoutedOms
from tests.support.orders import limit_buy
from tests.support.reports import final_order, order_events
from tests.support.waiting import eventually

MD = call_metadata()
ADMIN = call_metadata(Role.ADMIN, ())


def fills_by_venue(events: list) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for event in events:
        if event.exec_type == common_pb2.EXEC_TYPE_TRADE:
            totals[event.last_venue] += Decimal(event.last_qty)
    return dict(totals)


async def test_a_buy_of_1000_routes_to_the_cheapest_net_liquidity(routed_oms: RoutedOms) -> None:
    reply = await routed_oms.orders.SubmitOrder(
        limit_buy("sweep", quantity="1000", limit_price="190.05"), metadata=MD
    )
    order = await final_order(routed_oms, reply.order.order_id)
    assert order.state == common_pb2.ORDER_STATE_FILLED
    assert Decimal(order.avg_price) == Decimal("190.026")
    events = await order_events(routed_oms, order.order_id)
    assert fills_by_venue(events) == {"BRAVO": Decimal(400), "CHARLIE": Decimal(600)}
    assert routed_oms.app is not None and routed_oms.app.engine is not None
    stored = await routed_oms.app.engine.get_order(order.order_id)
    assert stored is not None
    assert stored.fees == Decimal("7.6008") + Decimal("5.7009")
    assert stored.arrival_price == Decimal("190.01")
    # Best single venue for all 1,000: CHARLIE 900 @ 190.03 + 100 @ 190.04, plus 0.5 bps.
    assert stored.single_venue_price == Decimal("190.04050155")
    assert stored.net_avg_price == Decimal("190.0393017")  # better by about 0.06 bps


async def test_liquidity_gone_before_the_child_arrives_is_chased_elsewhere(
    routed_oms: RoutedOms, market: Market
) -> None:
    await market.control("BRAVO", v.SimulatorControl(latency_ms=300))
    reply = await routed_oms.orders.SubmitOrder(
        limit_buy("chase", quantity="1000", limit_price="190.05"), metadata=MD
    )
    emptied = v.BookSnapshot(
        venue="BRAVO", symbol="AAPL", bids=[v.BookLevel(price="189.00", size="100")]
    )
    await market.control("BRAVO", v.SimulatorControl(set_book=emptied))
    order = await final_order(routed_oms, reply.order.order_id)
    assert order.state == common_pb2.ORDER_STATE_FILLED
    venues = fills_by_venue(await order_events(routed_oms, order.order_id))
    assert "BRAVO" not in venues
    assert venues["CHARLIE"] == Decimal(1000)
    assert routed_oms.app is not None and routed_oms.app.engine is not None
    stored = await routed_oms.app.engine.get_order(order.order_id)
    assert stored is not None and stored.reroutes >= 1


async def test_cancel_during_a_partial_fill_across_three_venues_adds_up(
    routed_oms: RoutedOms, market: Market
) -> None:
    reply = await routed_oms.orders.SubmitOrder(
        limit_buy("big", quantity="3500", limit_price="190.03"), metadata=MD
    )

    async def partially_filled() -> bool:
        got = await routed_oms.orders.GetOrder(
            pb.GetOrderRequest(order_id=reply.order.order_id), metadata=MD
        )
        return got.order.cum_qty == "3000"

    await eventually(partially_filled, message="takes filled, remainder resting")
    await routed_oms.orders.CancelOrder(
        pb.CancelOrderRequest(order_id=reply.order.order_id), metadata=MD
    )
    order = await final_order(routed_oms, reply.order.order_id)
    assert order.state == common_pb2.ORDER_STATE_CANCELED
    assert (order.cum_qty, order.leaves_qty) == ("3000", "0")
    events = await order_events(routed_oms, order.order_id)
    assert fills_by_venue(events) == {
        "ALPHA": Decimal(1100),
        "BRAVO": Decimal(1000),
        "CHARLIE": Decimal(900),
    }
    assert sum(Decimal(e.last_qty) for e in events) == Decimal(3000)
    for simulator in market.simulators.values():
        resting = simulator.engine.top_of_book("AAPL", 10).bids
        assert all(price != Decimal("190.03") for price, _ in resting)


async def test_a_dark_venue_is_taken_out_of_routing_and_orders_fill_elsewhere(
    routed_oms: RoutedOms, market: Market
) -> None:
    assert routed_oms.channel is not None
    admin = admin_service_pb2_grpc.AdminServiceStub(routed_oms.channel)
    await market.control("BRAVO", v.SimulatorControl(dark_for_ms=8000))
    stuck = await routed_oms.orders.SubmitOrder(
        limit_buy("into-the-dark", quantity="400", limit_price="190.02"), metadata=MD
    )

    async def bravo_open() -> bool:
        venues = await admin.ListVenues(admin_service_pb2.ListVenuesRequest(), metadata=ADMIN)
        states = {venue.name: venue.circuit_state for venue in venues.venues}
        return states["BRAVO"] == admin_service_pb2.CIRCUIT_STATE_OPEN

    await eventually(bravo_open, timeout_s=15, message="BRAVO circuit open")
    replies = await asyncio.gather(
        *(
            routed_oms.orders.SubmitOrder(
                limit_buy(f"after-{i}", quantity="100", limit_price="190.05"), metadata=MD
            )
            for i in range(5)
        )
    )
    for reply in replies:
        order = await final_order(routed_oms, reply.order.order_id)
        assert order.state == common_pb2.ORDER_STATE_FILLED
        venues = fills_by_venue(await order_events(routed_oms, order.order_id))
        assert "BRAVO" not in venues
    recovered = await final_order(routed_oms, stuck.order.order_id, timeout_s=30)
    assert recovered.state in (common_pb2.ORDER_STATE_FILLED, common_pb2.ORDER_STATE_CANCELED)


async def test_with_every_ask_swept_the_last_mid_prices_the_risk_checks(
    routed_oms: RoutedOms, market: Market
) -> None:
    """A book swept bare on one side leaves no mid; orders are not refused for it."""
    # an order while both sides are quoted: the engine sees a mid
    await routed_oms.orders.SubmitOrder(
        limit_buy("before-sweep", quantity="10", limit_price="190.02"), metadata=MD
    )
    for venue in market.simulators:
        bids_only = v.BookSnapshot(
            venue=venue, symbol="AAPL", bids=[v.BookLevel(price="189.99", size="500")]
        )
        await market.control(venue, v.SimulatorControl(set_book=bids_only))
    assert routed_oms.app is not None and routed_oms.app.connector is not None
    connector = routed_oms.app.connector
    await eventually(
        lambda: all(not b.asks for b in connector.books("AAPL").values()),
        message="the OMS sees no asks anywhere",
    )
    reply = await routed_oms.orders.SubmitOrder(
        limit_buy("after-sweep", quantity="10", limit_price="190.00"), metadata=MD
    )
    assert reply.order.state in (common_pb2.ORDER_STATE_NEW, common_pb2.ORDER_STATE_PENDING_NEW)
