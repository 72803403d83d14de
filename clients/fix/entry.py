"""A FIX session's order entry: its submits, cancels and replaces on one OrderEntry stream.

One ``EntryLine`` per logon grant. A request refused is its error raised, as the unary call
would; a busy or unavailable refusal of a submit or replace is sent again (both carry a
client_order_id, so a second one is the first). A stream that breaks is opened again, and
its unanswered requests are sent again on the new one: a submit or replace as it was, a
cancel only if its order is not already cancelled (else the order is its answer).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Final

import grpc

from clients.sdk import OmsClient, OmsError
from clients.sdk.entry import Cancel, EntryRequest, OrderEntry, Replace, Submit
from protos.oms.v1 import common_pb2, order_pb2

log = logging.getLogger(__name__)

#: Refusals of one request that mean "send it again later", as the SDK's unary calls retry.
_RETRYABLE_CODES: Final = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
)
_BUSY_REASONS: Final = frozenset({"ENGINE_BUSY", "MAX_CALLS"})
#: States in which a cancel sent on a broken stream has been carried out.
_CANCELLED: Final = frozenset(
    {common_pb2.ORDER_STATE_CANCELED, common_pb2.ORDER_STATE_PENDING_CANCEL}
)


class EntryLine:
    """The OrderEntry stream of one grant's client, opened when first used."""

    def __init__(self, client: OmsClient, name: str) -> None:
        self._client = client
        self._name = name
        self._entry: OrderEntry | None = None
        self._closed = False

    async def submit(self, request: Submit) -> order_pb2.Order:
        """A new order (with its client_order_id): the order placed, or its refusal."""
        return await self._send(request, retry_refused=True)

    async def cancel(self, order_id: str) -> order_pb2.Order:
        """A cancel of ``order_id``: the order, or the refusal."""

        async def carried_out() -> order_pb2.Order | None:
            order = await self._client.get_order(order_id)
            return order if order.state in _CANCELLED else None

        return await self._send(Cancel(order_id), retry_refused=False, check=carried_out)

    async def replace(self, request: Replace) -> order_pb2.Order:
        """A replace (with its client_order_id): the order, or the refusal."""
        return await self._send(request, retry_refused=True)

    async def close(self) -> None:
        """Wait for the answers still due, then end the stream."""
        self._closed = True
        entry, self._entry = self._entry, None
        if entry is not None and entry.broken is None:
            try:
                await entry.close()
            except OmsError as error:
                log.info("FIX session %s: order entry stream closed: %s", self._name, error)

    async def _send(
        self,
        request: EntryRequest,
        *,
        retry_refused: bool,
        check: Callable[[], Awaitable[order_pb2.Order | None]] | None = None,
    ) -> order_pb2.Order:
        policy = self._client.retry
        attempt = 1
        unanswered = False
        while True:
            try:
                if unanswered and check is not None:
                    done = await check()
                    if done is not None:
                        return done
                entry = self._open()
                try:
                    return await entry.send(request)
                except OmsError as error:
                    unanswered = entry.broken is error
                    if not (unanswered or retry_refused):
                        raise
                    if unanswered:
                        log.warning(
                            "FIX session %s: order entry stream broke (%s); sending again",
                            self._name,
                            error,
                        )
                    raise
            except OmsError as error:
                if (
                    error.reason == "CLOSED"
                    or attempt >= policy.max_attempts
                    or not (unanswered or _retryable(error))
                ):
                    raise
            delay_s = min(policy.initial_backoff_s * 2 ** (attempt - 1), policy.max_backoff_s)
            await asyncio.sleep(delay_s + random.uniform(0, policy.initial_backoff_s))
            attempt += 1

    def _open(self) -> OrderEntry:
        if self._closed:
            raise OmsError(
                "the FIX session is closing", code=grpc.StatusCode.CANCELLED, reason="CLOSED"
            )
        if self._entry is None or self._entry.broken is not None:
            self._entry = self._client.open_order_entry()
        return self._entry


def _retryable(error: OmsError) -> bool:
    busy = error.code is grpc.StatusCode.RESOURCE_EXHAUSTED and error.reason in _BUSY_REASONS
    return busy or error.code in _RETRYABLE_CODES
