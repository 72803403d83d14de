"""Admission no one can starve (issue 26), against the real gRPC server on loopback.

Before: grpc's ``maximum_concurrent_rpcs`` counted every call, so idle health Watch
streams with no token took every slot and Health.Check and admin Halt answered
RESOURCE_EXHAUSTED; one trader's idle report streams did the same to every other trader.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from oms_server.api.admission import DEFAULT_MAX_PUBLIC_STREAMS_PER_PEER, Admission, AdmissionLimits
from oms_server.api.auth import issue_token
from oms_server.app import OmsApp
from oms_server.config import Settings
from oms_server.domain.access import Role
from protos.oms.v1 import admin_service_pb2, admin_service_pb2_grpc
from protos.oms.v1 import order_service_pb2 as pb
from tests.support.fixtures import TEST_SECRET, RunningOms, call_metadata
from tests.support.orders import error_reason, limit_buy
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(60)

Code = grpc.StatusCode
#: Scaled from the issue's 1,000 to what CI bears.
WATCH_STREAMS = 200
#: A trader's stream cap in this test, and the slots there are for calls.
STREAMS_PER_PRINCIPAL = 8
CALL_SLOTS = 200
CALL_TIMEOUT_S = 5.0


class CappedOms(RunningOms):
    """A test OMS with small admission caps."""

    def make_app(self, settings: Settings) -> OmsApp:
        app = super().make_app(settings)
        app.admission = Admission(
            AdmissionLimits(max_calls=CALL_SLOTS, max_streams_per_principal=STREAMS_PER_PRINCIPAL)
        )
        return app


@pytest.fixture
async def capped(sqlite_url: str, tmp_path) -> AsyncIterator[RunningOms]:  # type: ignore[no-untyped-def]
    running = CappedOms(sqlite_url, tmp_path / "state")
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def _first_message_code(call: grpc.aio.UnaryStreamCall) -> Code:  # type: ignore[type-arg]
    try:
        await call.read()
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return Code.OK


async def test_idle_health_watches_do_not_starve_check_or_halt(capped: RunningOms) -> None:
    assert capped.channel is not None
    health = health_pb2_grpc.HealthStub(capped.channel)
    watches = [health.Watch(health_pb2.HealthCheckRequest()) for _ in range(WATCH_STREAMS)]
    try:
        codes = await asyncio.gather(*(_first_message_code(w) for w in watches))
        checked = await health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_S)
        assert checked.status == health_pb2.HealthCheckResponse.SERVING
        admin = admin_service_pb2_grpc.AdminServiceStub(capped.channel)
        await admin.Halt(
            admin_service_pb2.HaltRequest(account_id="ACC1", reason="drill"),
            metadata=call_metadata(Role.ADMIN, ()),
            timeout=CALL_TIMEOUT_S,
        )
        assert codes.count(Code.OK) <= DEFAULT_MAX_PUBLIC_STREAMS_PER_PEER
        assert set(codes) <= {Code.OK, Code.RESOURCE_EXHAUSTED}
    finally:
        for watch in watches:
            watch.cancel()


async def test_one_traders_idle_streams_are_capped_while_another_streams(
    capped: RunningOms,
) -> None:
    mallory = call_metadata()
    other = (("authorization", f"Bearer {issue_token(TEST_SECRET, 'bob', Role.TRADER, ['ACC2'])}"),)
    idle = [
        capped.orders.StreamExecutionReports(
            pb.StreamExecutionReportsRequest(account_id="ACC1"), metadata=mallory
        )
        for _ in range(STREAMS_PER_PRINCIPAL)
    ]
    try:
        await eventually(
            lambda: (
                capped.app is not None
                and capped.app.hub.subscriber_count() >= STREAMS_PER_PRINCIPAL
            ),
            message="idle streams admitted",
        )
        extra = capped.orders.StreamExecutionReports(
            pb.StreamExecutionReportsRequest(account_id="ACC1"), metadata=mallory
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await asyncio.wait_for(extra.read(), CALL_TIMEOUT_S)
        assert refused.value.code() == Code.RESOURCE_EXHAUSTED
        assert error_reason(refused.value) == "MAX_STREAMS_PER_PRINCIPAL"
        assert "max_streams_per_principal" in (refused.value.details() or "")
        bobs = capped.orders.StreamExecutionReports(
            pb.StreamExecutionReportsRequest(account_id="ACC2"), metadata=other
        )
        await capped.orders.SubmitOrder(limit_buy("bob-1", account_id="ACC2"), metadata=other)
        report = await asyncio.wait_for(bobs.read(), CALL_TIMEOUT_S)
        assert report.report.account_id == "ACC2"
        bobs.cancel()
    finally:
        for call in idle:
            with contextlib.suppress(Exception):
                call.cancel()
