"""Reading a durable JetStream pull consumer in batches, for the cost of a callback a message.

nats-py's ``PullSubscription.fetch`` waits for every message with ``next_msg``, which
starts a task and a timer per message: several times the CPU of handling an execution
report. ``PullConsumer`` speaks the same pull protocol with public client calls: it
keeps one pull request open on the consumer, collects what the server delivers in a
subscription callback, and hands it out in batches.

Acks stay with the caller, so a message is acked only once its effects are stored; one
never acked is redelivered after the consumer's ack wait. A request the server drops
without a word (a broker restart) is replaced once its expiry and a grace have passed.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api
from nats.js.errors import NotFoundError

#: Seconds after a request's expiry with no word from the server before it counts as lost.
REQUEST_GRACE_S = 0.5
#: Status of a heartbeat or flow-control message (the request goes on).
_STATUS_CONTINUE = "100"
#: Statuses that only end a request: no messages (no_wait), request expired.
_STATUS_ENDED = frozenset({api.StatusCode.NO_MESSAGES.value, api.StatusCode.REQUEST_TIMEOUT.value})


class PullError(nats.errors.Error):
    """The server refused a pull request (consumer deleted, too many waiting requests...)."""

    def __str__(self) -> str:
        return f"nats: pull request refused: {self.args[0] if self.args else ''}"


class PullConsumer:
    """A durable pull consumer of one stream, read in batches of at most ``batch``."""

    def __init__(
        self, nc: NatsClient, stream: str, durable: str, *, batch: int, expires_s: float
    ) -> None:
        if batch < 1 or expires_s <= 0:
            raise ValueError("batch must be at least 1 and expires_s positive")
        self._nc = nc
        self._stream = stream
        self._durable = durable
        self._batch = batch
        self._expires_s = expires_s
        self._request = json.dumps({"batch": batch, "expires": int(expires_s * 1e9)}).encode()
        self._next_subject = f"{api.DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = ""
        self._subscription: Subscription | None = None
        self._messages: collections.deque[Msg] = collections.deque()
        #: Messages the open request may still bring; 0 when none is open.
        self._owed = 0
        self._request_deadline = 0.0
        self._refused: str | None = None
        self._arrived = asyncio.Event()

    async def start(self, filter_subject: str, config: api.ConsumerConfig) -> None:
        """Create the consumer with ``config`` unless it exists (then bind to it as it is)."""
        js = self._nc.jetstream()
        try:
            await js.consumer_info(self._stream, self._durable)
        except NotFoundError:
            config.filter_subject = filter_subject
            config.name = config.durable_name = self._durable
            await js.add_consumer(self._stream, config=config)
        self._inbox = self._nc.new_inbox()
        self._subscription = await self._nc.subscribe(self._inbox, cb=self._on_message)

    async def stop(self) -> None:
        """Stop receiving; messages taken but never acked are redelivered later."""
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await subscription.unsubscribe()

    async def fetch(self, timeout_s: float) -> list[Msg]:
        """Up to ``batch`` messages in stream order; [] when none came within ``timeout_s``.

        Raises PullError when the server refused the request, or a nats error when the
        request could not be sent.
        """
        await self._request_more()
        if not self._messages and self._refused is None:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout_s)
            except TimeoutError:
                return []
        messages = self._messages
        if not messages and self._refused is not None:
            reason, self._refused = self._refused, None
            raise PullError(reason)
        return [messages.popleft() for _ in range(min(len(messages), self._batch))]

    async def _request_more(self) -> None:
        """Open a pull request unless one is open, or enough is waiting to be taken."""
        now = time.monotonic()
        request_open = self._owed > 0 and now < self._request_deadline
        if request_open or len(self._messages) >= self._batch:
            return
        await self._nc.publish(self._next_subject, self._request, reply=self._inbox)
        self._owed = self._batch
        self._request_deadline = now + self._expires_s + REQUEST_GRACE_S

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get(api.Header.STATUS) if msg.headers else None
        if status is None:
            self._messages.append(msg)
            self._owed = max(self._owed - 1, 0)
        elif status == _STATUS_CONTINUE:
            return
        else:
            self._owed = 0
            if status not in _STATUS_ENDED:
                description = msg.headers.get(api.Header.DESCRIPTION, "") if msg.headers else ""
                self._refused = " ".join(f"{status} {description}".split())
        self._arrived.set()
