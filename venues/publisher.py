"""Pipelined JetStream publishing: many PubAcks awaited at once, no message lost.

``PipelinedPublisher`` writes the messages given to one subject to the connection in the
order given, without waiting for each PubAck: up to ``max_pending`` wait for theirs at
once (JetStream takes several times more publishes per second that way than one round
trip at a time). A message whose PubAck is an error (no stream, a JetStream API error)
or does not come within ``ack_timeout_s`` (a broker restart) is published again, before
any message not yet written, after a short pause. Nothing is dropped until ``stop()``.

A republished message may land in the stream after later ones that made it the first
time, and twice when only its PubAck was lost: readers dedupe and order by content (the
OMS does, by venue and exec id), as they must for any JetStream publisher that retries.

It speaks the JetStream publish protocol with public client calls (a publish with a
reply subject, a JSON PubAck back) instead of ``js.publish_async``, which spends a
unique id, a future, a callback and a semaphore per message: one wildcard reply
subscription and a counter do here.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from typing import NamedTuple

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from venues.tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: Publishes waiting for their PubAck at once, at most.
DEFAULT_MAX_PENDING = 256
#: Seconds a PubAck may take before the message is published again.
DEFAULT_ACK_TIMEOUT_S = 5.0
#: Pause before publishing again after a failure (the broker may be restarting).
RETRY_PAUSE_S = 0.2
#: Header of a status message (503: no stream listens on the subject).
_STATUS_HEADER = "Status"
#: How a PubAck starts ({"stream":"NAME","seq":N,...}); an error carries an "error" key.
_PUB_ACK_START = b'{"stream":'
_ERROR_KEY = b'"error"'


class _Message(NamedTuple):
    payload: bytes
    headers: dict[str, str] | None


class _Written:
    """A message on the wire, waiting for its PubAck; ``error`` says how it failed."""

    __slots__ = ("deadline", "done", "error", "message", "reply")

    def __init__(self, message: _Message, reply: str, deadline: float) -> None:
        self.message = message
        self.reply = reply
        self.deadline = deadline
        self.done = False
        self.error = ""


class PipelinedPublisher:
    """Publishes to one JetStream subject in order, with bounded PubAcks in flight."""

    def __init__(
        self,
        nc: NatsClient,
        subject: str,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S,
        retry_pause_s: float = RETRY_PAUSE_S,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.subject = subject
        self._nc = nc
        self._max_pending = max_pending
        self._ack_timeout_s = ack_timeout_s
        self._retry_pause_s = retry_pause_s
        self._queue: collections.deque[_Message] = collections.deque()
        self._retry: collections.deque[_Message] = collections.deque()
        self._in_flight: collections.deque[_Written] = collections.deque()
        self._by_reply: dict[str, _Written] = {}
        self._reply_prefix = ""
        self._replies = 0
        self._retry_at = 0.0
        self._subscription: Subscription | None = None
        #: Set when the writer may have work: a message, a retry, or room in flight.
        self._wake_writer = asyncio.Event()
        #: Set when a message is written while none was in flight.
        self._wake_watchdog = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.acked = 0
        self.republished = 0

    async def start(self) -> None:
        self._reply_prefix = self._nc.new_inbox() + "."
        self._subscription = await self._nc.subscribe(self._reply_prefix + "*", cb=self._on_pub_ack)
        self._tasks = [
            asyncio.create_task(self._write_loop(), name=f"publish-{self.subject}"),
            asyncio.create_task(self._watchdog(), name=f"pubacks-{self.subject}"),
        ]

    async def stop(self) -> None:
        """Stop publishing; messages not acked yet are dropped."""
        await cancel_and_wait(self._tasks, f"publisher {self.subject}")
        self._tasks = []
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await subscription.unsubscribe()

    def publish(self, payload: bytes, headers: dict[str, str] | None = None) -> None:
        """Queue a message; it is written after every message queued before it."""
        self._queue.append(_Message(payload, headers))
        self._wake_writer.set()

    def empty(self) -> bool:
        """True when every message queued has been acked by JetStream."""
        return not (self._queue or self._retry or self._in_flight)

    @property
    def in_flight(self) -> int:
        """Messages written and waiting for their PubAck."""
        return len(self._in_flight)

    # -- writing ------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message, retried = await self._next()
            self._replies += 1
            reply = self._reply_prefix + str(self._replies)
            try:
                await self._nc.publish(
                    self.subject, message.payload, reply=reply, headers=message.headers
                )
            except Exception as exc:  # closed connection, full reconnect buffer: wait, again
                log.warning("could not publish on %s: %s", self.subject, exc)
                (self._retry if retried else self._queue).appendleft(message)
                await asyncio.sleep(self._retry_pause_s)
                continue
            written = _Written(message, reply, loop.time() + self._ack_timeout_s)
            self._by_reply[reply] = written
            self._in_flight.append(written)
            if len(self._in_flight) == 1:
                self._wake_watchdog.set()

    async def _next(self) -> tuple[_Message, bool]:
        """The next message to write (retries first) once there is room in flight."""
        while True:
            if len(self._in_flight) < self._max_pending:
                if self._retry:
                    pause = self._retry_at - asyncio.get_running_loop().time()
                    if pause <= 0:
                        return self._retry.popleft(), True
                    await asyncio.sleep(pause)
                    continue
                if self._queue:
                    return self._queue.popleft(), False
            self._wake_writer.clear()
            await self._wake_writer.wait()

    # -- PubAcks ------------------------------------------------------------------------

    async def _on_pub_ack(self, msg: Msg) -> None:
        written = self._by_reply.pop(msg.subject, None)
        if written is None:
            return  # late: the message already counted as failed
        written.done = True
        written.error = _pub_ack_error(msg)
        if written is self._in_flight[0]:
            self._settle()

    def _settle(self) -> None:
        """Retire the answered messages at the head of the queue in flight, in order."""
        in_flight = self._in_flight
        while in_flight and in_flight[0].done:
            written = in_flight.popleft()
            if written.error:
                self._republish(written)
            else:
                self.acked += 1
        self._wake_writer.set()

    async def _watchdog(self) -> None:
        """Fail the oldest message in flight once its PubAck is overdue."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._in_flight:
                self._wake_watchdog.clear()
                await self._wake_watchdog.wait()
                continue
            oldest = self._in_flight[0]
            overdue_in = oldest.deadline - loop.time()
            if overdue_in > 0:
                await asyncio.sleep(overdue_in)
                continue
            self._by_reply.pop(oldest.reply, None)
            oldest.done = True
            oldest.error = "no PubAck in time"
            self._settle()

    def _republish(self, written: _Written) -> None:
        if not self._retry:
            log.warning("publishing on %s again: %s", self.subject, written.error)
        self._retry.append(written.message)
        self._retry_at = asyncio.get_running_loop().time() + self._retry_pause_s
        self.republished += 1


def _pub_ack_error(msg: Msg) -> str:
    """Why JetStream refused the message, or '' for a PubAck."""
    status = msg.headers.get(_STATUS_HEADER) if msg.headers else None
    if status is not None:
        return f"status {status} (no stream for the subject?)"
    data = msg.data
    if data.startswith(_PUB_ACK_START) and _ERROR_KEY not in data:
        return ""  # the common case, without parsing the JSON
    try:
        answer = json.loads(data)
    except ValueError:
        return f"unreadable PubAck {data[:80]!r}"
    error = answer.get("error") if isinstance(answer, dict) else "not a PubAck"
    return str(error) if error else ""
