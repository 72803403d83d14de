"""The gateway's configuration: one typed object, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from clients.fix.framing import DEFAULT_MAX_MESSAGE_BYTES
from clients.sdk import TlsOptions
from oms_server.state import DEFAULT_STATE_DIR, state_dir

DEFAULT_FIX_ADDR: Final = "127.0.0.1:9878"
#: OMS_FIX_ADDR=off: no FIX gateway under `oms up`.
OFF: Final = "off"
DEFAULT_TARGET: Final = "127.0.0.1:50051"
#: The gateway's directory in the state directory.
FIX_STATE_DIR: Final = "fix"
#: Client CompIDs the gateway keeps sessions for.
DEFAULT_MAX_SESSIONS: Final = 256
#: How long a new connection has to send its Logon.
DEFAULT_LOGON_TIMEOUT_S: Final = 10.0
#: Connections at once between accept and logon (the rest are closed at once).
DEFAULT_MAX_PENDING_LOGONS: Final = 64


@dataclass(frozen=True, slots=True)
class FixConfig:
    """Where the gateway listens, the OMS it trades through, where it keeps its state."""

    host: str = "127.0.0.1"
    port: int = 9878
    target: str = DEFAULT_TARGET
    state_dir: Path = Path(DEFAULT_STATE_DIR) / FIX_STATE_DIR
    tls: TlsOptions | None = None
    max_sessions: int = DEFAULT_MAX_SESSIONS
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    logon_timeout_s: float = DEFAULT_LOGON_TIMEOUT_S
    max_pending_logons: int = DEFAULT_MAX_PENDING_LOGONS

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, target: str | None = None
    ) -> FixConfig | None:
        """The configuration in ``env``; None when OMS_FIX_ADDR is ``off``.

        OMS_FIX_ADDR (host:port), OMS_TARGET (the OMS; default OMS_GRPC_ADDR),
        OMS_TARGET_CA (a CA bundle: reach the OMS with TLS), OMS_STATE_DIR (the FIX state
        goes in its ``fix/``).
        """
        env = os.environ if env is None else env
        address = (env.get("OMS_FIX_ADDR") or DEFAULT_FIX_ADDR).strip()
        if address.lower() == OFF:
            return None
        host, port = parse_address(address)
        ca_file = env.get("OMS_TARGET_CA")
        return cls(
            host=host,
            port=port,
            target=target or env.get("OMS_TARGET") or env.get("OMS_GRPC_ADDR") or DEFAULT_TARGET,
            state_dir=state_dir(env) / FIX_STATE_DIR,
            tls=TlsOptions(root_certificates=Path(ca_file).read_bytes()) if ca_file else None,
        )


def parse_address(address: str) -> tuple[str, int]:
    """(host, port) of ``host:port``; ValueError naming OMS_FIX_ADDR otherwise."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"OMS_FIX_ADDR must be host:port or {OFF!r}, not {address!r}")
    return host, int(port)
