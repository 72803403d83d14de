"""Order actions shared by the unary calls and the OrderEntry stream.

``OrderActions`` is the one home of what SubmitOrder, CancelOrder and ReplaceOrder do
between authentication and the answer: map the request, check access, await the engine
(which answers after the commit). ``serve_order_entry`` runs one OrderEntry stream over
them: at most ``MAX_IN_FLIGHT_PER_STREAM`` requests are worked on at once, each answered
as soon as it completes, tagged with its correlation id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping

import grpc
from google.rpc import code_pb2
from opentelemetry import trace

from oms_server.api import mapping
from oms_server.api.auth import UndecodableRequest, current_principal, require_account
from oms_server.api.errors import status_message
from oms_server.api.metrics import ApiMetrics
from oms_server.domain.errors import (
    FailedPreconditionError,
    NotFoundError,
    OmsError,
    ValidationError,
)
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import Order
from oms_server.engine.engine import OrderEngine
from oms_server.engine.ports import OrderHistory
from oms_server.telemetry import tracing_enabled
from protos.oms.v1 import order_service_pb2 as pb

log = logging.getLogger(__name__)

#: Requests of one stream worked on at once; the stream reads no more until one is
#: answered, so a faster client is held back by HTTP/2 flow control.
MAX_IN_FLIGHT_PER_STREAM = 256
#: Longest correlation id echoed back (the request's own is cut to it).
MAX_CORRELATION_ID_CHARS = 64


class OrderActions:
    """Submit, cancel and replace, as every order-entry RPC performs them."""

    def __init__(
        self,
        engine: OrderEngine,
        store: OrderHistory,
        instruments: Mapping[str, Instrument],
        metrics: ApiMetrics | None = None,
    ) -> None:
        self._engine = engine
        self._store = store
        self._instruments = instruments
        self.metrics = metrics or ApiMetrics()

    async def submit(self, request: pb.SubmitOrderRequest) -> Order:
        started = time.perf_counter()
        try:
            principal = require_account(mapping.identifier(request.account_id, "account_id"))
            order_request = mapping.order_request(request, self._instruments)
            order = await self._engine.submit(order_request, principal)
        except ValidationError as exc:
            self.metrics.refused(exc)
            raise
        self.metrics.submit_to_ack.observe(time.perf_counter() - started)
        if tracing_enabled():
            _describe_span(order)
        return order

    async def submit_list(self, request: pb.SubmitOrderListRequest) -> list[Order]:
        """A contingent list: every member mapped and checked before the engine sees it."""
        try:
            principal = require_account(mapping.identifier(request.account_id, "account_id"))
            contingency, list_client_id, requests = mapping.list_request(request, self._instruments)
            return await self._engine.submit_list(contingency, list_client_id, requests, principal)
        except ValidationError as exc:
            self.metrics.refused(exc)
            raise

    async def cancel(self, request: pb.CancelOrderRequest) -> Order:
        order_id = mapping.identifier(request.order_id, "order_id")
        try:
            return await self._engine.cancel(order_id, current_principal())
        except NotFoundError:
            await self._refuse_finished(order_id)
            raise

    async def replace(self, request: pb.ReplaceOrderRequest) -> Order:
        try:
            order_id = mapping.identifier(request.order_id, "order_id")
            quantity = mapping.optional_positive(request.quantity, "quantity")
            limit_price = mapping.optional_positive(request.limit_price, "limit_price")
            client_order_id = mapping.identifier(
                request.client_order_id, "client_order_id", required=False
            )
        except ValidationError as exc:
            self.metrics.refused(exc)
            raise
        try:
            return await self._engine.replace(
                order_id,
                current_principal(),
                quantity=quantity,
                limit_price=limit_price,
                client_order_id=client_order_id,
            )
        except NotFoundError:
            await self._refuse_finished(order_id)
            raise
        except ValidationError as exc:
            self.metrics.refused(exc)
            raise

    async def entry(self, request: pb.OrderEntryRequest) -> Order:
        """The action of one OrderEntry request."""
        action = request.WhichOneof("action")
        if action == "submit":
            return await self.submit(request.submit)
        if action == "cancel":
            return await self.cancel(request.cancel)
        if action == "replace":
            return await self.replace(request.replace)
        raise ValidationError("action", "one of submit, cancel or replace is required")

    async def _refuse_finished(self, order_id: str) -> None:
        """Turn NOT_FOUND into FAILED_PRECONDITION for a visible order that is done."""
        stored = await self._store.get_order(order_id)
        if stored is not None and current_principal().can_act_for(stored.account_id):
            raise FailedPreconditionError(
                f"order {order_id} is {stored.state.value}", reason="ORDER_NOT_WORKING"
            )


def _describe_span(order: Order) -> None:
    """Name the order on the call's span (the server span of its RPC)."""
    trace.get_current_span().set_attributes(
        {
            "oms.order_id": order.order_id,
            "oms.account_id": order.account_id,
            "oms.symbol": order.symbol,
            "oms.client_order_id": order.client_order_id,
        }
    )


async def serve_order_entry(
    actions: OrderActions,
    requests: AsyncIterator[pb.OrderEntryRequest | UndecodableRequest],
    context: grpc.aio.ServicerContext,
) -> None:
    """Answer every request of one OrderEntry stream, in completion order."""
    slots = asyncio.Semaphore(MAX_IN_FLIGHT_PER_STREAM)
    answers: asyncio.Queue[pb.OrderEntryResponse | None] = asyncio.Queue()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(_read(actions, requests, slots, answers, tasks))
        while (answer := await answers.get()) is not None:
            await context.write(answer)
            slots.release()


async def _read(
    actions: OrderActions,
    requests: AsyncIterator[pb.OrderEntryRequest | UndecodableRequest],
    slots: asyncio.Semaphore,
    answers: asyncio.Queue[pb.OrderEntryResponse | None],
    tasks: asyncio.TaskGroup,
) -> None:
    """Start each request when a slot is free; end the answers once all are written."""
    async for request in requests:
        await slots.acquire()
        tasks.create_task(_answer(actions, request, answers))
    for _ in range(MAX_IN_FLIGHT_PER_STREAM):
        await slots.acquire()  # every slot back: every answer written
    answers.put_nowait(None)


async def _answer(
    actions: OrderActions,
    request: pb.OrderEntryRequest | UndecodableRequest,
    answers: asyncio.Queue[pb.OrderEntryResponse | None],
) -> None:
    answers.put_nowait(await answer_of(actions, request))


async def answer_of(
    actions: OrderActions, request: pb.OrderEntryRequest | UndecodableRequest
) -> pb.OrderEntryResponse:
    """The answer to one request: its order, or its refusal as a google.rpc.Status."""
    if isinstance(request, UndecodableRequest):
        error = pb.EntryError(code=code_pb2.INVALID_ARGUMENT, message=request.message)
        return pb.OrderEntryResponse(error=error)
    correlation_id = request.correlation_id[:MAX_CORRELATION_ID_CHARS]
    try:
        order = await actions.entry(request)
    except OmsError as refused:
        status = status_message(refused)
        error = pb.EntryError(code=status.code, message=status.message, details=status.details)
        return pb.OrderEntryResponse(correlation_id=correlation_id, error=error)
    except Exception:
        log.exception("unexpected error answering an OrderEntry request")
        error = pb.EntryError(code=code_pb2.INTERNAL, message="internal error; see the server log")
        return pb.OrderEntryResponse(correlation_id=correlation_id, error=error)
    return pb.OrderEntryResponse(correlation_id=correlation_id, order=mapping.order_message(order))
