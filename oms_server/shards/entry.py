"""OrderEntry through the front: one client stream, one upstream stream per shard.

Each request goes, as it is, onto an OrderEntry stream the front keeps open to the
shard that owns it (a submit's account, a cancel's or replace's order; any shard for a
request naming neither, which that shard refuses as it would anywhere). Every answer a
shard sends is passed back as it is, in completion order. At most
``MAX_IN_FLIGHT_PER_STREAM`` requests are unanswered at once; the front reads no further
until one is answered, so flow control holds a fast client back as a shard would.

When a shard's stream breaks (its owner died), each request it had not answered is
answered SHARD_UNAVAILABLE: its outcome is unknown, and a retry with the same
client_order_id is safe. The next request for that shard opens a stream to its new owner.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2

from oms_server.api.errors import to_status
from oms_server.domain.errors import OmsError, UnavailableError
from oms_server.domain.order_ids import shard_of_order_id

#: Requests of one client stream the front has sent on and not yet answered, at most.
MAX_IN_FLIGHT_PER_STREAM = 256
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass
class _Upstream:
    """The front's OrderEntry stream to one shard owner."""

    call: Any
    #: Correlation ids sent and not answered yet, oldest first.
    pending: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None


class EntryRelay:
    """Relays one client's OrderEntry stream to the shards.

    ``shard_of(account_id)`` routes submits; ``open_upstream(shard_id)`` opens a stream
    to the shard's active owner (raising OmsError when it has none); ``broken`` hears of
    each shard stream that broke.
    """

    def __init__(
        self,
        request_type: type[Message],
        response_type: type[Message],
        shard_of: Callable[[str], int],
        any_shard: Callable[[], int],
        open_upstream: Callable[[int], Awaitable[Any]],
        broken: Callable[[int, grpc.aio.AioRpcError], None],
    ) -> None:
        self._request_type = request_type
        self._response_type = response_type
        self._shard_of = shard_of
        self._any_shard = any_shard
        self._open_upstream = open_upstream
        self._broken = broken
        self._upstreams: dict[int, _Upstream] = {}
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT_PER_STREAM)
        self._answers: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def run(
        self, requests: AsyncIterator[bytes], write: Callable[[bytes], Awaitable[None]]
    ) -> None:
        """Relay until the client has sent everything and every request is answered."""
        reading = asyncio.create_task(self._read(requests), name="entry-relay-read")
        try:
            while (answer := await self._answers.get()) is not None:
                await write(answer)
                self._slots.release()
            await reading
        finally:
            reading.cancel()
            for upstream in self._upstreams.values():
                upstream.call.cancel()
                if upstream.reader is not None:
                    upstream.reader.cancel()

    async def _read(self, requests: AsyncIterator[bytes]) -> None:
        async for raw in requests:
            await self._slots.acquire()
            await self._send(raw)
        for _ in range(MAX_IN_FLIGHT_PER_STREAM):
            await self._slots.acquire()  # every slot back: every answer written
        for upstream in self._upstreams.values():
            with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError):
                await upstream.call.done_writing()
        self._answers.put_nowait(None)

    async def _send(self, raw: bytes) -> None:
        """Put one request on its shard's stream, or answer it at once if it cannot go."""
        try:
            request = self._request_type.FromString(raw)
        except DecodeError:
            shard_id, correlation_id = self._any_shard(), ""
        else:
            shard_id, correlation_id = self._route(request), request.correlation_id  # type: ignore[attr-defined]
        try:
            upstream = await self._upstream(shard_id)
            upstream.pending.append(correlation_id)
            await upstream.call.write(raw)
        except OmsError as error:
            self._answers.put_nowait(self._refusal(correlation_id, error))
        except grpc.aio.AioRpcError as broken:
            # the stream broke: its reader answers what it had pending, unless it is done
            if upstream.reader is None or upstream.reader.done():
                with contextlib.suppress(ValueError):
                    upstream.pending.remove(correlation_id)
                self._answers.put_nowait(self._refusal(correlation_id, _broken(shard_id, broken)))

    def _route(self, request: Any) -> int:
        action = request.WhichOneof("action")
        if action == "submit" and request.submit.account_id:
            return self._shard_of(request.submit.account_id)
        if action in ("cancel", "replace"):
            shard_id = shard_of_order_id(getattr(request, action).order_id)
            if shard_id is not None:
                return shard_id
        return self._any_shard()

    async def _upstream(self, shard_id: int) -> _Upstream:
        upstream = self._upstreams.get(shard_id)
        if upstream is None:
            upstream = _Upstream(await self._open_upstream(shard_id))
            upstream.reader = asyncio.create_task(
                self._pass_answers(shard_id, upstream), name=f"entry-relay-{shard_id}"
            )
            self._upstreams[shard_id] = upstream
        return upstream

    async def _pass_answers(self, shard_id: int, upstream: _Upstream) -> None:
        """Hand on the shard's answers; when its stream breaks, refuse what it left."""
        try:
            async for answer in upstream.call:
                self._settle(upstream, self._response_type.FromString(answer))
                self._answers.put_nowait(answer)
        except grpc.aio.AioRpcError as broken:
            if self._upstreams.get(shard_id) is upstream:
                del self._upstreams[shard_id]
            self._broken(shard_id, broken)
            error = _broken(shard_id, broken)
            for correlation_id in upstream.pending:
                self._answers.put_nowait(self._refusal(correlation_id, error))
            upstream.pending.clear()

    @staticmethod
    def _settle(upstream: _Upstream, answer: Any) -> None:
        """Strike the answered request off the shard's pending list."""
        answered = answer.correlation_id
        for index, correlation_id in enumerate(upstream.pending):
            if correlation_id == answered or correlation_id.startswith(answered):
                del upstream.pending[index]
                return

    def _refusal(self, correlation_id: str, error: OmsError) -> bytes:
        """An answer refusing one request with ``error``, as a shard would word it."""
        status = to_status(error)
        details = dict(status.trailing_metadata).get(_STATUS_DETAILS_KEY, b"")
        answer = self._response_type(correlation_id=correlation_id)  # type: ignore[call-arg]
        entry_error = answer.error  # type: ignore[attr-defined]
        entry_error.MergeFromString(details)  # EntryError has google.rpc.Status's fields
        if not entry_error.code:
            entry_error.code = code_pb2.UNAVAILABLE
        return answer.SerializeToString()


def _broken(shard_id: int, broken: grpc.aio.AioRpcError) -> UnavailableError:
    return UnavailableError(
        f"shard {shard_id}'s stream broke ({broken.code().name}): the outcome is unknown; "
        "retry with the same client_order_id",
        reason="SHARD_UNAVAILABLE",
        metadata={"shard_id": str(shard_id)},
    )
