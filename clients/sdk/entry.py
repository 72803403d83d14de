"""Streamed order entry: submits, cancels and replaces on one OrderEntry stream.

``OmsClient.order_entry(requests)`` sends each request as the stream's flow control
allows and yields one ``EntryAck`` per answer, in the order the server completes them
(not the order sent), tied to its request by correlation id. A refused request is an ack
whose ``error`` is the typed error the unary call would raise (``DuplicateClientOrderId``
and so on); only a failure of the stream itself raises.

``OmsClient.open_order_entry()`` is a session over one such stream: ``submit``,
``cancel`` and ``replace`` take the unary calls' arguments and return at once a future of
the order, resolved by its answer.

Nothing here is retried: when a stream breaks, the outcome of its unanswered requests is
unknown (a submit may be sent again under its client_order_id; look an order up before
cancelling or replacing it again).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import KW_ONLY, dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Concatenate, ParamSpec

import grpc

from clients.sdk.arguments import Decimalish, EnumArg
from clients.sdk.errors import OmsError, from_status
from protos.oms.v1 import common_pb2, order_pb2
from protos.oms.v1 import order_service_pb2 as pb

if TYPE_CHECKING:
    from clients.sdk.client import OmsClient

P = ParamSpec("P")

#: Longest correlation id the server echoes back whole (it cuts longer ones).
MAX_CORRELATION_ID_CHARS = 64
#: Prefix of the correlation ids the SDK makes for requests given without one.
GENERATED_ID_PREFIX = "#"
#: Requests of one stream the SDK keeps unanswered at once; the next waits for an answer
#: (the caller's iterable is not read ahead, a session queues them). Below the orders
#: the server lets one account have waiting, so a lone stream is never refused for its
#: own haste, and more would only wait in the server's queue.
DEFAULT_MAX_IN_FLIGHT = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class Submit:
    """A new order, with the keywords of ``OmsClient.submit_order``."""

    account_id: str
    symbol: str
    side: EnumArg
    quantity: Decimalish
    limit_price: Decimalish | None = None
    stop_price: Decimalish | None = None
    order_type: EnumArg | None = None
    time_in_force: EnumArg = common_pb2.TIME_IN_FORCE_DAY
    trailing_offset: Decimalish | None = None
    #: An iceberg's visible size (a limit showing at most this much at once).
    display_quantity: Decimalish | None = None
    #: What a pegged order follows (``"primary"``, ``"midpoint"``, ``"market"``).
    peg_type: EnumArg | None = None
    #: A pegged order's distance from that price, on the passive side.
    peg_offset: Decimalish | None = None
    routing_strategy: EnumArg | None = None
    venue: str = ""
    #: The idempotency key; generated when None, like ``submit_order`` does.
    client_order_id: str | None = None
    expire_time: datetime | None = None
    #: Echoed in the answer; made by the SDK when empty.
    correlation_id: str = ""


@dataclass(frozen=True, slots=True)
class Cancel:
    """A cancel of an order's unfilled rest, as ``OmsClient.cancel_order``."""

    order_id: str
    _: KW_ONLY
    correlation_id: str = ""


@dataclass(frozen=True, slots=True)
class Replace:
    """A change of quantity and/or limit price, as ``OmsClient.replace_order``."""

    order_id: str
    _: KW_ONLY
    quantity: Decimalish | None = None
    limit_price: Decimalish | None = None
    client_order_id: str | None = None
    correlation_id: str = ""


#: What an OrderEntry stream takes: a description, a unary call's request message, or
#: the stream's own request message (sent as given, with a correlation id made if empty).
EntryRequest = (
    Submit
    | Cancel
    | Replace
    | pb.SubmitOrderRequest
    | pb.CancelOrderRequest
    | pb.ReplaceOrderRequest
    | pb.OrderEntryRequest
)


@dataclass(frozen=True, slots=True)
class EntryAck:
    """The answer to one request of an OrderEntry stream: its order or its refusal."""

    correlation_id: str
    #: The request answered, as sent (None for an answer the server could tie to no
    #: request: one it could not decode).
    request: pb.OrderEntryRequest | None
    #: The order the unary call would return; None when refused.
    order: order_pb2.Order | None = None
    #: The typed error the unary call would raise; None when done.
    error: OmsError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def result(self) -> order_pb2.Order:
        """The order, or the refusal raised."""
        if self.error is not None:
            raise self.error
        assert self.order is not None
        return self.order


def entry_ack(response: pb.OrderEntryResponse, request: pb.OrderEntryRequest | None) -> EntryAck:
    """The ack of one answer; a refusal becomes the typed error of its status."""
    if response.HasField("order"):
        return EntryAck(response.correlation_id, request, order=response.order)
    refusal = response.error
    error = from_status(refusal.code, refusal.message, refusal.details)
    return EntryAck(response.correlation_id, request, error=error)


class CorrelationIds:
    """The correlation ids of one stream's unanswered requests."""

    def __init__(self) -> None:
        self._pending: set[str] = set()
        self._made = 0

    def claim(self, given: str) -> str:
        """``given``, or a new id when empty; refused if too long or still unanswered."""
        if not given:
            return self._make()
        if len(given) > MAX_CORRELATION_ID_CHARS:
            raise ValueError(f"correlation_id is longer than {MAX_CORRELATION_ID_CHARS} chars")
        if given in self._pending:
            raise ValueError(f"correlation_id {given!r} is already in flight on this stream")
        self._pending.add(given)
        return given

    def release(self, correlation_id: str) -> None:
        self._pending.discard(correlation_id)

    def _make(self) -> str:
        while True:
            self._made += 1
            made = f"{GENERATED_ID_PREFIX}{self._made}"
            if made not in self._pending:
                self._pending.add(made)
                return made


