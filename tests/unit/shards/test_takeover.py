"""A standby's decision: take a freed lock after the owner went quiet, seize a held one
after a long silence, and never depose an owner that still announces itself."""

from __future__ import annotations

import pytest

from oms_server.shards.announce import Announcement, Role, ShardWatch
from oms_server.shards.takeover import OWNER_GONE_S, OWNER_SILENT_S, Takeover, take_lease

pytestmark = pytest.mark.timeout(10)
ME = "host:2"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class StubLease:
    """Stands in for a StoreLease: a lock that is free or not, and what was asked of it."""

    def __init__(self, lock_free: bool) -> None:
        self.lock_free = lock_free
        self.seized = False

    async def try_acquire(self) -> bool:
        return self.lock_free

    async def seize(self) -> None:
        self.seized = True


async def run(
    lease: StubLease, watch: ShardWatch, clock: Clock, owner: Announcement | None
) -> tuple[Takeover, float]:
    """take_lease on a clock that moves 0.1 s per poll; the owner announces until it dies
    at t=1 (or never announces when None)."""

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        if owner is not None and clock.now < 1.0:
            watch.hear(owner)

    how = await take_lease(lease, watch, 1, ME, clock=clock, sleep=sleep)  # type: ignore[arg-type]
    return how, clock.now


def watch_on(clock: Clock) -> ShardWatch:
    watch = ShardWatch(clock=clock)
    watch.started_at = clock.now
    return watch


async def test_a_dead_owner_s_freed_lock_is_taken_once_it_has_been_quiet() -> None:
    clock = Clock()
    owner = Announcement(1, "host:1", 1, Role.ACTIVE, 1, "a:1")
    how, at = await run(StubLease(lock_free=True), watch_on(clock), clock, owner)
    assert how is Takeover.ACQUIRED
    assert 1.0 + OWNER_GONE_S - 0.2 <= at <= 1.0 + OWNER_GONE_S + 0.2


async def test_a_silent_owner_holding_its_lock_is_seized() -> None:
    clock, lease = Clock(), StubLease(lock_free=False)
    owner = Announcement(1, "host:1", 1, Role.ACTIVE, 1, "a:1")
    how, at = await run(lease, watch_on(clock), clock, owner)
    assert how is Takeover.SEIZED and lease.seized
    assert at >= 1.0 + OWNER_SILENT_S - 0.2


async def test_an_owner_that_seized_its_lease_is_not_deposed_while_it_announces() -> None:
    clock, lease = Clock(), StubLease(lock_free=True)  # it holds no lock
    watch = watch_on(clock)
    owner = Announcement(1, "host:1", 1, Role.ACTIVE, 5, "a:1")
    watch.hear(owner)
    tries = 0

    async def try_acquire() -> bool:
        nonlocal tries
        tries += 1
        return True

    lease.try_acquire = try_acquire  # type: ignore[method-assign]
    how, at = await run(lease, watch, clock, owner)
    assert how is Takeover.ACQUIRED and tries == 1 and at >= 1.0  # tried only once it fell silent


async def test_nobody_ever_announced_the_lease_is_taken_after_a_short_wait() -> None:
    clock = Clock()
    how, at = await run(StubLease(lock_free=True), watch_on(clock), clock, None)
    assert how is Takeover.ACQUIRED and at == pytest.approx(OWNER_GONE_S, abs=0.15)
