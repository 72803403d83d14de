"""`oms up --shards N [--standby] [--nats-cluster 3]`: the sharded stack, supervised.

In this process: NATS (NATS_URL; else one embedded server, or a local cluster of
``--nats-cluster`` nodes with R3 streams), the venue simulators and the front on the
public endpoint. As child processes: `oms shard --shard-id I` for every shard, twice with
``--standby`` (whichever takes the shard's lease first owns it, the other stands by).
A shard process that exits is started again, as a standby when its shard has an owner:
a killed owner is replaced by its standby within seconds, and a new standby follows.
Children die with this process (the orphan guard of venues.nats_runtime).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from nats.aio.client import Client as NatsClient

from oms_server.api.auth import issue_token
from oms_server.api.server import TlsFiles
from oms_server.app import resolve_auth_secret
from oms_server.config import Settings
from oms_server.domain.access import Role
from oms_server.domain.shards import ShardMap, ShardState
from oms_server.shards.announce import ShardWatch
from oms_server.shards.front import CHANNEL_OPTIONS, Front
from oms_server.shards.layout import shard_db_url
from oms_server.stack import DEMO_ACCOUNT, DEMO_CASH, fix_endpoint, start_fix_gateway
from protos.oms.v1 import account_service_pb2, account_service_pb2_grpc
from venues.nats_client import DEFAULT_REPLICAS, close_nats, connect_nats, ensure_exec_stream
from venues.nats_cluster import NatsCluster
from venues.nats_runtime import EmbeddedNats, dies_with_us
from venues.scenario import Scenario, load_scenario
from venues.sim.host import VenueHost
from venues.tasks import cancel_and_wait

if TYPE_CHECKING:
    from clients.fix.gateway import FixGateway

log = logging.getLogger(__name__)

#: Seconds ``start`` waits for every shard to have an active owner.
SHARDS_READY_TIMEOUT_S = 60.0
#: Seconds between checks of the children, and before one that exited is started again.
SUPERVISE_INTERVAL_S = 0.25
RESTART_DELAY_S = 0.5
#: Seconds a child gets to stop after SIGTERM before SIGKILL.
CHILD_STOP_TIMEOUT_S = 15.0
#: Where a local cluster keeps its nodes' stores, under the state dir.
CLUSTER_DIR = "nats-cluster"


@dataclass
class ShardChild:
    """One shard process of the stack (a plain Popen: spawned without fork handlers, and
    not tied to one event loop)."""

    shard_id: int
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def exit_code(self) -> int | None:
        return self.process.poll()

    async def wait(self, timeout_s: float) -> bool:
        """Until the process has exited (True), or ``timeout_s`` passed (False)."""
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(SUPERVISE_INTERVAL_S / 5)
        return True


@dataclass
class ShardedStack:
    """What `oms up --shards N` runs: start() brings everything up, stop() takes it down."""

    settings: Settings
    shards: int = 1
    standby: bool = False
    nats_cluster: int = 0
    log_level: str = "info"
    scenario: Scenario | None = None
    nats_url: str = ""
    front: Front | None = None
    venues: VenueHost | None = None
    #: The FIX gateway (OMS_FIX_ADDR), a client of the front like any other.
    fix: FixGateway | None = None
    children: list[ShardChild] = field(default_factory=list)
    watch: ShardWatch = field(default_factory=ShardWatch)
    replicas: int = DEFAULT_REPLICAS
    _nats: EmbeddedNats | NatsCluster | None = None
    _nc: NatsClient | None = None
    _supervisor: asyncio.Task[None] | None = None
    _stopping: bool = False

    @property
    def shard_map(self) -> ShardMap:
        return ShardMap.even(self.shards)

    @property
    def auth_secret(self) -> str:
        return resolve_auth_secret(self.settings)

    async def start(self) -> None:
        self.scenario = load_scenario(self.settings.scenario_path)
        self.front = Front(
            self.settings.grpc_addr,
            self.shard_map,
            self.watch,
            self.auth_secret,
            tls=tls_files(self.settings),
        )
        self.front.bind()  # a second stack on the same port stops here
        await self._start_nats()
        self._nc = await connect_nats(self.nats_url, name="oms-front")
        await ensure_exec_stream(self._nc.jetstream(), self.replicas)
        self.venues = VenueHost(self.nats_url, self.scenario)
        await self.venues.start()
        await self.watch.start(self._nc)
        await self.front.start()
        copies = 2 if self.standby else 1
        for shard_id in self.shard_map.shard_ids:
            for _ in range(copies):
                self.children.append(self._spawn(shard_id))
        self._supervisor = asyncio.create_task(self._supervise(), name="shard-supervisor")
        await self._wait_until_served()
        await self._open_demo_account()
        self.fix = await start_fix_gateway(self.settings, self.front.address)

    async def stop(self) -> None:
        """Standbys first (so none takes over a shard being stopped), then the owners."""
        self._stopping = True
        if self.fix is not None:
            await self.fix.stop()
        if self._supervisor is not None:
            await cancel_and_wait([self._supervisor], "shard supervisor")
        owners = {o.pid for s in self.shard_map.shard_ids if (o := self.watch.owner(s)) is not None}
        await self._terminate([c for c in self.children if c.pid not in owners])
        await self._terminate([c for c in self.children if c.pid in owners])
        if self.front is not None:
            await self.front.stop()
        await self.watch.stop()
        if self.venues is not None:
            await self.venues.stop()
        if self._nc is not None:
            await close_nats(self._nc)
        if self._nats is not None:
            await self._nats.stop()

    def admin_token(self) -> str:
        return issue_token(self.auth_secret, "operator", Role.ADMIN)

    def endpoints(self) -> dict[str, str]:
        assert self.front is not None and self.scenario is not None
        standby = ", a standby each" if self.standby else ""
        nats_kind = (
            ""
            if self._nats is None
            else f" (local cluster of {self.nats_cluster}, R{self.replicas})"
            if isinstance(self._nats, NatsCluster)
            else " (embedded)"
        )
        stores = ", ".join(shard_db_url(self.settings.db_url, s) for s in self.shard_map.shard_ids)
        return {
            "grpc": self.front.address,
            "nats": self.nats_url + nats_kind,
            "shards": f"{self.shards}{standby}",
            "database": stores,
            "venues": ", ".join(v.name for v in self.scenario.venues),
            "fix": fix_endpoint(self.fix),
            "account": f"{DEMO_ACCOUNT} (try: oms token --role trader --account {DEMO_ACCOUNT})",
        }

    # -- start-up -----------------------------------------------------------------------

    async def _start_nats(self) -> None:
        if self.settings.nats_url:
            self.nats_url = self.settings.nats_url
            return
        if self.nats_cluster > 1:
            cluster = NatsCluster(self.nats_cluster, self.settings.state_dir / CLUSTER_DIR)
            await cluster.start()
            self._nats, self.nats_url, self.replicas = cluster, cluster.url, cluster.replicas
            return
        server = EmbeddedNats()
        await server.start()
        self._nats, self.nats_url = server, server.url

    def _spawn(self, shard_id: int) -> ShardChild:
        command = [
            sys.executable,
            "-m",
            "oms_server.cli",
            "--log-level",
            self.log_level,
            "shard",
            "--shard-id",
            str(shard_id),
            "--nats-replicas",
            str(self.replicas),
        ]
        env = {**os.environ, **self._child_env()}
        env.pop("OMS_METRICS_ADDR", None)  # one endpoint per port: the front's process
        env["OMS_WEB_ADDR"] = "off"  # the operator page too
        process = subprocess.Popen(
            dies_with_us(command), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        log.info("shard %d: started process %d", shard_id, process.pid)
        return ShardChild(shard_id, process)

    def _child_env(self) -> dict[str, str]:
        settings = self.settings
        env = {
            "OMS_DB_URL": settings.db_url,
            "OMS_GRPC_ADDR": f"{settings.grpc_addr.rsplit(':', 1)[0]}:0",
            "NATS_URL": self.nats_url,
            "OMS_STATE_DIR": str(Path(settings.state_dir).absolute()),
        }
        if settings.scenario_path:
            env["OMS_SCENARIO"] = str(Path(settings.scenario_path).absolute())
        return env

    async def _wait_until_served(self) -> None:
        deadline = time.monotonic() + SHARDS_READY_TIMEOUT_S
        while True:
            states = {s: self.watch.info(s).state for s in self.shard_map.shard_ids}
            if all(state is ShardState.ACTIVE for state in states.values()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"shards not active within {SHARDS_READY_TIMEOUT_S:g} s: {states}"
                )
            await self.watch.wait_changed(SUPERVISE_INTERVAL_S)

    async def _open_demo_account(self) -> None:
        """A funded account to try things with, made once (it lives in its shard's store)."""
        assert self.front is not None
        metadata = (("authorization", f"Bearer {self.admin_token()}"),)
        async with grpc.aio.insecure_channel(self.front.address, options=CHANNEL_OPTIONS) as ch:
            accounts = account_service_pb2_grpc.AccountServiceStub(ch)
            try:
                await accounts.CreateAccount(
                    account_service_pb2.CreateAccountRequest(account_id=DEMO_ACCOUNT),
                    metadata=metadata,
                    timeout=10,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() is grpc.StatusCode.ALREADY_EXISTS:
                    return
                raise
            await accounts.Deposit(
                account_service_pb2.DepositRequest(account_id=DEMO_ACCOUNT, amount=str(DEMO_CASH)),
                metadata=metadata,
                timeout=10,
            )
            log.info(
                "opened account %s with %s cash",
                DEMO_ACCOUNT,
                DEMO_CASH,
                extra={"account_id": DEMO_ACCOUNT},
            )

    # -- supervision --------------------------------------------------------------------

    async def _supervise(self) -> None:
        """Start again every shard process that exited (it comes back as a standby)."""
        while True:
            await asyncio.sleep(SUPERVISE_INTERVAL_S)
            for child in [c for c in self.children if c.exit_code is not None]:
                log.warning(
                    "shard %d: process %d exited (%s); starting another",
                    child.shard_id,
                    child.pid,
                    child.exit_code,
                )
                self.children.remove(child)
                await asyncio.sleep(RESTART_DELAY_S)
                if not self._stopping:
                    self.children.append(self._spawn(child.shard_id))

    async def _terminate(self, children: list[ShardChild]) -> None:
        for child in children:
            if child.exit_code is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        for child in children:
            if not await child.wait(CHILD_STOP_TIMEOUT_S):
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                await child.wait(CHILD_STOP_TIMEOUT_S)


@dataclass
class FrontProcess:
    """`oms front`: the front alone, for shards run elsewhere against the same NATS."""

    settings: Settings
    shards: int
    front: Front | None = None
    watch: ShardWatch = field(default_factory=ShardWatch)
    _nc: NatsClient | None = None

    async def start(self) -> None:
        if not self.settings.nats_url:
            raise ValueError("NATS_URL must name the NATS the shards announce themselves on")
        self.front = Front(
            self.settings.grpc_addr,
            ShardMap.even(self.shards),
            self.watch,
            resolve_auth_secret(self.settings),
            tls=tls_files(self.settings),
        )
        self.front.bind()
        self._nc = await connect_nats(self.settings.nats_url, name="oms-front")
        await self.watch.start(self._nc)
        await self.front.start()

    async def stop(self) -> None:
        if self.front is not None:
            await self.front.stop()
        await self.watch.stop()
        if self._nc is not None:
            await close_nats(self._nc)


def tls_files(settings: Settings) -> TlsFiles | None:
    """The front's TLS files (OMS_TLS_*), as `oms server` reads them."""
    if not settings.tls_cert_file or not settings.tls_key_file:
        return None
    return TlsFiles(settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file)
