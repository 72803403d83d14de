"""The front with one shard down: the other answers, a call for the down one is refused
UNAVAILABLE SHARD_UNAVAILABLE naming it, and the SDK's retry of a submit lands once when
an owner comes.

A real front and a real OMS on loopback; who owns which shard is told to the front's
ShardWatch by hand, as the shards' announcements would (no NATS needed for that).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.sdk import OmsClient
from clients.sdk.client import RetryPolicy
from clients.sdk.errors import OmsError
from oms_server.domain.access import Role
from oms_server.domain.shards import ShardMap
from oms_server.shards.announce import ANNOUNCE_INTERVAL_S, Announcement, ShardWatch
from oms_server.shards.announce import Role as ShardRole
from oms_server.shards.front import Front, ShardUnavailableError
from tests.support.fixtures import STARTING_CASH, TEST_SECRET, RunningOms, token
from tests.support.shards import accounts_on
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(30)

#: How long the front holds a call for a shard without owner (2 s in production).
SHARD_WAIT_S = 0.3
SHARD_MAP = ShardMap.even(2)
#: ACC1 (a test account of RunningOms) hashes to shard 1; this one to shard 2.
ON_SHARD_2 = accounts_on(SHARD_MAP, 2, 1, "DOWN-")[0]


class Announcing:
    """Announces, every ANNOUNCE_INTERVAL_S, the OMS at ``address`` as the active owner of
    the shards in ``owned`` (a test adds shards to it)."""

    def __init__(self, watch: ShardWatch, address: str) -> None:
        self._watch = watch
        self._address = address
        self.owned: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._beat())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def own(self, shard_id: int) -> None:
        self.owned.add(shard_id)
        self._announce(shard_id)

    def _announce(self, shard_id: int) -> None:
        self._watch.hear(
            Announcement(
                shard_id, f"test:{shard_id}", os.getpid(), ShardRole.ACTIVE, 1, self._address
            )
        )

    async def _beat(self) -> None:
        while True:
            for shard_id in list(self.owned):
                self._announce(shard_id)
            await asyncio.sleep(ANNOUNCE_INTERVAL_S)


@pytest.fixture
async def front(
    oms_sqlite: RunningOms,
) -> AsyncIterator[tuple[Front, Announcing]]:
    assert oms_sqlite.app is not None and oms_sqlite.app.engine is not None
    engine = oms_sqlite.app.engine
    await engine.create_account(ON_SHARD_2)
    await engine.deposit(ON_SHARD_2, STARTING_CASH)
    watch = ShardWatch()
    served = Front("127.0.0.1:0", SHARD_MAP, watch, TEST_SECRET, shard_wait_s=SHARD_WAIT_S)
    announcing = Announcing(watch, oms_sqlite.target)
    announcing.start()
    await served.start()
    try:
        yield served, announcing
    finally:
        await announcing.stop()
        await served.stop(grace_s=0.5)


async def test_a_down_shard_is_named_while_the_other_answers_and_health_follows(
    front: tuple[Front, Announcing],
) -> None:
    served, announcing = front
    async with grpc.aio.insecure_channel(served.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert await _health(health) == health_pb2.HealthCheckResponse.NOT_SERVING
        announcing.own(1)

        async def serving() -> bool:
            return await _health(health) == health_pb2.HealthCheckResponse.SERVING

        await eventually(serving, message="the front serves once a shard does")
    async with _client(served, RetryPolicy(max_attempts=1)) as trader:
        assert (await trader.get_account("ACC1")).cash == str(STARTING_CASH)
        started = time.monotonic()
        with pytest.raises(OmsError) as refused:
            await trader.get_account(ON_SHARD_2)
        waited_s = time.monotonic() - started
    assert refused.value.code is grpc.StatusCode.UNAVAILABLE
    assert refused.value.reason == "SHARD_UNAVAILABLE"
    assert refused.value.metadata["shard_id"] == "2"
    assert "shard 2" in refused.value.message
    assert SHARD_WAIT_S <= waited_s < SHARD_WAIT_S + 2.0  # held, then refused, not hung


async def test_the_sdk_retries_a_submit_to_a_down_shard_and_it_lands_once(
    front: tuple[Front, Announcing], monkeypatch: pytest.MonkeyPatch
) -> None:
    served, announcing = front
    announcing.own(1)
    refusals: list[ShardUnavailableError] = []
    find_owner = served._active_owner

    async def counting(shard_id: int, context: grpc.aio.ServicerContext) -> Announcement:
        try:
            return await find_owner(shard_id, context)
        except ShardUnavailableError as refused:
            refusals.append(refused)
            raise

    monkeypatch.setattr(served, "_active_owner", counting)
    retry = RetryPolicy(max_attempts=8, initial_backoff_s=0.1, max_backoff_s=0.5)
    async with _client(served, retry) as trader:
        submitting = asyncio.create_task(
            trader.submit_order(
                account_id=ON_SHARD_2,
                client_order_id="while-down",
                symbol="AAPL",
                side="buy",
                quantity="10",
                limit_price="190.00",
                time_in_force="gtc",
            )
        )
        await eventually(lambda: refusals, message="an attempt refused while shard 2 is down")
        assert not submitting.done()
        announcing.own(2)
        order = await asyncio.wait_for(submitting, 10)
        listed = await trader.list_orders(ON_SHARD_2)
    assert [o.order_id for o in listed.orders] == [order.order_id]
    assert order.client_order_id == "while-down"


def _client(served: Front, retry: RetryPolicy) -> OmsClient:
    return OmsClient(served.address, token(Role.TRADER, ("ACC1", ON_SHARD_2)), retry=retry)


async def _health(health: health_pb2_grpc.HealthStub) -> int:
    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
    return int(reply.status)
