"""Idle TCP connections (issue 26), against `oms server` in a subprocess on loopback.

Before: connections that sent nothing were held (gRPC's default handshake timeout is
120 s), and 20,000 of them took the descriptors. Now a connection that has not finished
its HTTP/2 handshake within HANDSHAKE_TIMEOUT_MS is closed by the server, its descriptor
given back, and real clients are answered all along. Scaled to CI: 2,000 sockets.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from oms_server.api.server import HANDSHAKE_TIMEOUT_MS
from oms_server.domain.access import Role
from protos.oms.v1 import account_service_pb2, account_service_pb2_grpc
from tests.support.fixtures import call_metadata
from tests.support.market import THREE_VENUES
from tests.support.process import OmsProcess, free_port
from tests.support.server_probe import gauge
from tests.support.waiting import eventually
from venues.nats_runtime import EmbeddedNats

pytestmark = pytest.mark.timeout(60)
log = logging.getLogger(__name__)

#: Scaled from the issue's 20,000 to what CI bears (the test process holds its ends too).
IDLE_SOCKETS = 2000
HANDSHAKE_TIMEOUT_S = HANDSHAKE_TIMEOUT_MS / 1000
#: What the sockets send: nothing, half the HTTP/2 preface, the preface without SETTINGS.
OPENINGS = (b"", b"PRI * HTTP/2.0\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
#: Descriptors the server may hold above its start once the sockets are gone.
FD_SLACK = 16
CALL_TIMEOUT_S = 2.0
#: Pause between the real client's calls while the sockets are held.
CALL_EVERY_S = 0.2


async def test_idle_connections_are_closed_at_the_handshake_timeout(
    nats_server: EmbeddedNats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("OMS_METRICS_ADDR", metrics)
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(THREE_VENUES)
    oms = OmsProcess(tmp_path, nats_server.url, scenario)
    await oms.start()
    sockets: list[socket.socket] = []
    try:
        await _call(oms)
        start_fds = await gauge(metrics, "oms_open_descriptors")
        sockets = await _open_idle(oms.port, IDLE_SOCKETS)
        opened = time.monotonic()
        held = await eventually(
            lambda: _gauge_at_least(metrics, start_fds + IDLE_SOCKETS * 0.9),
            message="the server has accepted the sockets",
        )
        done = asyncio.Event()
        calls = asyncio.create_task(_call_until(oms, done))
        closed_after = await asyncio.wait_for(
            asyncio.gather(*(_closed_after(s, opened) for s in sockets)),
            HANDSHAKE_TIMEOUT_S + 10,
        )
        done.set()
        latencies = await calls
        end_fds = await eventually(
            lambda: _gauge_at_most(metrics, start_fds + FD_SLACK),
            message="the descriptors given back",
        )
    finally:
        for sock in sockets:
            sock.close()
        await oms.terminate()
    log.info(
        "descriptors %d at start, %d held, %d after; closed %.1f-%.1f s after opening;"
        " %d calls answered meanwhile, slowest %.0f ms",
        start_fds, held, end_fds, min(closed_after), max(closed_after),
        len(latencies), max(latencies) * 1000,
    )  # fmt: skip
    assert min(closed_after) >= HANDSHAKE_TIMEOUT_S - 1  # closed by the timeout, not at once
    assert max(closed_after) <= HANDSHAKE_TIMEOUT_S + 5
    assert len(latencies) >= HANDSHAKE_TIMEOUT_S / (CALL_EVERY_S + CALL_TIMEOUT_S)


async def _open_idle(port: int, count: int) -> list[socket.socket]:
    """``count`` connected sockets, each having sent one of OPENINGS and nothing more."""
    loop = asyncio.get_running_loop()
    sockets = []
    for n in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sockets.append(sock)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        if opening := OPENINGS[n % len(OPENINGS)]:
            await loop.sock_sendall(sock, opening)
    return sockets


async def _closed_after(sock: socket.socket, opened: float) -> float:
    """Seconds from ``opened`` until the server closed ``sock`` (end of stream or reset)."""
    loop = asyncio.get_running_loop()
    try:
        while await loop.sock_recv(sock, 4096):
            pass
    except ConnectionError:
        pass
    return time.monotonic() - opened


async def _call(oms: OmsProcess) -> float:
    """A health Check and a GetAccount, as a real client makes them; seconds taken."""
    assert oms.channel is not None
    started = time.monotonic()
    health = health_pb2_grpc.HealthStub(oms.channel)
    checked = await health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_S)
    assert checked.status == health_pb2.HealthCheckResponse.SERVING
    accounts = account_service_pb2_grpc.AccountServiceStub(oms.channel)
    await accounts.GetAccount(
        account_service_pb2.GetAccountRequest(account_id="ACC1"),
        metadata=call_metadata(Role.TRADER, ("ACC1",)),
        timeout=CALL_TIMEOUT_S,
    )
    return time.monotonic() - started


async def _call_until(oms: OmsProcess, done: asyncio.Event) -> list[float]:
    """Call again and again until ``done``; the time each call took (any failure raises)."""
    latencies = []
    while not done.is_set():
        latencies.append(await _call(oms))
        await asyncio.sleep(CALL_EVERY_S)
    return latencies


async def _gauge_at_least(metrics: str, floor: float) -> float:
    value = await gauge(metrics, "oms_open_descriptors")
    return value if value >= floor else 0.0


async def _gauge_at_most(metrics: str, ceiling: float) -> float:
    value = await gauge(metrics, "oms_open_descriptors")
    return value if value <= ceiling else 0.0
