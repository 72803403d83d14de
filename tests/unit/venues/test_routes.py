"""Orders sent with a route (an OMS shard): their reports go to that route's subject only."""

from __future__ import annotations

import asyncio

import pytest

from oms_server import telemetry as tracing
from protos.venue.v1 import venue_pb2 as v
from tests.support.waiting import eventually
from tests.unit.venues.test_service import Reports, StubMsg, new_order, simulator
from venues import subjects
from venues.tasks import cancel_and_wait

pytestmark = pytest.mark.timeout(30)


def routed(child_id: str, route: str) -> v.OrderEnvelope:
    envelope = new_order(child_id, "190.01")
    envelope.new_order.route = route
    return envelope


async def test_each_route_gets_the_reports_of_its_own_orders_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tracing._TracingState, "enabled", False)
    sim, unrouted = simulator()
    shard_1, shard_2 = Reports(), Reports()
    sim._routed.update({"1": shard_1, "2": shard_2})  # type: ignore[dict-item]
    sim.latency_s = 0
    loop = asyncio.create_task(sim._order_loop())
    for envelope in (
        routed("a", "1"),
        routed("b", "2"),
        new_order("c", "190.01"),
        routed("d", "1"),
    ):
        await sim._on_order(StubMsg(envelope.SerializeToString()))  # type: ignore[arg-type]
    everyone = (unrouted, shard_1, shard_2)
    await eventually(lambda: sum(len(r.decoded()) for r in everyone) == 8, message="8 reports")
    await cancel_and_wait([loop], "order loop")
    assert {r.child_order_id for r in shard_1.decoded()} == {"a", "d"}
    assert {r.child_order_id for r in shard_2.decoded()} == {"b"}
    assert {r.child_order_id for r in unrouted.decoded()} == {"c"}
    # a later report of a routed order (its cancel refused) still finds the route
    sim._emit(sim.engine.cancel("a"))
    await eventually(lambda: len(shard_1.decoded()) == 5, message="the refusal on route 1")


def test_a_shard_reads_its_own_subjects_with_its_own_consumer() -> None:
    assert subjects.exec_reports("ALPHA") == "venue.ALPHA.exec"
    assert subjects.exec_reports("ALPHA", "2") == "venue.ALPHA.exec.2"
    assert subjects.oms_exec_filter() == subjects.EXEC_STREAM_SUBJECTS
    assert subjects.oms_exec_filter("2") == "venue.*.exec.2"
    assert subjects.oms_exec_consumer() == "oms-exec"
    assert subjects.oms_exec_consumer("2") == "oms-exec-2"
