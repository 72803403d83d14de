"""Venue faults: duplicated reports never overfill, rejects surface, lost reports are recovered."""

from __future__ import annotations

import asyncio
import math
import time
from decimal import Decimal
from typing import Any

from oms_server.domain.decimals import average_price
from protos.oms.v1 import common_pb2, order_service_pb2
from protos.venue.v1 import venue_pb2 as v
from tests.support.fixtures import call_metadata
from tests.support.market import Market, RoutedOms
from tests.support.orders import limit_buy
from tests.support.reports import (
    all_final,
    final_order,
    order_events,
    stored_executions,
    stored_trade_executions,
)
from tests.support.waiting import eventually
from venues import subjects

MD = call_metadata()
DIRECT = common_pb2.ROUTING_STRATEGY_DIRECT


async def stored_equals(oms: RoutedOms, expected: int) -> bool:
    return await stored_trade_executions(oms) == expected


def direct_buy(client_id: str, venue: str, quantity: str = "10", price: str = "190.02") -> object:
    return limit_buy(
        client_id, quantity=quantity, limit_price=price, routing_strategy=DIRECT, venue=venue
    )


async def rest_at_alpha(
    oms: RoutedOms, market: Market, client_id: str, quantity: str, price: str
) -> Any:
    """Submit a buy routed to ALPHA and wait until it rests in ALPHA's book."""
    reply = await oms.orders.SubmitOrder(
        direct_buy(client_id, "ALPHA", quantity=quantity, price=price), metadata=MD
    )
    book = market.simulators["ALPHA"].engine
    await eventually(
        lambda: any(p == Decimal(price) for p, _ in book.top_of_book("AAPL", 10).bids),
        message=f"{client_id} resting at ALPHA",
    )
    return reply


async def test_duplicated_execution_reports_never_overfill(
    routed_oms: RoutedOms, market: Market
) -> None:
    await market.set_faults("ALPHA", duplicate=1.0)
    replies = await asyncio.gather(
        *(
            routed_oms.orders.SubmitOrder(direct_buy(f"d{i}", "ALPHA"), metadata=MD)
            for i in range(30)
        )
    )
    orders = await all_final(routed_oms, [r.order.order_id for r in replies])
    assert all(o.state == common_pb2.ORDER_STATE_FILLED for o in orders)
    assert all(o.cum_qty == "10" and o.leaves_qty == "0" for o in orders)
    made = market.simulators["ALPHA"].fills_made
    assert made >= 30
    await eventually(lambda: stored_equals(routed_oms, made), message="every venue fill stored")
    await eventually(lambda: market.exec_consumer_drained(), message="every report acked")
    assert await stored_trade_executions(routed_oms) == made
    assert routed_oms.app is not None and routed_oms.app.engine is not None
    assert routed_oms.app.engine.routing.ignored_reports > 0  # the duplicates, dropped once


async def test_a_venue_reject_gives_a_rejected_report_with_the_reason(
    routed_oms: RoutedOms, market: Market
) -> None:
    await market.set_faults("BRAVO", reject=1.0)
    reply = await routed_oms.orders.SubmitOrder(direct_buy("r1", "BRAVO"), metadata=MD)
    order = await final_order(routed_oms, reply.order.order_id)
    assert order.state == common_pb2.ORDER_STATE_REJECTED
    assert "simulated fault" in order.text
    events = await order_events(routed_oms, reply.order.order_id)
    assert events[-1].exec_type == common_pb2.EXEC_TYPE_REJECTED
    assert "simulated fault" in events[-1].text


async def test_dropped_reports_are_recovered_by_reconciliation(
    routed_oms: RoutedOms, market: Market
) -> None:
    await market.set_faults("ALPHA", drop=1.0)
    reply = await routed_oms.orders.SubmitOrder(
        direct_buy("lost1", "ALPHA", quantity="350", price="190.02"), metadata=MD
    )
    order = await final_order(routed_oms, reply.order.order_id)
    assert order.state == common_pb2.ORDER_STATE_FILLED
    expected = average_price(300 * Decimal("190.01") + 50 * Decimal("190.02"), Decimal(350))
    assert Decimal(order.avg_price) == expected
    assert market.simulators["ALPHA"].reports_dropped >= 3
    made = market.simulators["ALPHA"].fills_made
    await eventually(lambda: stored_equals(routed_oms, made), message="every venue fill stored")


async def test_a_lost_fill_of_a_resting_order_is_found_by_the_periodic_check(
    routed_oms: RoutedOms, market: Market
) -> None:
    reply = await rest_at_alpha(routed_oms, market, "rest-lost", "50", "190.00")
    alpha = market.simulators["ALPHA"]
    await market.set_faults("ALPHA", drop=1.0)
    from oms_server.domain.enums import OrderType, Side, TimeInForce
    from venues.sim.events import Owner
    from venues.sim.order_book import NewOrder

    hit = NewOrder(
        "hit-1",
        "AAPL",
        Side.SELL,
        OrderType.LIMIT,
        TimeInForce.IOC,
        Decimal("50"),
        Decimal("190.00"),
        Owner.MM,
    )
    alpha._emit(alpha.engine.submit(hit))
    order = await final_order(routed_oms, reply.order.order_id, timeout_s=30)
    assert order.state == common_pb2.ORDER_STATE_FILLED
    assert order.cum_qty == "50"


