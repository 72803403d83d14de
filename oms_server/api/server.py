"""Building the grpc.aio server: services, auth, health and reflection."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from oms_server.api.admission import Admission
from oms_server.api.auth import AuthenticatingRegistrar, Authenticator
from oms_server.api.metrics import ApiMetrics
from oms_server.api.reflection import add_reflection

#: Largest request accepted; larger ones get RESOURCE_EXHAUSTED from gRPC itself.
MAX_MESSAGE_BYTES = 1 * 1024 * 1024
#: A connection that has not finished its HTTP/2 (and TLS) handshake by then is closed.
HANDSHAKE_TIMEOUT_MS = 10_000
#: A connection with no call for this long is closed (GOAWAY): idle sockets are not held.
MAX_CONNECTION_IDLE_MS = 5 * 60_000
#: Keepalive pings on open connections, and how long an answer may take.
KEEPALIVE_TIME_MS = 60_000
KEEPALIVE_TIMEOUT_MS = 20_000
#: Clients may not ping more often than this (abusive pings end the connection).
MIN_CLIENT_PING_INTERVAL_MS = 10_000
#: Seconds in-flight calls get to finish when the server stops.
DEFAULT_GRACE_S = 5.0


class ServerStartError(RuntimeError):
    """The server cannot listen where it was told to."""

    def __str__(self) -> str:
        return f"grpc: {self.args[0]}"


@dataclass(frozen=True, slots=True)
class ServiceBinding:
    """A servicer, the function that registers it, and its full service name."""

    servicer: object
    register: Callable[[object, grpc.aio.Server], None]
    full_name: str


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Server certificate and key, and optionally a CA for mutual TLS."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None


def create_server(
    addr: str,
    services: Iterable[ServiceBinding],
    *,
    auth_secret: str,
    tls: TlsFiles | None = None,
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """A server bound to ``addr`` (port 0 picks a free one); returns it, its port, health."""
    server, port = bind_server(addr, tls=tls)
    return server, port, add_services(server, services, auth_secret=auth_secret)


def bind_server(addr: str, *, tls: TlsFiles | None = None) -> tuple[grpc.aio.Server, int]:
    """A server bound to ``addr``, with no services yet, and its port: a process learns
    that its port is taken before it opens anything else (``add_services`` next)."""
    # No maximum_concurrent_rpcs: it counted health, reflection and unauthenticated
    # calls too, so anyone could take every slot. api/admission.py caps calls instead.
    server = grpc.aio.server(options=server_options())
    return server, _bind(server, addr, tls)


def server_options() -> list[tuple[str, int]]:
    """The grpc server's channel arguments: message size, and connection timeouts."""
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.so_reuseport", 0),
        ("grpc.server_handshake_timeout_ms", HANDSHAKE_TIMEOUT_MS),
        ("grpc.max_connection_idle_ms", MAX_CONNECTION_IDLE_MS),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.http2.min_ping_interval_without_data_ms", MIN_CLIENT_PING_INTERVAL_MS),
        ("grpc.http2.max_ping_strikes", 2),
    ]


def add_services(
    server: grpc.aio.Server,
    services: Iterable[ServiceBinding],
    *,
    auth_secret: str,
    admission: Admission | None = None,
    metrics: ApiMetrics | None = None,
) -> health.aio.HealthServicer:
    """Register ``services`` behind the authenticator (and ``admission``'s caps, counting
    calls in ``metrics``), with health and reflection (v1 and v1alpha)."""
    authenticator = Authenticator(auth_secret, admission, metrics)
    registrar = AuthenticatingRegistrar(server, authenticator)
    names = []
    for binding in services:
        binding.register(binding.servicer, registrar)  # type: ignore[arg-type]
        names.append(binding.full_name)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, registrar)  # type: ignore[arg-type]
    # Reflection is public and streaming: the registrar passes it on unwrapped.
    add_reflection([*names, health.SERVICE_NAME], registrar)
    return health_servicer


async def set_serving(health_servicer: health.aio.HealthServicer, names: Iterable[str]) -> None:
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)


async def set_not_serving(health_servicer: health.aio.HealthServicer, names: Iterable[str]) -> None:
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)


def _bind(server: grpc.aio.Server, addr: str, tls: TlsFiles | None) -> int:
    try:
        if tls is None:
            port = server.add_insecure_port(addr)
        else:
            port = server.add_secure_port(addr, _credentials(tls))
    except RuntimeError as exc:
        raise ServerStartError(f"cannot listen on {addr}: {exc}") from exc
    if port == 0:
        raise ServerStartError(f"cannot listen on {addr}: the address is in use or invalid")
    return port


def _credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    key = Path(tls.key_file).read_bytes()
    cert = Path(tls.cert_file).read_bytes()
    ca = Path(tls.client_ca_file).read_bytes() if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )
