"""PullConsumer against a real nats-server: batches in stream order, redelivery, restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from tests.support.waiting import eventually
from venues.nats_client import close_nats, connect_nats
from venues.nats_runtime import EmbeddedNats
from venues.pull import PullConsumer, PullError

pytestmark = pytest.mark.timeout(30)

STREAM = "T_EXEC"
SUBJECTS = "venue.*.exec"
DURABLE = "test-exec"
FETCH_S = 0.3


@pytest.fixture
async def client(nats_server: EmbeddedNats) -> AsyncIterator[NatsClient]:
    nc = await connect_nats(nats_server.url, name="pull-test")
    await nc.jetstream().add_stream(StreamConfig(name=STREAM, subjects=[SUBJECTS]))
    try:
        yield nc
    finally:
        await close_nats(nc)


async def consumer(nc: NatsClient, *, batch: int = 8, ack_wait_s: float = 5.0) -> PullConsumer:
    pull = PullConsumer(nc, STREAM, DURABLE, batch=batch, expires_s=FETCH_S)
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s)
    await pull.start(SUBJECTS, config)
    return pull


async def publish(nc: NatsClient, payloads: list[bytes]) -> None:
    js = nc.jetstream()
    for payload in payloads:
        await js.publish("venue.A.exec", payload)


def numbered(count: int, start: int = 0) -> list[bytes]:
    return [str(i).encode() for i in range(start, start + count)]


async def test_batches_come_in_stream_order_and_no_larger_than_asked(client: NatsClient) -> None:
    await publish(client, numbered(50))
    pull = await consumer(client, batch=8)
    received: list[bytes] = []
    sizes: list[int] = []

    async def all_taken() -> bool:
        messages = await pull.fetch(FETCH_S)
        sizes.append(len(messages))
        for msg in messages:
            received.append(msg.data)
            await msg.ack()
        return len(received) >= 50

    await eventually(all_taken, message="50 messages")
    assert received == numbered(50)
    assert max(sizes) <= 8
    assert await pull.fetch(FETCH_S) == []  # idle: nothing, after the timeout
    await pull.stop()


async def take(pull: PullConsumer, count: int, message: str) -> list[bytes]:
    """Fetch until ``count`` messages came (however they were batched), without acking."""
    taken: list[bytes] = []

    async def enough() -> bool:
        taken.extend(msg.data for msg in await pull.fetch(FETCH_S))
        return len(taken) >= count

    await eventually(enough, message=message)
    return taken


async def test_unacked_messages_come_again_and_a_restart_binds_to_the_consumer(
    client: NatsClient,
) -> None:
    await publish(client, numbered(5))
    first = await consumer(client, ack_wait_s=1.0)
    assert await take(first, 5, "first delivery") == numbered(5)
    await first.stop()  # as if the OMS died before storing them: nothing acked

    second = await consumer(client, ack_wait_s=30.0)  # binds: the config stays as it was
    info = await client.jetstream().consumer_info(STREAM, DURABLE)
    assert info.config.ack_wait == 1.0
    again: list[Msg] = []

    async def redelivered() -> bool:
        again.extend(await second.fetch(FETCH_S))
        return len(again) >= 5

    await eventually(redelivered, message="redelivery")
    assert [m.data for m in again] == numbered(5)
    for msg in again:
        await msg.ack()
    await second.stop()


async def test_a_pull_request_lost_in_a_broker_restart_is_replaced(
    nats_server: EmbeddedNats, client: NatsClient
) -> None:
    pull = await consumer(client)
    assert await pull.fetch(FETCH_S) == []  # a request is open on the server
    await nats_server.restart()
    await eventually(lambda: client.is_connected, message="reconnected")
    await publish(client, [b"after"])

    async def delivered() -> list[Msg]:
        try:
            return await pull.fetch(FETCH_S)
        except PullError:  # "409 Server Shutdown" ended the open request: ask again
            return []

    messages = await eventually(delivered, message="delivered after restart")
    assert [m.data for m in messages] == [b"after"]
    await pull.stop()


async def test_a_refused_request_raises(client: NatsClient) -> None:
    pull = await consumer(client)
    await client.jetstream().delete_consumer(STREAM, DURABLE)

    async def refused() -> bool:
        try:
            await pull.fetch(FETCH_S)
        except PullError:
            return True
        return False

    await eventually(refused, message="PullError")
    await pull.stop()