async def test_status_requests_are_bounded_and_a_probe_asks_about_one_id(
    routed_oms: RoutedOms, market: Market
) -> None:
    """A venue's reply must fit a NATS message however many children are open."""
    assert routed_oms.app is not None and routed_oms.app.connector is not None
    connector = routed_oms.app.connector
    connector._status_batch = 10  # small, so 35 children need several requests
    requests: list[list[str]] = []

    async def record(msg: object) -> None:
        request = v.OrderStatusRequest()
        request.ParseFromString(msg.data)  # type: ignore[attr-defined]
        requests.append(list(request.child_order_ids))

    watcher = await market.client.subscribe(subjects.status("ALPHA"), cb=record)  # type: ignore[union-attr]
    await asyncio.gather(
        *(
            routed_oms.orders.SubmitOrder(
                direct_buy(f"rest-{i}", "ALPHA", quantity="1", price="189.50"), metadata=MD
            )
            for i in range(35)
        )
    )
    await eventually(
        lambda: (
            market.simulators["ALPHA"].engine.top_of_book("AAPL", 10).bids[-1][0]
            == Decimal("189.50")
        ),
        message="children resting",
    )
    await connector.reconcile_open_children()
    await eventually(lambda: sum(len(r) for r in requests) >= 35, message="status requests")
    assert max(len(r) for r in requests) <= 10
    assert connector.breaker("ALPHA").state == "CLOSED"

    now = time.monotonic()
    for _ in range(3):
        connector.breaker("ALPHA").record_failure(now)
    assert connector.breaker("ALPHA").state == "OPEN"
    await eventually(
        lambda: connector.breaker("ALPHA").state == "CLOSED", timeout_s=15, message="probe"
    )
    assert ["probe"] in requests
    await watcher.unsubscribe()


async def test_the_sweep_checks_every_open_child_a_bounded_slice_at_a_time(
    routed_oms: RoutedOms, market: Market
) -> None:
    """Many resting orders must not mean as many status checks in one pass."""
    assert routed_oms.app is not None and routed_oms.app.connector is not None
    engine, connector = routed_oms.app.engine, routed_oms.app.connector
    assert engine is not None
    replies = await asyncio.gather(
        *(
            routed_oms.orders.SubmitOrder(
                direct_buy(f"sweep-{i}", "ALPHA", quantity="1", price="189.40"), metadata=MD
            )
            for i in range(25)
        )
    )
    parents = tuple(r.order.order_id for r in replies)
    alpha = market.simulators["ALPHA"]
    await eventually(
        lambda: dict(alpha.engine.top_of_book("AAPL", 10).bids).get(Decimal("189.40")) == 25,
        message="children resting",
    )
    open_now = len(engine.open_children())  # ours, and any earlier test's still resting
    passes = math.ceil(open_now / 10)
    slices = [[c.child_order_id for c in engine.sweep_slice(10)] for _ in range(passes)]
    swept = [i for s in slices for i in s]
    assert max(len(s) for s in slices) == 10 and len(swept) == len(set(swept)) == open_now
    assert len([i for i in swept if i.startswith(parents)]) == 25
    # the sweep has ended: the next one starts over, in the same order
    assert [c.child_order_id for c in engine.sweep_slice(10)] == slices[0]

    async def acks_stored() -> bool:  # each child's NEW acknowledgement, nothing else
        return await stored_executions(routed_oms) == 25

    await eventually(acks_stored, message="every acknowledgement stored")
    assert await connector.reconcile_open_children() == 25
    # every venue status agreed with what the OMS knew: nothing applied, nothing stored
    assert await stored_executions(routed_oms) == 25


async def test_a_cancel_the_venue_never_saw_is_sent_again(
    routed_oms: RoutedOms, market: Market
) -> None:
    reply = await rest_at_alpha(routed_oms, market, "cxl-lost", "20", "189.30")
    alpha = market.simulators["ALPHA"]
    alpha.go_dark(0.4)  # the cancel is lost on the way
    await routed_oms.orders.CancelOrder(
        order_service_pb2.CancelOrderRequest(order_id=reply.order.order_id), metadata=MD
    )
    order = await final_order(routed_oms, reply.order.order_id, timeout_s=20)
    assert order.state == common_pb2.ORDER_STATE_CANCELED
    assert order.cum_qty == "0"
    assert routed_oms.app is not None and routed_oms.app.connector is not None
    assert routed_oms.app.engine.commands.reconcile_stats.resent_cancels >= 1
    assert not any(p == Decimal("189.30") for p, _ in alpha.engine.top_of_book("AAPL", 10).bids)
