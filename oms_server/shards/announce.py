"""Who serves which shard: announcements on core NATS, and the view listeners keep of them.

Every shard process publishes an ``Announcement`` on ``oms.shards.<id>.status`` every
``ANNOUNCE_INTERVAL_S``: its role (standby, recovering, active, stopping), the fencing
token it holds, and, once active, its gRPC address and account count. Nothing is
stored: an announcement lives until the next, and a process that stops announcing is
gone after ``ANNOUNCE_EXPIRY_S``. Which process may commit is never decided here (the
store's fence decides that); this view says where to send calls, and when a standby
should go and look.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from oms_server.domain.shards import ShardInfo, ShardState
from venues.tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: Seconds between two announcements of a process.
ANNOUNCE_INTERVAL_S = 0.25
#: Seconds after its last announcement that a process counts as gone.
ANNOUNCE_EXPIRY_S = 1.5
#: Processes remembered per shard (the latest heard); older ones are long gone.
MAX_PROCESSES_KEPT = 16
SUBJECT_PREFIX = "oms.shards"
ALL_SHARDS_SUBJECT = f"{SUBJECT_PREFIX}.*.status"


def status_subject(shard_id: int) -> str:
    return f"{SUBJECT_PREFIX}.{shard_id}.status"


class Role(StrEnum):
    """What a shard process is doing."""

    #: Waiting on the shard's lease.
    STANDBY = "STANDBY"
    #: Holds the lease; rebuilding from the store and reconciling with the venues.
    RECOVERING = "RECOVERING"
    #: Holds the lease and serves the shard.
    ACTIVE = "ACTIVE"
    #: Holds the lease and is shutting down: finishing in-flight calls, then letting go.
    STOPPING = "STOPPING"

    @property
    def holds_lease(self) -> bool:
        return self is not Role.STANDBY


@dataclass(frozen=True, slots=True)
class Announcement:
    """One shard process, as it describes itself."""

    shard_id: int
    #: Unique per process, across hosts: host, pid and start time.
    instance: str
    pid: int
    role: Role
    #: The store lease's fencing token it holds (0 as a standby).
    token: int = 0
    #: Its gRPC address once active ("" before).
    address: str = ""
    account_count: int = 0

    @classmethod
    def of_this_process(cls, shard_id: int) -> Announcement:
        instance = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns():x}"
        return cls(shard_id, instance, os.getpid(), Role.STANDBY)

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, data: bytes) -> Announcement:
        fields = json.loads(data)
        fields["role"] = Role(fields["role"])
        return cls(**fields)


class Announcer:
    """Publishes this process's announcement every ANNOUNCE_INTERVAL_S, and at once on
    every change (``update``)."""

    def __init__(
        self,
        nc: NatsClient,
        announcement: Announcement,
        *,
        account_count: Callable[[], int] | None = None,
    ) -> None:
        self._nc = nc
        self.current = announcement
        self._account_count = account_count
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._publish()
        self._task = asyncio.create_task(self._beat(), name="shard-announcer")

    async def update(self, **changes: object) -> None:
        """Change the announcement (fields of Announcement) and publish it now."""
        self.current = replace(self.current, **changes)  # type: ignore[arg-type]
        await self._publish()

    def count_accounts_with(self, account_count: Callable[[], int]) -> None:
        self._account_count = account_count

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task], "shard announcer")
            self._task = None

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(ANNOUNCE_INTERVAL_S)
            await self._publish()

    async def _publish(self) -> None:
        if self._account_count is not None:
            self.current = replace(self.current, account_count=self._account_count())
        subject = status_subject(self.current.shard_id)
        with contextlib.suppress(nats.errors.Error):  # reconnecting: the next beat tells
            await self._nc.publish(subject, self.current.encode())


@dataclass(slots=True)
class _Heard:
    announcement: Announcement
    at: float


class ShardWatch:
    """The latest announcement of every shard process, and what follows from them.

    ``owner`` is the freshest claim to a shard's lease with the highest token (a deposed
    owner that comes back still announces its old token for a moment: it loses). A
    caller that found an owner unreachable marks it (``unreachable``): it is not routed
    to again until it announces itself after that.
    """

    def __init__(
        self,
        shard_ids: Iterable[int] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._subjects = (
            [ALL_SHARDS_SUBJECT] if shard_ids is None else [status_subject(s) for s in shard_ids]
        )
        self._clock = clock
        self._heard: dict[int, dict[str, _Heard]] = {}
        self._unreachable: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._subscriptions: list[Subscription] = []
        self.started_at = clock()

    async def start(self, nc: NatsClient) -> None:
        """Listen on ``nc`` (every shard, or the shards given)."""
        self.started_at = self._clock()
        for subject in self._subjects:
            self._subscriptions.append(await nc.subscribe(subject, cb=self._on_message))

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        self._subscriptions = []

    # -- what is known ------------------------------------------------------------------

    def hear(self, announcement: Announcement) -> None:
        """Take in one announcement (from NATS, or a test)."""
        now = self._clock()
        heard = self._heard.setdefault(announcement.shard_id, {})
        heard[announcement.instance] = _Heard(announcement, now)
        if len(heard) > MAX_PROCESSES_KEPT:  # processes long gone: forget the oldest
            del heard[min(heard, key=lambda instance: heard[instance].at)]
        if self._unreachable.get(announcement.instance, now) < now:
            del self._unreachable[announcement.instance]
        self._changed.set()

    def unreachable(self, announcement: Announcement) -> None:
        """A call to ``announcement``'s process failed to reach it."""
        self._unreachable[announcement.instance] = self._clock()
        self._changed.set()

    def owner(self, shard_id: int, *, max_age_s: float = ANNOUNCE_EXPIRY_S) -> Announcement | None:
        """The process holding the shard's lease, as far as announcements tell."""
        claims = [a for a in self._fresh(shard_id, max_age_s) if a.role.holds_lease]
        return max(claims, key=lambda a: a.token, default=None)

    def last_heard_owner_at(self, shard_id: int, *, other_than: str) -> float | None:
        """When a process other than ``other_than`` last claimed the shard's lease."""
        times = [
            heard.at
            for heard in self._heard.get(shard_id, {}).values()
            if heard.announcement.role.holds_lease and heard.announcement.instance != other_than
        ]
        return max(times, default=None)

    def active_owner(self, shard_id: int) -> Announcement | None:
        """The owner calls go to: active, announced lately, and not found unreachable."""
        owner = self.owner(shard_id)
        if owner is None or owner.role is not Role.ACTIVE or owner.instance in self._unreachable:
            return None
        return owner

    def standby(self, shard_id: int) -> Announcement | None:
        standbys = [a for a in self._fresh(shard_id, ANNOUNCE_EXPIRY_S) if a.role is Role.STANDBY]
        return min(standbys, key=lambda a: a.instance, default=None)

    def info(self, shard_id: int) -> ShardInfo:
        """The shard as ListShards shows it."""
        owner, standby = self.owner(shard_id), self.standby(shard_id)
        if owner is not None and self.active_owner(shard_id) is owner:
            state = ShardState.ACTIVE
        elif owner is not None and owner.role is Role.RECOVERING:
            state = ShardState.RECOVERING
        else:
            state = ShardState.RECOVERING if standby is not None else ShardState.DOWN
        return ShardInfo(
            shard_id,
            state,
            owner_pid=owner.pid if owner is not None else 0,
            standby_pid=standby.pid if standby is not None else 0,
            account_count=owner.account_count if owner is not None else 0,
        )

    async def wait_active(self, shard_id: int, timeout_s: float) -> Announcement | None:
        """The shard's active owner, waiting up to ``timeout_s`` for one; None if none came."""
        deadline = self._clock() + timeout_s
        while (owner := self.active_owner(shard_id)) is None:
            left_s = deadline - self._clock()
            if left_s <= 0:
                return None
            await self.wait_changed(min(left_s, ANNOUNCE_INTERVAL_S))
        return owner

    async def wait_changed(self, timeout_s: float) -> None:
        """Until something is heard, or ``timeout_s``."""
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout_s)

    def _fresh(self, shard_id: int, max_age_s: float) -> list[Announcement]:
        oldest = self._clock() - max_age_s
        return [h.announcement for h in self._heard.get(shard_id, {}).values() if h.at >= oldest]

    async def _on_message(self, msg: Msg) -> None:
        try:
            announcement = Announcement.decode(msg.data)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("dropped a malformed shard announcement on %s: %s", msg.subject, exc)
            return
        self.hear(announcement)
