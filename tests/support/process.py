"""Running `oms server` as a real subprocess, for crash (SIGKILL) tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import grpc

from oms_server.domain.access import Role
from protos.oms.v1 import account_service_pb2, account_service_pb2_grpc, order_service_pb2_grpc
from tests.support.fixtures import STARTING_CASH, TEST_ACCOUNTS, TEST_SECRET, call_metadata
from tests.support.market import MOVING_MARKET, Market
from venues.nats_runtime import EmbeddedNats
from venues.scenario import parse_scenario

READY_TIMEOUT_S = 30.0
#: A channel of its own connections. By default gRPC's C core shares connections (and
#: their reconnect backoff) between channels to one address: after a kill, the channel
#: opened for the new server would take the old one's "connection refused" and fail at
#: once until that backoff ran out (grpc/grpc#17282).
FRESH_CHANNEL = [("grpc.use_local_subchannel_pool", 1)]


def _append(path: Path) -> BinaryIO:
    return path.open("ab")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OmsProcess:
    """`oms server` in a subprocess: start, SIGKILL, start again on the same store."""

    workdir: Path
    nats_url: str
    scenario_file: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    channel: grpc.aio.Channel | None = None
    _old_channels: list[grpc.aio.Channel] = field(default_factory=list)

    @property
    def db_file(self) -> Path:
        return self.workdir / "oms.db"

    @property
    def db_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.db_file}"

    @property
    def orders(self) -> order_service_pb2_grpc.OrderServiceStub:
        assert self.channel is not None
        return order_service_pb2_grpc.OrderServiceStub(self.channel)

    async def start(self) -> None:
        env = {
            **os.environ,
            "OMS_GRPC_ADDR": f"127.0.0.1:{self.port}",
            "OMS_DB_URL": self.db_url,
            "NATS_URL": self.nats_url,
            "OMS_AUTH_SECRET": TEST_SECRET,
            "OMS_SCENARIO": str(self.scenario_file),
            "OMS_STATE_DIR": str(self.workdir / "state"),
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "oms_server.cli",
            "--log-level",
            "warning",
            "server",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=_append(self.workdir / "oms-stderr.log"),
        )
        await asyncio.wait_for(self._ready(), READY_TIMEOUT_S)
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}", options=FRESH_CHANNEL)
        await self._open_accounts()

    async def _open_accounts(self) -> None:
        accounts = account_service_pb2_grpc.AccountServiceStub(self.channel)
        admin = call_metadata(Role.ADMIN, ())
        for account_id in TEST_ACCOUNTS:
            try:
                await accounts.CreateAccount(
                    account_service_pb2.CreateAccountRequest(account_id=account_id), metadata=admin
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise
                continue
            await accounts.Deposit(
                account_service_pb2.DepositRequest(
                    account_id=account_id, amount=str(STARTING_CASH)
                ),
                metadata=admin,
            )

    async def _ready(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while True:
            line = await self.process.stdout.readline()
            if not line:
                log = (self.workdir / "oms-stderr.log").read_text()[-2000:]
                raise AssertionError(f"oms server exited before it was ready:\n{log}")
            if line.startswith(b"OMS ready"):
                return

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no flush. Calls in flight fail as they would for a client."""
        if self.channel is not None:
            self._old_channels.append(self.channel)
            self.channel = None
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def terminate(self) -> int:
        await self._close_channel()
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 20)

    async def _close_channel(self) -> None:
        for channel in [*self._old_channels, *([self.channel] if self.channel else [])]:
            await channel.close()
        self._old_channels.clear()
        self.channel = None


async def moving_market_and_oms_process(
    nats: EmbeddedNats, workdir: Path
) -> tuple[Market, OmsProcess]:
    """Venues on a moving market (started, in this process) and an `oms server`
    subprocess trading on them (not started yet), sharing one scenario file."""
    scenario_file = workdir / "scenario.toml"
    scenario_file.write_text(MOVING_MARKET)
    market = Market(nats, parse_scenario(MOVING_MARKET, "test"))
    await market.start()
    return market, OmsProcess(workdir, nats.url, scenario_file)
