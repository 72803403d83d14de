"""`oms up` as users run it: one process, embedded NATS, venues, OMS; SIGTERM ends it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.oms.v1 import (
    common_pb2,
    market_data_service_pb2,
    market_data_service_pb2_grpc,
    order_service_pb2_grpc,
)
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.oms_up import oms_token, read_until_ready
from tests.support.orders import limit_buy
from tests.support.process import free_port
from tests.support.reports import FINAL_STATES
from tests.support.waiting import eventually

READY_TIMEOUT_S = 30.0


def children_of(pid: int) -> set[int]:
    """Every descendant process of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def still_running(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


async def test_oms_token_refuses_to_invent_a_secret_no_server_uses(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OMS_AUTH_SECRET", "OMS_STATE_DIR")}
    env["OMS_STATE_DIR"] = str(tmp_path / "state")
    code, out, err = await oms_token(env, "--role", "admin")
    assert code == 1
    assert out == ""
    assert "no signing secret" in err and "oms up" in err and "OMS_STATE_DIR" in err
    assert "Traceback" not in err
    assert not (tmp_path / "state").exists()


async def test_oms_up_serves_fills_an_order_and_stops_cleanly(tmp_path: Path) -> None:
    port, fix_port = free_port(), free_port()
    unset = ("NATS_URL", "OMS_DB_URL", "OMS_AUTH_SECRET")
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env |= {
        "OMS_GRPC_ADDR": f"127.0.0.1:{port}",
        "OMS_STATE_DIR": str(tmp_path / "state"),
        "OMS_DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'oms.db'}",
        "OMS_FIX_ADDR": f"127.0.0.1:{fix_port}",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "oms_server.cli", "--log-level", "warning", "up",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        printed = await asyncio.wait_for(read_until_ready(process.stdout), READY_TIMEOUT_S)
        assert printed["grpc"] == f"127.0.0.1:{port}"
        assert printed["fix"] == f"127.0.0.1:{fix_port} (FIX 4.4, TargetCompID OMS)"
        assert "(embedded)" in printed["nats"]
        assert printed["venues"] == "ALPHA, BRAVO, CHARLIE"
        # The banner says how to get a token and prints none; `oms token` run with the same
        # OMS_STATE_DIR signs with the secret the server made there.
        assert "oms token --role admin" in printed["token"]
        assert "eyJ" not in "".join(printed.values())
        code, token, _ = await oms_token(env, "--role", "admin")
        assert code == 0
        metadata = (("authorization", f"Bearer {token}"),)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest()
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            quotes = market_data_service_pb2_grpc.MarketDataServiceStub(channel)

            async def ask() -> str:
                reply = await quotes.GetQuote(
                    market_data_service_pb2.GetQuoteRequest(symbol="AAPL"), metadata=metadata
                )
                return reply.quote.ask_price

            best_ask = Decimal(await eventually(ask, message="a consolidated ask"))
            orders = order_service_pb2_grpc.OrderServiceStub(channel)
            request = limit_buy(
                "up-1",
                account_id="DEMO",
                quantity="100",
                limit_price=str(best_ask + Decimal("0.05")),
                time_in_force=common_pb2.TIME_IN_FORCE_IOC,
            )
            order = (await orders.SubmitOrder(request, metadata=metadata)).order

            async def done() -> object:
                got = await orders.GetOrder(
                    pb.GetOrderRequest(order_id=order.order_id), metadata=metadata
                )
                return got.order if got.order.state in FINAL_STATES else None

            final = await eventually(done, message="the order final")
            assert Decimal(final.cum_qty) > 0
        descendants = children_of(process.pid)
        assert descendants, "oms up should run nats-server as a child"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
        assert still_running(descendants) == set()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
