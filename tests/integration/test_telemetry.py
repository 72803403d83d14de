"""What an operator watches, from a real `oms up`: the Prometheus endpoint's latency
histograms and per-method gRPC figures, refusals counted, JSON logs, reflection v1."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from prometheus_client.parser import text_string_to_metric_families

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

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(90)]

READY_TIMEOUT_S = 30.0
ISO_UTC_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
V1_REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


@dataclass
class Up:
    """`oms up` with a metrics endpoint and JSON logs, and an admin token for it."""

    process: asyncio.subprocess.Process
    target: str
    channel: grpc.aio.Channel
    metadata: tuple[tuple[str, str], ...]
    metrics_url: str
    log_file: Path

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics as (name, sorted labels) -> value."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as reply:
            text = reply.read().decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }


def sample(samples: dict, name: str, **labels: str) -> float:
    """The value of ``name`` with exactly ``labels`` (0 when absent)."""
    return float(samples.get((name, tuple(sorted(labels.items()))), 0.0))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def up(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Up]:
    workdir = tmp_path_factory.mktemp("telemetry")
    port, metrics_port = free_port(), free_port()
    unset = ("NATS_URL", "OMS_DB_URL", "OMS_AUTH_SECRET", "OTEL_TRACES_EXPORTER")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env |= {
        "OMS_GRPC_ADDR": f"127.0.0.1:{port}",
        "OMS_STATE_DIR": str(workdir / "state"),
        "OMS_METRICS_ADDR": f"127.0.0.1:{metrics_port}",
        "OMS_LOG_FORMAT": "json",
        "OMS_FIX_ADDR": "off",
    }
    log_file = workdir / "stderr.log"
    with log_file.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "oms_server.cli", "--log-level", "info", "up",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    try:
        assert process.stdout is not None
        await asyncio.wait_for(read_until_ready(process.stdout), READY_TIMEOUT_S)
        code, token, _ = await oms_token(env, "--role", "admin")
        assert code == 0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Up(
                process,
                f"127.0.0.1:{port}",
                channel,
                (("authorization", f"Bearer {token}"),),
                f"http://127.0.0.1:{metrics_port}/metrics",
                log_file,
            )
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 20)


async def test_metrics_show_latency_histograms_and_grpc_calls_after_orders(up: Up) -> None:
    orders = order_service_pb2_grpc.OrderServiceStub(up.channel)
    quotes = market_data_service_pb2_grpc.MarketDataServiceStub(up.channel)

    async def ask() -> str:
        request = market_data_service_pb2.GetQuoteRequest(symbol="AAPL")
        return (await quotes.GetQuote(request, metadata=up.metadata)).quote.ask_price

    best_ask = Decimal(await eventually(ask, message="a consolidated ask"))
    # A live report stream, read while the orders go in: their reports reach it live.
    stream = orders.StreamExecutionReports(
        pb.StreamExecutionReportsRequest(account_id="DEMO", from_sequence=0),
        metadata=up.metadata,
    )
    reports: list[object] = []
    reader = asyncio.ensure_future(_read_into(stream, reports))
    order_ids = []
    for n in range(3):
        request = limit_buy(
            f"metrics-{n}",
            account_id="DEMO",
            quantity="100",
            limit_price=str(best_ask + Decimal("0.05")),
            time_in_force=common_pb2.TIME_IN_FORCE_IOC,
        )
        order_ids.append((await orders.SubmitOrder(request, metadata=up.metadata)).order.order_id)

    async def all_final() -> bool:
        for order_id in order_ids:
            got = await orders.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=up.metadata)
            if got.order.state not in FINAL_STATES:
                return False
        return True

    await eventually(all_final, message="the orders final")

    def histograms_counted() -> dict | None:
        samples = up.scrape()
        names = ("oms_submit_to_ack_seconds", "oms_route_to_fill_seconds", "oms_commit_seconds")
        names += ("oms_stream_lag_seconds",)
        counted = all(sample(samples, f"{name}_count") > 0 for name in names)
        return samples if counted else None

    samples = await eventually(histograms_counted, message="every latency histogram counted")
    assert reports, "the stream saw the orders' reports"
    stream.cancel()
    reader.cancel()
    assert sample(samples, "oms_submit_to_ack_seconds_count") >= 3
    # Buckets are cumulative: every accepted order is in the +Inf bucket.
    inf = sample(samples, "oms_submit_to_ack_seconds_bucket", le="+Inf")
    assert inf == sample(samples, "oms_submit_to_ack_seconds_count")
    assert sample(samples, "oms_submit_to_ack_seconds_sum") > 0
    submit = {
        "grpc_type": "unary",
        "grpc_service": "oms.v1.OrderService",
        "grpc_method": "SubmitOrder",
        "grpc_code": "OK",
    }
    assert sample(samples, "grpc_server_handled_total", **submit) >= 3
    assert sample(samples, "grpc_server_handling_seconds_count", **submit) >= 3
    get_order = submit | {"grpc_method": "GetOrder"}
    assert sample(samples, "grpc_server_handled_total", **get_order) >= 3


async def test_public_health_checks_are_counted_too(up: Up) -> None:
    check = {
        "grpc_type": "unary",
        "grpc_service": "grpc.health.v1.Health",
        "grpc_method": "Check",
        "grpc_code": "OK",
    }
    before = sample(up.scrape(), "grpc_server_handled_total", **check)
    await health_pb2_grpc.HealthStub(up.channel).Check(health_pb2.HealthCheckRequest())
    after = sample(up.scrape(), "grpc_server_handled_total", **check)
    assert after == before + 1


async def _read_into(stream: AsyncIterator[object], reports: list[object]) -> None:
    async for reply in stream:
        reports.append(reply)


async def test_a_refused_order_counts_by_reason_field_and_status(up: Up) -> None:
    orders = order_service_pb2_grpc.OrderServiceStub(up.channel)
    refusal = {"reason": "INVALID_FIELD", "field": "limit_price"}
    invalid = {
        "grpc_type": "unary",
        "grpc_service": "oms.v1.OrderService",
        "grpc_method": "SubmitOrder",
        "grpc_code": "INVALID_ARGUMENT",
    }
    before = up.scrape()
    request = limit_buy("refused-1", account_id="DEMO", quantity="100", limit_price="12abc")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await orders.SubmitOrder(request, metadata=up.metadata)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    after = up.scrape()
    name = "oms_order_validation_refusals_total"
    assert sample(after, name, **refusal) == sample(before, name, **refusal) + 1
    handled = "grpc_server_handled_total"
    assert sample(after, handled, **invalid) == sample(before, handled, **invalid) + 1


async def test_json_log_lines_carry_iso_utc_times_and_ids(up: Up) -> None:
    orders = order_service_pb2_grpc.OrderServiceStub(up.channel)
    await orders.CancelAllOrders(pb.CancelAllOrdersRequest(account_id="DEMO"), metadata=up.metadata)

    def entries() -> list[dict] | None:
        lines = up.log_file.read_text().splitlines()
        parsed = [json.loads(line) for line in lines if line.strip()]
        mass_cancel = [e for e in parsed if e["message"].startswith("mass cancel of DEMO")]
        return parsed if mass_cancel else None

    logged = await eventually(entries, message="the mass cancel logged")
    now = datetime.now(UTC)
    for entry in logged:
        assert ISO_UTC_MS.match(entry["time"]), entry
        moment = datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert now - timedelta(minutes=5) < moment <= now + timedelta(seconds=1)
        assert {"level", "logger", "message"} <= entry.keys()
    cancel = next(e for e in logged if e["message"].startswith("mass cancel of DEMO"))
    assert cancel["account_id"] == "DEMO"
    opened = next(e for e in logged if e["message"].startswith("opened account DEMO"))
    assert opened["account_id"] == "DEMO"
    venue_up = [e for e in logged if e["message"].startswith("venue ALPHA up")]
    assert venue_up and venue_up[0]["venue"] == "ALPHA"


async def test_reflection_v1_lists_every_service(up: Up) -> None:
    call = up.channel.stream_stream(
        V1_REFLECTION,
        # grpc.reflection.v1 and v1alpha are the same messages: these bytes are v1's.
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")
        yield reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="grpc.reflection.v1.ServerReflection"
        )

    answers = [answer async for answer in call(ask())]
    names = {s.name for s in answers[0].list_services_response.service}
    assert {
        "oms.v1.OrderService",
        "oms.v1.AccountService",
        "oms.v1.MarketDataService",
        "oms.v1.AdminService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names
    assert answers[1].file_descriptor_response.file_descriptor_proto, answers[1]


@pytest.mark.skipif(shutil.which("buf", path=str(Path(sys.executable).parent)) is None,
                    reason="buf (buf-bin, a dev dependency) is not installed")  # fmt: skip
async def test_buf_curl_lists_the_methods_over_reflection_v1_only(up: Up) -> None:
    buf = shutil.which("buf", path=str(Path(sys.executable).parent))
    assert buf is not None
    process = await asyncio.create_subprocess_exec(
        buf, "curl", "--protocol", "grpc", "--http2-prior-knowledge",
        "--reflect-protocol", "grpc-v1", "--list-methods", f"http://{up.target}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert "oms.v1.OrderService/SubmitOrder" in out.decode().split()
