"""ShardWatch: who owns a shard, as announcements tell, and what ListShards shows."""

from __future__ import annotations

import pytest

from oms_server.domain.shards import ShardState
from oms_server.shards.announce import ANNOUNCE_EXPIRY_S, Announcement, Role, ShardWatch

pytestmark = pytest.mark.timeout(10)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def process(pid: int, role: Role, token: int = 0, shard_id: int = 1) -> Announcement:
    address = f"127.0.0.1:{pid}" if role is Role.ACTIVE else ""
    return Announcement(shard_id, f"host:{pid}", pid, role, token, address, account_count=pid)


def test_the_owner_is_the_freshest_claim_with_the_highest_token() -> None:
    clock = Clock()
    watch = ShardWatch(clock=clock)
    watch.hear(process(10, Role.ACTIVE, token=3))
    watch.hear(process(11, Role.STANDBY))
    assert watch.info(1) == watch.info(1).__class__(1, ShardState.ACTIVE, 10, 11, 10)
    watch.hear(process(12, Role.ACTIVE, token=2))  # a deposed owner back for a moment
    assert watch.owner(1).pid == 10  # type: ignore[union-attr]
    watch.hear(process(11, Role.RECOVERING, token=4))  # the standby took over
    info = watch.info(1)
    assert (info.state, info.owner_pid, info.standby_pid) == (ShardState.RECOVERING, 11, 0)
    assert watch.active_owner(1) is None


def test_an_owner_that_stops_announcing_is_gone_and_the_shard_down() -> None:
    clock = Clock()
    watch = ShardWatch(clock=clock)
    watch.hear(process(10, Role.ACTIVE, token=1))
    clock.now += ANNOUNCE_EXPIRY_S + 0.1
    assert watch.owner(1) is None
    assert watch.info(1).state is ShardState.DOWN
    assert watch.last_heard_owner_at(1, other_than="host:99") == 100.0


def test_an_unreachable_owner_is_skipped_until_it_announces_itself_again() -> None:
    clock = Clock()
    watch = ShardWatch(clock=clock)
    owner = process(10, Role.ACTIVE, token=1)
    watch.hear(owner)
    watch.unreachable(owner)
    assert watch.active_owner(1) is None
    clock.now += 0.25
    watch.hear(owner)
    assert watch.active_owner(1) == owner


async def test_wait_active_returns_the_owner_once_one_is_heard() -> None:
    watch = ShardWatch()
    assert await watch.wait_active(2, 0.05) is None
    watch.hear(process(20, Role.ACTIVE, token=1, shard_id=2))
    assert (await watch.wait_active(2, 1.0)).pid == 20  # type: ignore[union-attr]


def test_announcements_travel_as_json() -> None:
    announcement = process(10, Role.ACTIVE, token=7)
    assert Announcement.decode(announcement.encode()) == announcement
