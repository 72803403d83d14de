"""`oms up --shards N --standby --nats-cluster 3` as a real subprocess, for failover tests.

The stack's processes are real: the front and the venues in the `oms up` process, the
shard owners and standbys as its children, three nats-server nodes. Tests find pids
with ListShards (shards) and /proc (NATS nodes), kill or stop them, and watch the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import grpc
from nats.aio.client import Client as NatsClient

from clients.sdk import OmsClient
from oms_server.domain.access import Role
from oms_server.domain.shards import ShardMap
from protos.oms.v1 import admin_service_pb2, admin_service_pb2_grpc, common_pb2
from protos.venue.v1 import venue_pb2 as v
from tests.integration.test_oms_up import children_of, read_until_ready, still_running
from tests.support.fixtures import TEST_SECRET, token
from tests.support.process import FRESH_CHANNEL, free_port
from tests.support.waiting import eventually
from venues import subjects
from venues.nats_client import close_nats, connect_nats

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
#: Funds of every account a test opens.
CASH = Decimal("100000000")


def accounts_on(shard_map: ShardMap, shard_id: int, count: int, prefix: str) -> list[str]:
    """``count`` account ids that ``shard_map`` sends to ``shard_id``."""
    found = []
    for n in range(10_000):
        if shard_map.shard_of(f"{prefix}{n}") == shard_id:
            found.append(f"{prefix}{n}")
            if len(found) == count:
                return found
    raise AssertionError(f"no {count} accounts on shard {shard_id}")


@dataclass
class ShardedStack:
    """The sharded stack in a subprocess, and clients of its public endpoint."""

    workdir: Path
    scenario_file: Path
    shards: int = 2
    port: int = field(default_factory=free_port)
    #: The FIX gateway's port (the stack's gateway is a client of the front).
    fix_port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    printed: dict[str, str] = field(default_factory=dict)
    channel: grpc.aio.Channel | None = None
    #: NATS nodes a test started again itself (it stops them at the end).
    restarted: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: Processes of the stack still running after it stopped (none, if it stops cleanly).
    left_running: set[int] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def nats_url(self) -> str:
        return self.printed["nats"].split(" ")[0]

    @property
    def shard_map(self) -> ShardMap:
        return ShardMap.even(self.shards)

    async def start(self) -> None:
        env = {k: val for k, val in os.environ.items() if k not in ("NATS_URL", "OMS_DB_URL")}
        env |= {
            "OMS_GRPC_ADDR": self.address,
            "OMS_STATE_DIR": str(self.workdir / "state"),
            "OMS_DB_URL": f"sqlite+aiosqlite:///{self.workdir / 'oms.db'}",
            "OMS_AUTH_SECRET": TEST_SECRET,
            "OMS_SCENARIO": str(self.scenario_file),
            "OMS_FIX_ADDR": f"127.0.0.1:{self.fix_port}",
        }
        command = [
            sys.executable, "-m", "oms_server.cli", "--log-level", "warning", "up",
            "--shards", str(self.shards), "--standby", "--nats-cluster", "3",
        ]  # fmt: skip
        stderr = (self.workdir / "oms-up-stderr.log").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
        assert self.process.stdout is not None
        self.printed = await asyncio.wait_for(
            read_until_ready(self.process.stdout), READY_TIMEOUT_S
        )
        self.channel = grpc.aio.insecure_channel(self.address, options=FRESH_CHANNEL)

    async def stop(self) -> int:
        if self.channel is not None:
            await self.channel.close()
        for node in self.restarted:
            node.terminate()
            node.wait(STOP_TIMEOUT_S)
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else 0
        descendants = children_of(self.process.pid)
        for pid in descendants:  # nothing left stopped
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
        self.left_running = still_running(descendants)
        return code

    def client(self, *accounts: str, role: Role = Role.TRADER) -> OmsClient:
        return OmsClient(self.address, token(role, accounts))

    async def shards_now(self) -> list[admin_service_pb2.Shard]:
        assert self.channel is not None
        admin = admin_service_pb2_grpc.AdminServiceStub(self.channel)
        metadata = (("authorization", f"Bearer {token(Role.ADMIN, ())}"),)
        reply = await admin.ListShards(
            admin_service_pb2.ListShardsRequest(), metadata=metadata, timeout=5
        )
        return list(reply.shards)

    async def shard(self, shard_id: int) -> admin_service_pb2.Shard:
        return next(s for s in await self.shards_now() if s.shard_id == shard_id)

    async def all_served_with_standbys(self) -> bool:
        shards = await self.shards_now()
        return all(
            s.state == admin_service_pb2.SHARD_STATE_ACTIVE and s.standby_pid for s in shards
        )

    async def wait_healthy(self) -> None:
        """Until every shard has an active owner and a standby (after earlier failovers)."""
        await eventually(
            self.all_served_with_standbys, timeout_s=30, message="every shard with a standby"
        )

    async def open_accounts(self, accounts: list[str]) -> None:
        async with self.client(role=Role.ADMIN) as admin:
            for account_id in accounts:
                await admin.create_account(account_id)
                await admin.deposit(account_id, str(CASH))

    def nats_node_pids(self) -> list[int]:
        """The nats-server nodes of the stack's cluster (its children)."""
        assert self.process is not None
        return sorted(
            pid
            for pid in children_of(self.process.pid)
            if _cmdline(pid) and Path(_cmdline(pid)[0]).name == "nats-server"
        )

    def kill_nats_node(self, pid: int) -> list[str]:
        """SIGKILL one node; returns its command line, to start it again."""
        command = _cmdline(pid)
        os.kill(pid, signal.SIGKILL)
        return command

    def restart_nats_node(self, command: list[str]) -> None:
        """The node again, as it was (same ports, same store)."""
        log = (self.workdir / "restarted-nats.log").open("ab")
        self.restarted.append(
            subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode() for part in raw.split(b"\0") if part]


async def venue_fills(nats_url: str, venues: list[str]) -> dict[str, tuple[int, Decimal]]:
    """What the venues say they filled, per child order: (fills, cum_qty), by status request."""
    nc: NatsClient = await connect_nats(nats_url, name="test-venue-fills")
    try:
        fills: dict[str, tuple[int, Decimal]] = {}
        for venue in venues:
            reply = await nc.request(
                subjects.status(venue), v.OrderStatusRequest().SerializeToString(), timeout=5
            )
            for status in v.OrderStatusResponse.FromString(reply.data).orders:
                fills[status.child_order_id] = (len(status.fills), Decimal(status.cum_qty or 0))
        return fills
    finally:
        await close_nats(nc)


def ioc_buy(account_id: str, client_order_id: str, limit_price: str) -> dict[str, object]:
    """Keyword arguments of OmsClient.submit_order for a small marketable IOC buy."""
    return {
        "account_id": account_id,
        "symbol": "AAPL",
        "side": common_pb2.SIDE_BUY,
        "quantity": "2",
        "order_type": common_pb2.ORDER_TYPE_LIMIT,
        "limit_price": limit_price,
        "time_in_force": common_pb2.TIME_IN_FORCE_IOC,
        "client_order_id": client_order_id,
    }
