"""Building the grpc.aio server: services, auth, health and reflection."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from oms_server.api.auth import AuthenticatingRegistrar, Authenticator

#: Largest request accepted; larger ones get RESOURCE_EXHAUSTED from gRPC itself.
MAX_MESSAGE_BYTES = 1 * 1024 * 1024
#: Calls served at once; more get RESOURCE_EXHAUSTED at once instead of piling up.
MAX_CONCURRENT_RPCS = 1000
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
    server = grpc.aio.server(
        maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    return server, _bind(server, addr, tls)


def add_services(
    server: grpc.aio.Server, services: Iterable[ServiceBinding], *, auth_secret: str
) -> health.aio.HealthServicer:
    """Register ``services`` behind the authenticator, with health and reflection."""
    registrar = AuthenticatingRegistrar(server, Authenticator(auth_secret))
    names = []
    for binding in services:
        binding.register(binding.servicer, registrar)  # type: ignore[arg-type]
        names.append(binding.full_name)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, registrar)  # type: ignore[arg-type]
    # Reflection is public and streaming: the registrar passes it on unwrapped.
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        reflection.aio.ReflectionServicer([*names, health.SERVICE_NAME, reflection.SERVICE_NAME]),
        registrar,
    )
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
