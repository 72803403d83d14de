"""Assembling the OMS process: store, engine, report hub and the gRPC server."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from nats.aio.client import Client as NatsClient

from oms_server.api.account_service import AccountService
from oms_server.api.admin_service import AdminService
from oms_server.api.market_data_service import MarketDataService
from oms_server.api.order_service import OrderService
from oms_server.api.server import (
    DEFAULT_GRACE_S,
    ServiceBinding,
    TlsFiles,
    create_server,
    set_not_serving,
    set_serving,
)
from oms_server.config import Settings
from oms_server.domain.instruments import Instrument
from oms_server.engine.engine import OrderEngine
from oms_server.engine.hub import ReportHub
from oms_server.engine.ports import NoVenueDirectory, VenueDirectory
from oms_server.engine.reconciliation import DEFAULT_ACK_TIMEOUT_S, ReconcilePolicy
from oms_server.observability import serve_metrics
from oms_server.store.repository import Store
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
from venues.connector import VenueConnector
from venues.nats_client import close_nats, connect_nats
from venues.scenario import VenueConfig

log = logging.getLogger(__name__)

AUTH_SECRET_FILE = "auth_secret"


@dataclass
class OmsApp:
    """One OMS process. ``start`` brings it up; ``stop`` drains and closes it."""

    settings: Settings
    instruments: Mapping[str, Instrument]
    auth_secret: str
    #: Venues to connect to over NATS; none means orders rest in the OMS (no routing).
    venue_configs: Sequence[VenueConfig] = ()
    nats_url: str | None = None
    #: Seconds a child may wait for its venue before it is reconciled.
    venue_ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S
    connector: VenueConnector | None = None
    nats: NatsClient | None = None
    store: Store | None = None
    engine: OrderEngine | None = None
    hub: ReportHub = field(default_factory=ReportHub)
    server: grpc.aio.Server | None = None
    port: int = 0
    _health: object | None = None
    _service_names: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        host = self.settings.grpc_addr.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    async def start(self) -> None:
        self.store = await Store.open(self.settings.db_url)
        if self.nats_url and self.venue_configs:
            self.nats = await connect_nats(self.nats_url, name="oms")
            self.connector = VenueConnector(self.nats, self.venue_configs)
        policy = ReconcilePolicy(ack_timeout_ns=int(self.venue_ack_timeout_s * 1e9))
        self.engine = OrderEngine(
            self.store, self.instruments, self.hub, venues=self.connector, policy=policy
        )
        await self.engine.start()
        if self.connector is not None:
            await self.connector.start(self.engine)
        bindings = self._bindings()
        self._service_names = [b.full_name for b in bindings]
        self.server, self.port, self._health = create_server(
            self.settings.grpc_addr,
            bindings,
            auth_secret=self.auth_secret,
            tls=self._tls(),
        )
        await self.server.start()
        serve_metrics(self, self.settings.metrics_addr)
        await set_serving(self._health, self._service_names)
        log.info("OMS gRPC server listening on %s", self.address)

    async def stop(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Refuse new work, let in-flight calls finish, commit, close."""
        if self._health is not None:
            await set_not_serving(self._health, self._service_names)  # type: ignore[arg-type]
        if self.server is not None:
            await self.server.stop(grace_s)
        if self.connector is not None:
            await self.connector.stop()
        if self.engine is not None:
            await self.engine.stop()
        if self.nats is not None:
            await close_nats(self.nats)
        if self.store is not None:
            await self.store.close()

    def _bindings(self) -> list[ServiceBinding]:
        assert self.engine is not None and self.store is not None
        order_service = OrderService(self.engine, self.store, self.hub, self.instruments)
        directory: VenueDirectory = self.connector or NoVenueDirectory()
        market_data = MarketDataService(self.instruments, directory)
        admin = AdminService(self.engine, directory)
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


def _binding(servicer: object, register: object, full_name: str) -> ServiceBinding:
    """A servicer with its registration function and full service name."""
    return ServiceBinding(servicer, register, full_name)  # type: ignore[arg-type]


def _service_name(module: Any, service: str) -> str:
    """The full protobuf name of ``service`` (e.g. oms.v1.OrderService), from its descriptor."""
    return str(module.DESCRIPTOR.services_by_name[service].full_name)


def resolve_auth_secret(settings: Settings) -> str:
    """OMS_AUTH_SECRET, or the secret stored under the state dir (made on first use)."""
    if settings.auth_secret:
        return settings.auth_secret
    path = settings.state_dir / AUTH_SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret
