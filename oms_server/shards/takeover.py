"""A standby's wait for its shard's lease: when to take it, and when to seize it.

The owner announces itself every quarter second (oms_server.shards.announce). A standby
goes for the lease once the owner has been silent for ``OWNER_GONE_S`` (or says it is
stopping): if the owner's lock is free (it died: the OS let go of it), the standby takes
the lease as any process would. If the lock is still held after ``OWNER_SILENT_S`` of
silence, the owner is alive but not running (SIGSTOP, a hung host): the standby seizes
the token (``StoreLease.seize``) and the owner, should it run again, cannot commit.

Silence, not the free lock alone, is the signal: an owner that seized its lease holds
no lock, and a standby must not depose it while it still announces itself.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

from oms_server.shards.announce import ANNOUNCE_INTERVAL_S, Role, ShardWatch
from oms_server.store.lease import StoreLease

log = logging.getLogger(__name__)

#: Seconds of owner silence after which a standby takes a freed lock (three beats).
OWNER_GONE_S = 3 * ANNOUNCE_INTERVAL_S
#: Seconds of owner silence after which a standby seizes a lock still held.
OWNER_SILENT_S = 2.5
#: Up to this much more, at random, so two standbys do not seize at once.
SEIZE_JITTER_S = 0.5
POLL_INTERVAL_S = 0.1


class Takeover(StrEnum):
    """How a standby came to hold the lease."""

    #: The lock was free (the owner died or let go).
    ACQUIRED = "ACQUIRED"
    #: The owner went silent holding its lock; its token was taken from under it.
    SEIZED = "SEIZED"


async def take_lease(
    lease: StoreLease,
    watch: ShardWatch,
    shard_id: int,
    instance: str,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> Takeover:
    """Wait until this process holds the shard's lease; how it came to."""
    seize_after_s = OWNER_SILENT_S + random.uniform(0, SEIZE_JITTER_S)
    while True:
        silent_s = _owner_silence_s(watch, shard_id, instance, clock)
        if silent_s >= OWNER_GONE_S or _owner_stopping(watch, shard_id, instance):
            if await lease.try_acquire():
                return Takeover.ACQUIRED
            if silent_s >= seize_after_s:
                await lease.seize()
                log.warning(
                    "shard %d: its owner was silent for %.1f s holding its lock: seized",
                    shard_id,
                    silent_s,
                )
                return Takeover.SEIZED
        await sleep(POLL_INTERVAL_S)


def _owner_silence_s(
    watch: ShardWatch, shard_id: int, instance: str, clock: Callable[[], float]
) -> float:
    """Seconds since another process last claimed the lease (or since we listen)."""
    heard_at = watch.last_heard_owner_at(shard_id, other_than=instance)
    since = watch.started_at if heard_at is None else max(heard_at, watch.started_at)
    return clock() - since


def _owner_stopping(watch: ShardWatch, shard_id: int, instance: str) -> bool:
    owner = watch.owner(shard_id)
    return owner is not None and owner.instance != instance and owner.role is Role.STOPPING