def with_correlation_id(request: EntryRequest, correlation_id: str) -> EntryRequest:
    """``request`` carrying ``correlation_id`` (a copy; the caller's is left alone)."""
    if isinstance(request, Submit | Cancel | Replace):
        return replace(request, correlation_id=correlation_id)
    if isinstance(request, pb.OrderEntryRequest):
        message = pb.OrderEntryRequest()
        message.CopyFrom(request)
        message.correlation_id = correlation_id
        return message
    return entry_message(request, correlation_id)


def entry_message(
    request: pb.SubmitOrderRequest | pb.CancelOrderRequest | pb.ReplaceOrderRequest,
    correlation_id: str,
) -> pb.OrderEntryRequest:
    """The OrderEntry request that carries a unary call's request."""
    if isinstance(request, pb.SubmitOrderRequest):
        return pb.OrderEntryRequest(correlation_id=correlation_id, submit=request)
    if isinstance(request, pb.CancelOrderRequest):
        return pb.OrderEntryRequest(correlation_id=correlation_id, cancel=request)
    return pb.OrderEntryRequest(correlation_id=correlation_id, replace=request)


def correlation_id_of(request: EntryRequest) -> str:
    """The correlation id the caller gave ``request`` ("" when none)."""
    if isinstance(request, Submit | Cancel | Replace | pb.OrderEntryRequest):
        return request.correlation_id
    return ""


def _sending(
    description: Callable[P, EntryRequest],
) -> Callable[Concatenate[OrderEntry, P], asyncio.Future[order_pb2.Order]]:
    def send(
        self: OrderEntry, /, *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[order_pb2.Order]:
        return self.send(description(*args, **kwargs))

    send.__doc__ = f"{description.__doc__} Returns a future of the order."
    return send


class OrderEntry:
    """One OrderEntry stream as a session; every action returns a future of its order.

    ``async with oms.open_order_entry() as entry:`` opens the stream and, on the way out,
    waits for every answer. ``await entry.submit(...)`` is the order, or raises the typed
    refusal; many may be in flight at once. Requests wait in the session while
    ``max_in_flight`` are unanswered, or while the server holds the stream back. If the
    stream breaks, every unanswered future fails with its error and later actions fail
    at once.
    """

    def __init__(self, client: OmsClient, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        self._queue: asyncio.Queue[EntryRequest | None] = asyncio.Queue()
        self._answers: dict[str, asyncio.Future[order_pb2.Order]] = {}
        self._ids = CorrelationIds()
        self._closing = False
        self._failure: OmsError | None = None
        self._acks = client.order_entry(self._queued(), max_in_flight=max_in_flight)
        self._reader = asyncio.create_task(self._read(), name="oms-order-entry")

    async def __aenter__(self) -> OrderEntry:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            await self.close()
        else:
            await self.abort()

    submit = _sending(Submit)
    cancel = _sending(Cancel)
    replace = _sending(Replace)

    @property
    def broken(self) -> OmsError | None:
        """The failure of the stream itself, or None while it works (a refusal of one
        request is that request's error, never this)."""
        return self._failure

    @property
    def in_flight(self) -> int:
        """Requests queued or sent and not yet answered."""
        return len(self._answers)

    def send(self, request: EntryRequest) -> asyncio.Future[order_pb2.Order]:
        """Queue any request ``OmsClient.order_entry`` takes; a future of its order.
        A request that cannot be made a message (a bad price, an unknown enum name)
        raises here, as the unary call would, and leaves the stream alone."""
        future: asyncio.Future[order_pb2.Order] = asyncio.get_running_loop().create_future()
        if self._failure is not None or self._closing:
            future.set_exception(self._failure or _session_closed())
            return future
        from clients.sdk.client import _entry_request  # here: the client imports this module

        correlation_id = self._ids.claim(correlation_id_of(request))
        try:
            message = _entry_request(request, correlation_id)
        except BaseException:
            self._ids.release(correlation_id)
            raise
        self._answers[correlation_id] = future
        self._queue.put_nowait(message)
        return future

    async def close(self) -> None:
        """Send nothing more and wait until every request is answered."""
        if not self._closing:
            self._closing = True
            self._queue.put_nowait(None)
        await asyncio.shield(self._reader)

    async def abort(self) -> None:
        """Cancel the stream now; unanswered futures fail with CANCELLED (CLOSED)."""
        self._closing = True
        self._reader.cancel()
        try:
            await self._reader
        except asyncio.CancelledError:
            if _cancelled_by_caller():
                raise
        self._fail(_session_closed())

    async def _queued(self) -> AsyncIterator[EntryRequest]:
        while (request := await self._queue.get()) is not None:
            yield request

    async def _read(self) -> None:
        try:
            async for ack in self._acks:
                self._ids.release(ack.correlation_id)
                future = self._answers.pop(ack.correlation_id, None)
                if future is None or future.done():
                    continue
                if ack.error is None:
                    future.set_result(ack.result())
                else:
                    future.set_exception(ack.error)
        except OmsError as broken:
            self._failure = broken
            self._fail(broken)
        finally:
            await self._acks.aclose()

    def _fail(self, error: OmsError) -> None:
        answers, self._answers = self._answers, {}
        for future in answers.values():
            if not future.done():
                future.set_exception(error)


def _session_closed() -> OmsError:
    return OmsError(
        "the order entry session was closed", code=grpc.StatusCode.CANCELLED, reason="CLOSED"
    )


def _cancelled_by_caller() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
