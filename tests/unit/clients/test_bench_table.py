"""oms-bench's table: CPU per order beside the echo's CPU per call."""

from __future__ import annotations

from typing import Any

from clients.bench.table import rows_for


def latency(p50: float) -> dict[str, float]:
    return {"p50_ms": p50, "p90_ms": p50, "p99_ms": p50, "p999_ms": p50, "count": 1}


def closed(
    throughput: float, server_cores: float | None, wakeups_per_s: float | None = None
) -> dict[str, Any]:
    return {
        "throughput_per_s": throughput,
        "latency": latency(1.0),
        "errors": {},
        "server_cpu_cores": server_cores,
        "client_cpu_cores": 0.5,
        "server_wakeups_per_s": wakeups_per_s,
    }


def test_submit_shows_server_cpu_per_order_beside_the_echo_per_call() -> None:
    result = {
        "concurrency": 50,
        "throughput_ratio": 0.25,
        "result": closed(throughput=800.0, server_cores=0.96),
        "baseline": closed(throughput=3200.0, server_cores=0.96),
    }
    rows = {row.figure: row for row in rows_for({"submit": result})}
    cpu = rows["server CPU per order (ms)"]
    assert (cpu.value, cpu.baseline, cpu.ratio) == ("1.200", "0.300 per call", "4.00x")


def test_no_cpu_figure_without_a_server_pid() -> None:
    run = closed(throughput=800.0, server_cores=None)
    result = {"concurrency": 50, "throughput_ratio": 0.25, "result": run, "baseline": run}
    figures = [row.figure for row in rows_for({"submit": result})]
    assert "server CPU per order (ms)" not in figures
    assert "server wake-ups per order" not in figures


def test_submit_shows_server_wake_ups_per_order_beside_the_echo_per_call() -> None:
    result = {
        "concurrency": 50,
        "throughput_ratio": 0.25,
        "result": closed(throughput=800.0, server_cores=0.96, wakeups_per_s=8_000.0),
        "baseline": closed(throughput=3200.0, server_cores=0.96, wakeups_per_s=6_400.0),
    }
    rows = {row.figure: row for row in rows_for({"submit": result})}
    wakeups = rows["server wake-ups per order"]
    assert (wakeups.value, wakeups.baseline, wakeups.ratio) == ("10.0", "2.0 per call", "5.00x")


def sustained(aborted_after_s: float | None, growth: float) -> dict[str, Any]:
    return {
        "rate_per_s": 1000.0,
        "achieved_rate_per_s": 1000.0 if aborted_after_s is None else 100.0,
        "send_rate_per_s": 1000.0,
        "duration_s": 60.0,
        "aborted_after_s": aborted_after_s,
        "final": 10,
        "checks": {
            "not_accepted": 0,
            "sent": 10,
            "all_final": True,
            "stream_trades": 30,
            "store_fill_qty": "30",
            "nothing_lost": True,
        },
        "memory": {"start_bytes": 100 << 20, "end_bytes": 105 << 20, "growth": growth},
        "latency": latency(1.0),
        "baseline": closed(throughput=1000.0, server_cores=0.5),
        "p50_ratio": 1.0,
        "server_cpu_cores": 1.0,
    }


def test_memory_passes_only_over_a_run_that_kept_up() -> None:
    kept_up = {r.figure: r for r in rows_for({"sustained": sustained(None, 0.05)})}
    gave_up = {r.figure: r for r in rows_for({"sustained": sustained(8.6, 0.05)})}
    assert kept_up["server RSS start → end"].status == "PASS"
    assert gave_up["server RSS start → end"].status == "MISS"
    assert "over only 8.6 s" in gave_up["server RSS start → end"].value


def test_cpu_per_order_of_an_open_loop_counts_the_orders_sent_while_measured() -> None:
    rows = {r.figure: r for r in rows_for({"sustained": sustained(8.6, 0.05)})}
    assert rows["server CPU per order (ms)"].value == "1.000"  # 1 core at 1,000 sent/s
