"""Connecting to NATS the same way everywhere: bounded reconnects, logged state changes.

Also the JetStream stream both sides of the venue protocol rely on (``ensure_exec_stream``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from venues import subjects

log = logging.getLogger(__name__)

#: Seconds between reconnect attempts, and how many (-1: forever, as a service should).
RECONNECT_WAIT_S = 0.25
MAX_RECONNECT_ATTEMPTS = -1
CONNECT_TIMEOUT_S = 5.0
#: Longest wait for in-flight messages when closing.
DRAIN_TIMEOUT_S = 2.0
#: Copies JetStream keeps of the execution report stream unless told otherwise.
DEFAULT_REPLICAS = 1
#: Every subject of the execution report stream: a single OMS's, and its shards'.
EXEC_SUBJECTS = (subjects.EXEC_STREAM_SUBJECTS, subjects.EXEC_STREAM_ROUTED_SUBJECTS)


def nats_servers(url: str) -> list[str]:
    """The servers of a NATS_URL, which may list several of one cluster, comma-separated."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError(f"NATS_URL names no server: {url!r}")
    return servers


async def connect_nats(url: str, *, name: str) -> NatsClient:
    """A connected client that keeps reconnecting when the server goes away (to any
    server ``url`` lists, comma-separated, or the cluster told it about)."""

    async def on_disconnect() -> None:
        log.warning("%s: disconnected from NATS", name)

    async def on_reconnect() -> None:
        log.info("%s: reconnected to NATS", name)

    async def on_error(exc: Exception) -> None:
        log.warning("%s: NATS error: %s", name, exc)

    return await nats.connect(
        nats_servers(url),
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


async def ensure_exec_stream(js: JetStreamContext, replicas: int = DEFAULT_REPLICAS) -> None:
    """Create the VENUE_EXEC stream if it does not exist (file storage, ``replicas``
    copies: 1 on a single server, 3 on a three-node cluster). An existing stream gains
    the subjects it lacks and never loses replicas: whoever asks for fewer (a venue
    started with the default) leaves it as it is."""
    config = StreamConfig(
        name=subjects.EXEC_STREAM,
        subjects=list(EXEC_SUBJECTS),
        max_age=subjects.EXEC_STREAM_MAX_AGE_S,
        num_replicas=replicas,
    )
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(5),
        wait=wait_exponential(multiplier=0.1, max=2.0),
        retry=retry_if_exception_type((nats.errors.TimeoutError, asyncio.TimeoutError)),
        reraise=True,
    ):
        with attempt:
            try:
                await js.add_stream(config)
            except BadRequestError:
                await _widen_stream(js, config)


async def _widen_stream(js: JetStreamContext, wanted: StreamConfig) -> None:
    """Give the existing stream the subjects and replicas of ``wanted`` it lacks."""
    current = (await js.stream_info(wanted.name or "")).config
    subjects_now = list(current.subjects or [])
    missing = [s for s in wanted.subjects or [] if s not in subjects_now]
    replicas = max(current.num_replicas or 1, wanted.num_replicas or 1)
    if missing or replicas != (current.num_replicas or 1):
        current.subjects = subjects_now + missing
        current.num_replicas = replicas
        await js.update_stream(current)
