"""Configuration: one typed object, read once from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from oms_server.state import DEFAULT_STATE_DIR, default_db_url, state_dir
from router.freshness import DEFAULT_QUOTE_MAX_AGE_S

DEFAULT_GRPC_ADDR = "127.0.0.1:50051"
#: Where the operator page is served (OMS_WEB_ADDR; "off": nowhere).
DEFAULT_WEB_ADDR = "127.0.0.1:8080"
DEFAULT_DB_URL = default_db_url(Path(DEFAULT_STATE_DIR))


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the OMS reads from its environment (see CONTRACT.md)."""

    grpc_addr: str = DEFAULT_GRPC_ADDR
    db_url: str = DEFAULT_DB_URL
    nats_url: str | None = None
    auth_secret: str | None = None
    scenario_path: str | None = None
    state_dir: Path = Path(DEFAULT_STATE_DIR)
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None
    metrics_addr: str | None = None
    #: host:port of the operator page (oms_server.web); None: not served.
    web_addr: str | None = None
    #: A venue's book older than this is left out of quotes and routing.
    quote_max_age_s: float = DEFAULT_QUOTE_MAX_AGE_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        directory = state_dir(env)
        return cls(
            grpc_addr=env.get("OMS_GRPC_ADDR") or DEFAULT_GRPC_ADDR,
            db_url=env.get("OMS_DB_URL") or default_db_url(directory),
            nats_url=env.get("NATS_URL") or None,
            auth_secret=env.get("OMS_AUTH_SECRET") or None,
            scenario_path=env.get("OMS_SCENARIO") or None,
            state_dir=directory,
            tls_cert_file=env.get("OMS_TLS_CERT") or None,
            tls_key_file=env.get("OMS_TLS_KEY") or None,
            tls_client_ca_file=env.get("OMS_TLS_CLIENT_CA") or None,
            metrics_addr=env.get("OMS_METRICS_ADDR") or None,
            web_addr=_address_or_off(env.get("OMS_WEB_ADDR"), DEFAULT_WEB_ADDR),
            quote_max_age_s=_milliseconds_as_s(
                env, "OMS_QUOTE_MAX_AGE_MS", DEFAULT_QUOTE_MAX_AGE_S
            ),
        )


def _address_or_off(text: str | None, default: str) -> str | None:
    """host:port from the environment: unset is ``default``, "off" is None."""
    if not text:
        return default
    return None if text.strip().lower() == "off" else text.strip()


def _milliseconds_as_s(env: Mapping[str, str], name: str, default_s: float) -> float:
    """A positive number of milliseconds from ``env[name]``, in seconds; unset: the default."""
    text = env.get(name)
    if not text:
        return default_s
    try:
        value_ms = float(text)
    except ValueError:
        value_ms = 0.0
    if not 0 < value_ms < float("inf"):
        raise ValueError(f"{name} must be a positive number of milliseconds, not {text!r}")
    return value_ms / 1000
