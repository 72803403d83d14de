"""Connecting to NATS the same way everywhere: bounded reconnects, logged state changes."""

from __future__ import annotations

import contextlib
import logging

import nats
from nats.aio.client import Client as NatsClient

log = logging.getLogger(__name__)

#: Seconds between reconnect attempts, and how many (-1: forever, as a service should).
RECONNECT_WAIT_S = 0.25
MAX_RECONNECT_ATTEMPTS = -1
CONNECT_TIMEOUT_S = 5.0
#: Longest wait for in-flight messages when closing.
DRAIN_TIMEOUT_S = 2.0


async def connect_nats(url: str, *, name: str) -> NatsClient:
    """A connected client that keeps reconnecting when the server goes away."""

    async def on_disconnect() -> None:
        log.warning("%s: disconnected from NATS", name)

    async def on_reconnect() -> None:
        log.info("%s: reconnected to NATS", name)

    async def on_error(exc: Exception) -> None:
        log.warning("%s: NATS error: %s", name, exc)

    return await nats.connect(
        url,
        name=name,
        connect_timeout=CONNECT_TIMEOUT_S,
        reconnect_time_wait=RECONNECT_WAIT_S,
        max_reconnect_attempts=MAX_RECONNECT_ATTEMPTS,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
        allow_reconnect=True,
        drain_timeout=DRAIN_TIMEOUT_S,
    )


async def close_nats(nc: NatsClient) -> None:
    """Flush what is pending and close."""
    with contextlib.suppress(Exception):
        await nc.drain()
    with contextlib.suppress(Exception):
        await nc.close()
