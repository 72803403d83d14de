"""Broker restart: nats-server stops and starts again (JetStream store kept) while orders flow.

An in-process OMS routes marketable IOC buys to three simulated venues over a real
nats-server; a background task submits them through the gRPC API at a steady pace
(retrying under the same client_order_id when the OMS answers UNAVAILABLE). Mid-flow
the broker is restarted gracefully once, then killed (SIGKILL) and kept down while
orders keep coming, then started again on the same port and store. Then:

- every submission was acknowledged once: one order per client_order_id;
- every order reaches a final state (none stuck in flight);
- routing resumes by itself: the opened breaker closes again after the restart, with
  no operator action, and orders sent afterwards all fill;
- nothing lost, nothing doubled: each child the venues know is stored once with the
  venue's filled quantity, the stored venue fills are exactly the fills the
  simulators made, and the parents' cum_qty adds up to the stored fill quantity.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import grpc
from sqlalchemy import func, select

from oms_server.store import schema
from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from router.circuit_breaker import BreakerState
from tests.support.fixtures import call_metadata
from tests.support.market import Market, RoutedOms
from tests.support.orders import limit_buy
from tests.support.reports import final_states, stored_trade_executions
from tests.support.waiting import eventually
from venues.nats_runtime import EmbeddedNats
from venues.sim.events import OrderStatusReport

log = logging.getLogger(__name__)

MD = call_metadata()
#: Orders submitted while the broker is bounced, and after it is back.
ORDERS = 300
ORDERS_AFTER = 20
#: A graceful restart (SIGTERM, start on the same port) once this many orders are acked.
GRACEFUL_RESTART_AT = 80
#: Then a crash (SIGKILL) at this many; the broker stays down until the circuit breaker
#: of a venue the orders went to has opened (its children went unanswered), so that
#: routing has really stopped there and resuming it is tested.
CRASH_AT = 120
#: Pace of the flow: one new order every this many seconds, so the flow spans the restarts.
SUBMIT_INTERVAL_S = 0.015
CONCURRENCY = 8
#: Above every ask of the static AAPL books (190.01 .. 190.04), so every buy is marketable.
MARKETABLE = "190.05"
CALL_TIMEOUT_S = 5.0
RETRY_PAUSE_S = 0.05
#: Bounds of the waits (the whole test stays well inside the 60 s per-test timeout).
RESTART_TIMEOUT_S = 20.0
OUTAGE_TIMEOUT_S = 15.0
FLOW_TIMEOUT_S = 30.0
FINAL_TIMEOUT_S = 25.0
RESUME_TIMEOUT_S = 15.0
DRAIN_TIMEOUT_S = 20.0


def ioc_buy(client_order_id: str, quantity: int) -> pb.SubmitOrderRequest:
    return limit_buy(
        client_order_id,
        quantity=str(quantity),
        limit_price=MARKETABLE,
        time_in_force=common_pb2.TIME_IN_FORCE_IOC,
    )


@dataclass
class Flow:
    """Orders submitted through the API, with what it took to get them acknowledged."""

    acked: dict[str, str] = field(default_factory=dict)
    retries: int = 0


async def submit_until_acked(oms: RoutedOms, request: pb.SubmitOrderRequest, flow: Flow) -> None:
    """Submit; on UNAVAILABLE (or a deadline) retry under the same client_order_id."""
    while True:
        try:
            reply = await oms.orders.SubmitOrder(request, metadata=MD, timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            flow.retries += 1
            await asyncio.sleep(RETRY_PAUSE_S)  # backoff before the retry
            continue
        flow.acked[request.client_order_id] = reply.order.order_id
        return


async def submit_paced(oms: RoutedOms, requests: list[pb.SubmitOrderRequest], flow: Flow) -> None:
    """Start one submission every SUBMIT_INTERVAL_S, at most CONCURRENCY in flight."""
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(request: pb.SubmitOrderRequest) -> None:
        try:
            await submit_until_acked(oms, request, flow)
        finally:
            slots.release()

    tasks = []
    for request in requests:
        await slots.acquire()
        tasks.append(asyncio.create_task(one(request)))
        await asyncio.sleep(SUBMIT_INTERVAL_S)  # load shaping, not synchronization
    await asyncio.gather(*tasks)


async def acked_at_least(flow: Flow, flowing: asyncio.Task[None], count: int) -> None:
    await eventually(
        lambda: len(flow.acked) >= count or flowing.done(),
        timeout_s=FLOW_TIMEOUT_S,
        message=f"{count} orders acknowledged",
    )


async def kill_broker(nats_server: EmbeddedNats) -> None:
    """SIGKILL nats-server: no shutdown, clients see the connection drop."""
    assert nats_server.pid is not None
    os.kill(nats_server.pid, signal.SIGKILL)
    await eventually(lambda: not nats_server.running, message="nats-server gone")


def breaker_states(oms: RoutedOms, market: Market) -> set[BreakerState]:
    assert oms.app is not None and oms.app.connector is not None
    return {oms.app.connector.breaker(venue).state for venue in market.simulators}


def breakers_closed(oms: RoutedOms, market: Market) -> bool:
    return breaker_states(oms, market) == {BreakerState.CLOSED}


async def stored_children(oms: RoutedOms) -> dict[str, tuple[str, Decimal]]:
    """child_order_id -> (venue, cum_qty) as the OMS stored them."""
    assert oms.app is not None and oms.app.store is not None
    c = schema.child_orders.c
    async with oms.app.store.engine.connect() as conn:
        rows = (await conn.execute(select(c.child_order_id, c.venue, c.cum_qty))).all()
    return {child_id: (venue, Decimal(cum)) for child_id, venue, cum in rows}


async def stored_quantities(oms: RoutedOms) -> tuple[Decimal, Decimal, int]:
    """(total TRADE execution quantity, total parent cum_qty, duplicate execution keys)."""
    assert oms.app is not None and oms.app.store is not None
    x, o = schema.executions.c, schema.orders.c
    async with oms.app.store.engine.connect() as conn:
        fills = (await conn.execute(select(x.last_qty).where(x.exec_type == "TRADE"))).all()
        cums = (await conn.execute(select(o.cum_qty))).all()
        dupes = (
            await conn.execute(
                select(x.venue, x.exec_id).group_by(x.venue, x.exec_id).having(func.count() > 1)
            )
        ).all()
    executed = sum((Decimal(q) for (q,) in fills), Decimal(0))
    parents = sum((Decimal(q) for (q,) in cums), Decimal(0))
    return executed, parents, len(dupes)


def venue_children(market: Market) -> dict[str, tuple[str, OrderStatusReport]]:
    """child_order_id -> (venue, status with every fill) as the simulators know them."""
    known = {}
    for name, simulator in market.simulators.items():
        for status in simulator.engine.statuses():
            known[status.order_id] = (name, status)
    return known


async def test_broker_restarts_while_orders_flow_lose_and_double_nothing(
    nats_server: EmbeddedNats, market: Market, routed_oms: RoutedOms
) -> None:
    rng = random.Random(31)
    requests = [ioc_buy(f"flow-{i}", rng.randint(1, 8)) for i in range(ORDERS)]
    flow = Flow()
    flowing = asyncio.create_task(submit_paced(routed_oms, requests, flow))
    await acked_at_least(flow, flowing, GRACEFUL_RESTART_AT)
    started = time.monotonic()
    await asyncio.wait_for(nats_server.restart(), RESTART_TIMEOUT_S)
    outages = [round(time.monotonic() - started, 3)]
    await acked_at_least(flow, flowing, CRASH_AT)
    started, acked_before = time.monotonic(), len(flow.acked)
    await kill_broker(nats_server)
    await eventually(
        lambda: BreakerState.OPEN in breaker_states(routed_oms, market),
        timeout_s=OUTAGE_TIMEOUT_S,
        message="a venue taken out of routing",
    )
    acked_during_outage = len(flow.acked) - acked_before
    await asyncio.wait_for(nats_server.restart(), RESTART_TIMEOUT_S)
    outages.append(round(time.monotonic() - started, 3))
    assert acked_during_outage > 0  # orders kept coming while the broker was down
    await asyncio.wait_for(flowing, FLOW_TIMEOUT_S)
    order_ids = [flow.acked[r.client_order_id] for r in requests]
    assert len(set(order_ids)) == ORDERS  # retries under one client_order_id: one order each
    states = await final_states(routed_oms, order_ids, FINAL_TIMEOUT_S)

    # Routing resumes by itself: the breakers close and new orders fill.
    await eventually(
        lambda: breakers_closed(routed_oms, market),
        timeout_s=RESUME_TIMEOUT_S,
        message="every venue routable again",
    )
    after = Flow()
    await asyncio.wait_for(
        asyncio.gather(
            *(
                submit_until_acked(routed_oms, ioc_buy(f"after-{i}", 5), after)
                for i in range(ORDERS_AFTER)
            )
        ),
        FLOW_TIMEOUT_S,
    )
    after_states = await final_states(routed_oms, list(after.acked.values()), FINAL_TIMEOUT_S)
    assert after_states == Counter({common_pb2.ORDER_STATE_FILLED: ORDERS_AFTER})

    # Nothing lost, nothing doubled.
    await eventually(
        market.exec_consumer_drained, timeout_s=DRAIN_TIMEOUT_S, message="every report acked"
    )
    fills_made = market.fills_made()
    await eventually(
        lambda: _stored_fills_equal(routed_oms, fills_made),
        timeout_s=DRAIN_TIMEOUT_S,
        message=f"{fills_made} venue fills stored",
    )
    stored = await stored_children(routed_oms)
    at_venues = venue_children(market)
    for child_id, (venue, status) in at_venues.items():
        assert child_id in stored, f"{venue} has child {child_id} the OMS never stored"
        assert stored[child_id] == (venue, status.cum_qty), child_id
    unknown_at_venues = {c: v for c, v in stored.items() if c not in at_venues}
    assert all(cum == 0 for _, cum in unknown_at_venues.values()), unknown_at_venues
    venue_quantity = sum(
        (fill.last_qty for _, status in at_venues.values() for fill in status.fills), Decimal(0)
    )
    executed, parents, duplicates = await stored_quantities(routed_oms)
    assert duplicates == 0
    assert executed == venue_quantity == parents
    assert routed_oms.app is not None and routed_oms.app.connector is not None
    log.info(
        "broker restart: %d orders (+%d after), %d restarts (outages %s s, %d orders acked "
        "while down), %d submit retries, "
        "final states %s, %d children (%d never reached a venue, %d resent by reconciliation), "
        "%d fills of %s shares, lost 0, doubled 0",
        ORDERS,
        ORDERS_AFTER,
        len(outages),
        outages,
        acked_during_outage,
        flow.retries,
        {common_pb2.OrderState.Name(s): n for s, n in states.items()},
        len(stored),
        len(unknown_at_venues),
        routed_oms.app.engine.commands.reconcile_stats.resent_orders,
        fills_made,
        executed,
    )


async def _stored_fills_equal(oms: RoutedOms, expected: int) -> bool:
    return await stored_trade_executions(oms) == expected
