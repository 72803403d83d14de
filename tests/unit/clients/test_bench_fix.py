"""oms-bench's FIX client against the bare QuickFIX echo, and the `fix` rows' verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clients.bench.fix_client import LimitOrder, decode, encode, fix_sessions
from clients.bench.scenarios.fix import LOOPBACK, started_fix_echo
from clients.bench.table import rows_for
from clients.fix.engine import fix
from clients.sdk.errors import OmsError

pytestmark = pytest.mark.timeout(60)


def test_quickfix_reads_what_the_bench_client_encodes() -> None:
    raw = encode([(35, "D"), (49, "B"), (56, "OMS"), (34, "7"), (11, "c1"), (44, "50.00")])
    message = fix.Message(raw.decode(), True)  # checks BodyLength and CheckSum
    assert message.getField(11) == "c1"
    assert message.getHeader().getField(34) == "7"
    assert decode(raw)[44] == "50.00"
    with pytest.raises(fix.InvalidMessage):
        fix.Message(raw[:-4].decode() + "000\x01", True)


def order(cl_ord_id: str) -> LimitOrder:
    return LimitOrder(cl_ord_id, "ACC1", "BNCH", "1", "1", "50.00")


async def test_every_order_gets_its_own_execution_report_from_the_echo(tmp_path: Path) -> None:
    senders = ["B0", "B1"]
    async with (
        started_fix_echo(tmp_path, senders) as echo,
        fix_sessions(LOOPBACK, echo.port, senders, ["t0", "t1"]) as sessions,
    ):
        reports = [await sessions[i % 2].new_order(order(f"c{i}")) for i in range(20)]
    assert [r[11] for r in reports] == [f"c{i}" for i in range(20)]
    assert {(r[35], r[150], r[39], r[151]) for r in reports} == {("8", "0", "0", "1")}
    assert echo.exit_code == 0


async def test_a_session_the_acceptor_does_not_know_fails_to_log_on(tmp_path: Path) -> None:
    async with started_fix_echo(tmp_path, ["B0"]) as echo:
        with pytest.raises(OmsError):
            async with fix_sessions(LOOPBACK, echo.port, ["STRANGER"], ["t"]):
                pass


def loop(throughput: float, p50: float, errors: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "ok": 100,
        "throughput_per_s": throughput,
        "latency": {"p50_ms": p50, "p90_ms": p50, "p99_ms": p50, "p999_ms": p50},
        "errors": errors or {},
    }


def fix_result(gateway_rate: float, fix_p50: float, grpc_p50: float) -> dict[str, Any]:
    return {
        "sessions": 8,
        "window": 4,
        "result": loop(gateway_rate, 5.0),
        "baseline": loop(1000.0, 1.0),
        "throughput_ratio": gateway_rate / 1000.0,
        "unary": loop(800.0, 4.0),
        "unary_ratio": gateway_rate / 800.0,
        "interleaved_slices": 2,
        "rate_per_s": 200.0,
        "open_fix": loop(200.0, fix_p50),
        "open_grpc": loop(200.0, grpc_p50),
        "p50_added_ms": fix_p50 - grpc_p50,
        "exit_codes": {"oms fix": 0, "fix echo": 0},
    }


def verdicts(result: dict[str, Any]) -> tuple[str, str]:
    rows = {row.figure.split(",")[0]: row for row in rows_for({"fix": result})}
    return (
        rows["FIX gateway vs bare QuickFIX echo"].status,
        rows["FIX gateway adds to the gRPC path at 200 orders/s"].status,
    )


def test_half_the_echos_round_trips_and_under_2_ms_added_pass() -> None:
    assert verdicts(fix_result(gateway_rate=600.0, fix_p50=4.5, grpc_p50=3.0)) == ("PASS", "PASS")


def test_fewer_round_trips_or_2_ms_added_miss() -> None:
    assert verdicts(fix_result(gateway_rate=400.0, fix_p50=5.0, grpc_p50=3.0)) == ("MISS", "MISS")


def test_a_fix_process_that_did_not_stop_cleanly_is_an_error() -> None:
    result = fix_result(gateway_rate=600.0, fix_p50=4.5, grpc_p50=3.0)
    result["exit_codes"] = {"oms fix": -9, "fix echo": 0}
    rows = [row for row in rows_for({"fix": result}) if row.status == "ERROR"]
    assert [(row.figure, row.value) for row in rows] == [
        ("FIX processes stopped cleanly", "oms fix: -9")
    ]
