"""oms-bench's split of submit→final latency into stages, from the reports' transact times."""

from __future__ import annotations

import time

import pytest

from clients.bench.config import BenchConfig, ExternalTarget
from clients.bench.table import rows_for
from clients.bench.tracking import OrderTracker
from protos.oms.v1 import common_pb2, order_pb2

MS = 1_000_000


def report(cid: str, exec_type: int, state: int, transact_ns: int) -> order_pb2.ExecutionReport:
    message = order_pb2.ExecutionReport(
        client_order_id=cid,
        order_id=f"o-{cid}",
        exec_type=exec_type,
        order_state=state,
        last_qty="100" if exec_type == common_pb2.EXEC_TYPE_TRADE else "0",
        last_venue="XNAS",
    )
    message.transact_time.FromNanoseconds(transact_ns)
    return message


def follow(tracker: OrderTracker, accepted_after_ms: int, done_after_ms: int) -> None:
    """An order scheduled now, accepted and filled by the OMS at the given offsets."""
    scheduled = time.perf_counter_ns()
    wall = time.time_ns()
    tracker.expect("c1", scheduled)
    new, trade = common_pb2.EXEC_TYPE_NEW, common_pb2.EXEC_TYPE_TRADE
    tracker.on_report(report("c1", new, common_pb2.ORDER_STATE_NEW, wall + accepted_after_ms * MS))
    tracker.on_report(report("c1", trade, common_pb2.ORDER_STATE_FILLED, wall + done_after_ms * MS))


def test_the_stages_split_an_orders_latency_at_its_new_and_final_reports() -> None:
    tracker = OrderTracker(None, "A", ())  # type: ignore[arg-type] # no stream is opened
    # transact times a little in the past, so the final report has already "arrived" late
    follow(tracker, accepted_after_ms=-40, done_after_ms=-30)
    stages = tracker.stages.summaries()
    assert stages["working"]["p50_ms"] == pytest.approx(10.0, rel=0.01)  # HDR: 3 digits
    assert 30.0 <= stages["delivered"]["p50_ms"] < 30.0 + 1_000
    # scheduled "now", accepted 40 ms before: a negative span counts as the smallest one
    assert stages["accepted"]["p50_ms"] <= 0.001
    assert tracker.latency.count == 1


def test_an_order_never_accepted_has_no_working_stage() -> None:
    tracker = OrderTracker(None, "A", ())  # type: ignore[arg-type]
    tracker.expect("c1", time.perf_counter_ns())
    rejected = common_pb2.EXEC_TYPE_REJECTED
    tracker.on_report(report("c1", rejected, common_pb2.ORDER_STATE_REJECTED, time.time_ns()))
    stages = tracker.stages.summaries()
    assert stages["working"]["count"] == 0
    assert stages["delivered"]["count"] == 1


def test_the_table_shows_each_stage_p50_and_p99() -> None:
    tracker = OrderTracker(None, "A", ())  # type: ignore[arg-type]
    follow(tracker, accepted_after_ms=-40, done_after_ms=-30)
    result = {
        "rate_per_s": 500.0,
        "latency": tracker.latency.summary().as_dict(),
        "latency_stages": tracker.stages.summaries(),
        "baseline": {"latency": tracker.latency.summary().as_dict()},
        "p50_ratio": 1.0,
        "p99_ratio": 1.0,
        "sent": 1,
        "final": 1,
        "accepted": 1,
        "venues_per_order": {"3": 1},
        "server_cpu_cores": None,
        "errors": {},
    }
    rows = {row.figure: row.value for row in rows_for({"e2e": result})}
    p50 = rows["p50 by stage: accepted / working / delivered"]
    accepted, working, delivered = (float(v) for v in p50.removesuffix(" ms").split(" / "))
    assert accepted == 0.0
    assert working == pytest.approx(10.0, rel=0.01)
    assert delivered >= 30.0
    result["latency_stages"] = None  # the OMS on another host: no split
    assert not any("by stage" in figure for figure in (r.figure for r in rows_for({"e2e": result})))


def test_only_an_oms_on_this_host_shares_its_clock() -> None:
    def config(address: str | None) -> BenchConfig:
        external = ExternalTarget(address, "token") if address else None
        return BenchConfig(scenarios=("e2e",), external=external)

    assert config(None).clock_shared
    assert config("127.0.0.1:50051").clock_shared
    assert config("localhost:50051").clock_shared
    assert config("[::1]:50051").clock_shared
    assert not config("oms.internal:50051").clock_shared
