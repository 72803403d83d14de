"""Assembling the OMS process: store, engine, report hub and the gRPC server."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
from nats.aio.client import Client as NatsClient

from oms_server.api.account_service import AccountService
from oms_server.api.admin_service import AdminService
from oms_server.api.admission import Admission
from oms_server.api.market_data_service import MarketDataService
from oms_server.api.metrics import ApiMetrics
from oms_server.api.order_service import OrderService
from oms_server.api.server import (
    DEFAULT_GRACE_S,
    ServiceBinding,
    TlsFiles,
    add_services,
    bind_server,
    set_not_serving,
    set_serving,
)
from oms_server.config import Settings
from oms_server.descriptors import raise_descriptor_limit
from oms_server.domain.errors import OmsError, UnavailableError
from oms_server.domain.instruments import Instrument
from oms_server.domain.order_ids import shard_prefix
from oms_server.domain.session import TradingSession
from oms_server.engine.engine import OrderEngine
from oms_server.engine.hub import ReportHub
from oms_server.engine.ports import NoVenueDirectory, VenueDirectory
from oms_server.engine.reconciliation import DEFAULT_ACK_TIMEOUT_S, ReconcilePolicy
from oms_server.memory import HeapTrimmer
from oms_server.observability import serve_metrics
from oms_server.state import ensure_auth_secret
from oms_server.store.integrity import check_store_integrity
from oms_server.store.lease import StoreLease, open_lease
from oms_server.store.repository import Store
from oms_server.web import OperatorWeb, operator_web
from protos.oms.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    admin_service_pb2,
    admin_service_pb2_grpc,
    market_data_service_pb2,
    market_data_service_pb2_grpc,
    order_service_pb2,
    order_service_pb2_grpc,
)
from router.freshness import QuoteFreshness
from venues.composite import CompositeVenues, VenueSide
from venues.connector import VenueConnector
from venues.nats_client import DEFAULT_REPLICAS, close_nats, connect_nats
from venues.scenario import VenueConfig

if TYPE_CHECKING:
    from venues.fix.connector import FixVenueConnector

log = logging.getLogger(__name__)

#: Seconds in-flight calls get to finish when the engine stopped under the OMS: every
#: answer is UNAVAILABLE by then, but health watchers get to see NOT_SERVING.
FAILED_GRACE_S = 1.0


class EngineStoppedError(UnavailableError):
    """The order engine stopped under the OMS (not by its stop()): it serves nothing more."""

    reason = "ENGINE_STOPPED"


@dataclass
class OmsApp:
    """One OMS process. ``start`` brings it up; ``stop`` drains and closes it.

    It owns its store: ``claim`` (the first step of ``start``) binds the gRPC port and
    takes the store's lease before anything opens the store, so a second OMS on the same
    port or the same store stops there. If the engine stops under it, health turns
    NOT_SERVING and ``wait_failed`` returns why.
    """

    settings: Settings
    instruments: Mapping[str, Instrument]
    auth_secret: str
    #: Venues to connect to (over NATS, or FIX for ``protocol = "fix"``); none means
    #: orders rest in the OMS (no routing).
    venue_configs: Sequence[VenueConfig] = ()
    nats_url: str | None = None
    #: Seconds a child may wait for its venue before it is reconciled.
    venue_ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S
    #: When the market is open: DAY orders expire at its close (the scenario's [session]).
    session: TradingSession = field(default_factory=TradingSession)
    #: The account shard this process serves (oms_server.shards); None: every account.
    shard_id: int | None = None
    #: Copies JetStream keeps of the execution reports (3 on a three-node cluster).
    exec_replicas: int = DEFAULT_REPLICAS
    #: The NATS venues' connector, and the FIX venues' (venues.fix).
    connector: VenueConnector | None = None
    fix_venues: FixVenueConnector | None = None
    #: What the engine and the API use: one of the two, or both behind a CompositeVenues.
    venue_side: VenueSide | None = None
    nats: NatsClient | None = None
    store: Store | None = None
    engine: OrderEngine | None = None
    hub: ReportHub = field(default_factory=ReportHub)
    #: Caps on calls and streams in flight (api/admission.py).
    admission: Admission = field(default_factory=Admission)
    #: Calls by method and code, refusals, submit-to-ack, stream lag (api/metrics.py).
    api_metrics: ApiMetrics = field(default_factory=ApiMetrics)
    server: grpc.aio.Server | None = None
    port: int = 0
    lease: StoreLease | None = None
    #: The operator page (settings.web_addr), once started.
    web: OperatorWeb | None = None
    _health: object | None = None
    _service_names: list[str] = field(default_factory=list)
    _serving: bool = False
    _stopping: bool = False
    _watcher: asyncio.Task[None] | None = None
    #: Gives the C heap's free pages back once the engine is idle after work.
    _trimmer: asyncio.Task[None] | None = None
    _failed: asyncio.Future[EngineStoppedError] | None = None

    @property
    def _route(self) -> str:
        """What this process's venue orders carry to find it again: its shard id, if any."""
        return "" if self.shard_id is None else str(self.shard_id)

    @property
    def address(self) -> str:
        host = self.settings.grpc_addr.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    async def claim(self) -> None:
        """Bind the gRPC port, then take the store's lease (StoreOwnedError, naming the
        holder, if another OMS has it). ``start`` does this first unless done already."""
        if self.server is None:
            raise_descriptor_limit()
            self.server, self.port = bind_server(self.settings.grpc_addr, tls=self._tls())
        if self.lease is None:
            self.lease = open_lease(self.settings.db_url)
        await self.lease.acquire(timeout_s=0)

    async def start(self) -> None:
        await self.claim()
        check_store_integrity(self.settings.db_url)
        self.store = await Store.open(self.settings.db_url, lease=self.lease)
        nats_configs = [c for c in self.venue_configs if c.protocol == "nats"]
        fix_configs = [c for c in self.venue_configs if c.protocol == "fix"]
        if self.nats_url and nats_configs:
            self.nats = await connect_nats(
                self.nats_url, name=f"oms-shard-{self.shard_id}" if self.shard_id else "oms"
            )
            self.connector = VenueConnector(
                self.nats,
                nats_configs,
                freshness=QuoteFreshness.of_seconds(self.settings.quote_max_age_s),
                route=self._route,
                exec_replicas=self.exec_replicas,
            )
        if fix_configs:  # QuickFIX is loaded only for an OMS with FIX venues
            from venues.fix.connector import FixVenueConnector

            self.fix_venues = FixVenueConnector(fix_configs, self.settings.state_dir / "fix-venues")
        self.venue_side = _venue_side(self.connector, self.fix_venues)
        policy = ReconcilePolicy(ack_timeout_ns=int(self.venue_ack_timeout_s * 1e9))
        self.engine = OrderEngine(
            self.store,
            self.instruments,
            self.hub,
            venues=self.venue_side,
            policy=policy,
            session=self.session,
            order_id_prefix=None if self.shard_id is None else shard_prefix(self.shard_id),
        )
        await self.engine.start()
        if self.venue_side is not None:
            await self.venue_side.start(self.engine)
        assert self.server is not None
        bindings = self._bindings()
        self._service_names = [b.full_name for b in bindings]
        self._health = add_services(
            self.server,
            bindings,
            auth_secret=self.auth_secret,
            admission=self.admission,
            metrics=self.api_metrics,
        )
        await self.server.start()
        self._serving = True
        serve_metrics(self, self.settings.metrics_addr)
        await self._start_web()
        await set_serving(self._health, self._service_names)
        self._failed = asyncio.get_running_loop().create_future()
        self._watcher = asyncio.create_task(self._watch(self.engine), name="engine-watch")
        self._trimmer = asyncio.create_task(
            HeapTrimmer(functools.partial(_work_done, self.engine)).run(), name="heap-trim"
        )
        log.info("OMS gRPC server listening on %s", self.address)

    async def wait_failed(self) -> EngineStoppedError:
        """Wait until the engine stops under this OMS (never, if stop() stops it first)."""
        assert self._failed is not None, "the OMS is not started"
        return await asyncio.shield(self._failed)

    async def stop(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Refuse new work, let in-flight calls finish, commit, close, release the store."""
        self._stopping = True
        if self._failed is not None and self._failed.done():
            grace_s = min(grace_s, FAILED_GRACE_S)
        try:
            if self._health is not None:
                await set_not_serving(self._health, self._service_names)  # type: ignore[arg-type]
            if self.web is not None:
                await self.web.stop()
            if self.server is not None:
                await self._stop_server(grace_s)
            if self.venue_side is not None:
                await self.venue_side.stop()
            if self.engine is not None:
                await self.engine.stop()
            if self._watcher is not None:
                await asyncio.gather(self._watcher, return_exceptions=True)
            if self._trimmer is not None:
                self._trimmer.cancel()
                await asyncio.gather(self._trimmer, return_exceptions=True)
            if self.nats is not None:
                await close_nats(self.nats)
            if self.store is not None:
                await self.store.close()
        finally:
            if self.lease is not None:
                await self.lease.release()

    async def _start_web(self) -> None:
        """The operator page on settings.web_addr (unless None), in this event loop."""
        if self.settings.web_addr is None:
            return
        assert self.engine is not None and self.store is not None
        self.web = operator_web(
            self.settings.web_addr,
            engine=self.engine,
            history=self.store,
            hub=self.hub,
            venues=self.venue_side or NoVenueDirectory(),
            instruments=self.instruments,
            auth_secret=self.auth_secret,
        )
        await self.web.start()

    async def _stop_server(self, grace_s: float) -> None:
        assert self.server is not None
        if not self._serving:
            # grpc frees a bound port only once the server has started: start it bare.
            await self.server.start()
            grace_s = 0.0
        await self.server.stop(grace_s)

    async def _watch(self, engine: OrderEngine) -> None:
        """When the engine stops for any reason but stop(): NOT_SERVING, and tell the owner."""
        cause = await engine.wait_stopped()
        if self._stopping:
            return
        failure = EngineStoppedError(f"the order engine stopped: {_cause_text(cause)}")
        log.error("%s; the OMS serves nothing more", failure.message)
        try:
            if self._health is not None:
                await set_not_serving(self._health, self._service_names)  # type: ignore[arg-type]
            if self.venue_side is not None:  # venue reports wait in NATS for the next owner
                await self.venue_side.stop()
        finally:
            if self._failed is not None and not self._failed.done():
                self._failed.set_result(failure)

    def _bindings(self) -> list[ServiceBinding]:
        assert self.engine is not None and self.store is not None
        order_service = OrderService(
            self.engine, self.store, self.hub, self.instruments, self.api_metrics
        )
        directory: VenueDirectory = self.venue_side or NoVenueDirectory()
        market_data = MarketDataService(self.instruments, directory)
        admin = AdminService(self.engine, directory, shard_id=self.shard_id or 1)
        accounts = AccountService(self.engine)
        # grpc.aio asks each service's handler in turn: the busiest service goes first.
        return [
            _binding(
                order_service,
                order_service_pb2_grpc.add_OrderServiceServicer_to_server,
                _service_name(order_service_pb2, "OrderService"),
            ),
            _binding(
                accounts,
                account_service_pb2_grpc.add_AccountServiceServicer_to_server,
                _service_name(account_service_pb2, "AccountService"),
            ),
            _binding(
                market_data,
                market_data_service_pb2_grpc.add_MarketDataServiceServicer_to_server,
                _service_name(market_data_service_pb2, "MarketDataService"),
            ),
            _binding(
                admin,
                admin_service_pb2_grpc.add_AdminServiceServicer_to_server,
                _service_name(admin_service_pb2, "AdminService"),
            ),
        ]

    def _tls(self) -> TlsFiles | None:
        s = self.settings
        if not s.tls_cert_file or not s.tls_key_file:
            return None
        return TlsFiles(s.tls_cert_file, s.tls_key_file, s.tls_client_ca_file)


def _work_done(engine: OrderEngine) -> int:
    """What the engine has done so far, counted (moves while orders come or fill)."""
    stats = engine.commands.stats
    return stats.accepted + stats.fills


def _cause_text(cause: BaseException | None) -> str:
    if cause is None:
        return "it was stopped from elsewhere"
    if isinstance(cause, OmsError):
        return cause.message
    return f"{cause.__class__.__name__}: {cause}"


def _binding(servicer: object, register: object, full_name: str) -> ServiceBinding:
    """A servicer with its registration function and full service name."""
    return ServiceBinding(servicer, register, full_name)  # type: ignore[arg-type]


def _service_name(module: Any, service: str) -> str:
    """The full protobuf name of ``service`` (e.g. oms.v1.OrderService), from its descriptor."""
    return str(module.DESCRIPTOR.services_by_name[service].full_name)


def resolve_auth_secret(settings: Settings) -> str:
    """For a server: OMS_AUTH_SECRET, or the state dir's secret (created on first start)."""
    return ensure_auth_secret(settings.state_dir, settings.auth_secret)


def _venue_side(
    nats_venues: VenueConnector | None, fix_venues: FixVenueConnector | None
) -> VenueSide | None:
    """The engine's venue port: the one connector there is, or both behind one port."""
    if nats_venues is None or fix_venues is None:
        return nats_venues or fix_venues
    nats_names = frozenset(info for info in nats_venues.venue_infos())
    return CompositeVenues([(nats_names, nats_venues), (fix_venues.venue_names, fix_venues)])
