"""PipelinedPublisher: order on the wire, bounded PubAcks in flight, nothing lost.

The first tests drive it through a hand-written NATS stub that records each publish and
answers PubAcks only when told; the last ones run against a real nats-server, one of
them through a broker restart.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import StreamConfig

from tests.support.waiting import eventually
from venues.nats_client import close_nats, connect_nats
from venues.nats_runtime import EmbeddedNats
from venues.publisher import PipelinedPublisher

pytestmark = pytest.mark.timeout(30)

PUB_ACK = b'{"stream":"S","seq":1}'
SUBJECT = "venue.T.exec"
STREAM = "T_EXEC"


@dataclass
class StubMsg:
    subject: str
    data: bytes
    headers: dict[str, str] | None = None


@dataclass
class StubNats:
    """Records publishes; PubAcks arrive when the test calls ``answer``."""

    published: list[tuple[bytes, str]] = field(default_factory=list)
    failing_writes: int = 0
    _on_reply: object = None

    def new_inbox(self) -> str:
        return "_INBOX.stub"

    async def subscribe(self, subject: str, cb: object) -> StubSubscription:
        assert subject == "_INBOX.stub.*"
        self._on_reply = cb
        return StubSubscription()

    async def publish(
        self, subject: str, payload: bytes, reply: str = "", headers: object = None
    ) -> None:
        assert subject == SUBJECT
        if self.failing_writes:
            self.failing_writes -= 1
            raise ConnectionError("connection lost")
        self.published.append((payload, reply))

    def payloads(self) -> list[bytes]:
        return [payload for payload, _ in self.published]

    async def answer(self, index: int, data: bytes = PUB_ACK) -> None:
        """Send the PubAck (or ``data``) of the ``index``-th publish."""
        await self._on_reply(StubMsg(self.published[index][1], data))  # type: ignore[operator]


class StubSubscription:
    async def unsubscribe(self) -> None:
        return None


@pytest.fixture
async def stub() -> StubNats:
    return StubNats()


async def started(nc: object, **options: float) -> PipelinedPublisher:
    publisher = PipelinedPublisher(nc, SUBJECT, **options)  # type: ignore[arg-type]
    await publisher.start()
    return publisher


def numbered(count: int, start: int = 0) -> list[bytes]:
    return [str(i).encode() for i in range(start, start + count)]


async def test_writes_in_order_with_at_most_max_pending_awaiting_pub_acks(stub: StubNats) -> None:
    publisher = await started(stub, max_pending=4)
    for payload in numbered(10):
        publisher.publish(payload)
    await eventually(lambda: len(stub.published) == 4, message="four written")
    assert stub.payloads() == numbered(4)
    assert publisher.in_flight == 4 and not publisher.empty()

    await stub.answer(1)  # out of order: the oldest still holds its slot
    await stub.answer(0)
    await eventually(lambda: len(stub.published) == 6, message="two more written")
    for index in range(2, 10):
        await eventually(lambda i=index: len(stub.published) > i, message=f"message {index}")
        await stub.answer(index)

    await eventually(publisher.empty, message="every PubAck in")
    assert stub.payloads() == numbered(10)
    assert (publisher.acked, publisher.republished) == (10, 0)
    await publisher.stop()


async def test_a_message_without_pub_ack_goes_again_before_any_new_one(stub: StubNats) -> None:
    publisher = await started(stub, ack_timeout_s=0.2, retry_pause_s=0.01)
    for payload in numbered(3):
        publisher.publish(payload)
    await eventually(lambda: len(stub.published) == 3, message="three written")
    await stub.answer(1)
    await stub.answer(2)
    await eventually(lambda: publisher.republished >= 1, message="the first one timed out")
    publisher.publish(b"new")

    await eventually(lambda: len(stub.published) >= 5, message="retry and new one written")
    assert stub.payloads()[:5] == [b"0", b"1", b"2", b"0", b"new"]
    await stub.answer(0)  # a late PubAck for the first attempt changes nothing
    answered = {0, 1, 2}

    async def all_acked() -> bool:
        for index in range(len(stub.published)):
            if index not in answered:
                answered.add(index)
                await stub.answer(index)
        return publisher.empty()

    await eventually(all_acked, message="all acked")
    assert publisher.acked == 4
    await publisher.stop()


@pytest.mark.parametrize(
    "refusal",
    [b'{"error":{"code":503,"err_code":10077,"description":"stream offline"}}', b"garbage"],
)
async def test_a_refused_publish_goes_again(stub: StubNats, refusal: bytes) -> None:
    publisher = await started(stub, retry_pause_s=0.01)
    publisher.publish(b"x")
    await eventually(lambda: len(stub.published) == 1, message="written")
    await stub.answer(0, refusal)
    await eventually(lambda: len(stub.published) == 2, message="written again")
    await stub.answer(1)
    await eventually(publisher.empty, message="acked")
    assert stub.payloads() == [b"x", b"x"]
    assert (publisher.acked, publisher.republished) == (1, 1)
    await publisher.stop()


async def test_a_failed_write_is_tried_again_in_its_place(stub: StubNats) -> None:
    stub.failing_writes = 2
    publisher = await started(stub, retry_pause_s=0.01)
    for payload in numbered(3):
        publisher.publish(payload)
    await eventually(lambda: len(stub.published) == 3, message="written once it works")
    assert stub.payloads() == numbered(3)
    await publisher.stop()


# -- against a real nats-server ---------------------------------------------------------


@pytest.fixture
async def client(nats_server: EmbeddedNats) -> AsyncIterator[NatsClient]:
    nc = await connect_nats(nats_server.url, name="publisher-test")
    try:
        yield nc
    finally:
        await close_nats(nc)


async def stored_payloads(nc: NatsClient) -> list[bytes]:
    """Every message of the stream, in stream order."""
    js = nc.jetstream()
    count = (await js.stream_info(STREAM)).state.messages
    return [(await js.get_msg(STREAM, seq)).data or b"" for seq in range(1, count + 1)]


async def add_stream(nc: NatsClient) -> None:
    await nc.jetstream().add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT]))


async def test_messages_land_in_the_stream_in_order(client: NatsClient) -> None:
    await add_stream(client)
    publisher = await started(client, max_pending=32)
    for payload in numbered(500):
        publisher.publish(payload, {"traceparent": "00-abc"})
    await eventually(publisher.empty, message="every message acked")
    assert await stored_payloads(client) == numbered(500)
    assert (publisher.acked, publisher.republished) == (500, 0)
    await publisher.stop()


async def test_messages_wait_for_a_missing_stream(client: NatsClient) -> None:
    publisher = await started(client, retry_pause_s=0.05)
    for payload in numbered(20):
        publisher.publish(payload)
    await eventually(lambda: publisher.republished >= 20, message="refused: no stream")
    await add_stream(client)
    await eventually(publisher.empty, message="stored once the stream exists")
    assert sorted(set(await stored_payloads(client))) == sorted(numbered(20))
    await publisher.stop()


async def test_no_message_is_lost_while_the_broker_is_down(
    nats_server: EmbeddedNats, client: NatsClient
) -> None:
    await add_stream(client)
    publisher = await started(client, ack_timeout_s=1.0, retry_pause_s=0.1)
    for payload in numbered(300):
        publisher.publish(payload)
    await eventually(lambda: publisher.acked >= 100, message="some acked")
    assert nats_server.pid is not None
    os.kill(nats_server.pid, signal.SIGTERM)  # a clean shutdown: the store keeps what it took
    await eventually(lambda: not nats_server.running, message="nats-server stopped")
    for payload in numbered(300, start=300):
        publisher.publish(payload)
    await eventually(lambda: publisher.republished > 0, message="PubAcks overdue")
    await nats_server.restart()
    await eventually(publisher.empty, timeout_s=20, message="every message acked")

    check = await nats.connect(nats_server.url)
    stored = await stored_payloads(check)
    await check.close()
    assert set(stored) == set(numbered(600))  # none lost; a retried one may be stored twice
    first_seen = list(dict.fromkeys(stored))
    assert first_seen[:100] == numbered(100)  # acked before the outage: stored in order
    await publisher.stop()
