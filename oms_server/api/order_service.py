"""oms.v1.OrderService: each method authenticates, maps, awaits the engine, maps back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import grpc

from oms_server.api import mapping
from oms_server.api.auth import current_principal, require_account
from oms_server.api.errors import rpc_errors
from oms_server.api.metrics import ApiMetrics
from oms_server.api.order_entry import OrderActions, serve_order_entry
from oms_server.api.stream_encoding import StreamEncoder
from oms_server.domain.errors import (
    NotFoundError,
    OutOfRangeError,
)
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import Order
from oms_server.engine.engine import OrderEngine
from oms_server.engine.hub import ReportHub
from oms_server.engine.ports import OrderHistory
from oms_server.engine.report_stream import report_batches
from protos.oms.v1 import order_service_pb2 as pb
from protos.oms.v1 import order_service_pb2_grpc

#: Most reports in one stream message (a request's max_batch is capped to it).
MAX_STREAM_BATCH = 1000


class OrderService(order_service_pb2_grpc.OrderServiceServicer):
    """Submit, amend, cancel and query orders; stream execution reports."""

    def __init__(
        self,
        engine: OrderEngine,
        store: OrderHistory,
        hub: ReportHub,
        instruments: Mapping[str, Instrument],
        metrics: ApiMetrics | None = None,
    ) -> None:
        self._engine = engine
        self._store = store
        self._hub = hub
        self._instruments = instruments
        self._encoder = StreamEncoder()
        self._actions = OrderActions(engine, store, instruments, metrics)
        self._stream_lag = self._actions.metrics.stream_lag

    @rpc_errors
    async def SubmitOrder(
        self, request: pb.SubmitOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitOrderResponse:
        order = await self._actions.submit(request)
        return pb.SubmitOrderResponse(order=mapping.order_message(order))

    @rpc_errors
    async def SubmitOrderList(
        self, request: pb.SubmitOrderListRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitOrderListResponse:
        orders = await self._actions.submit_list(request)
        return pb.SubmitOrderListResponse(
            list_id=orders[0].list_id, orders=[mapping.order_message(o) for o in orders]
        )

    @rpc_errors
    async def CancelOrder(
        self, request: pb.CancelOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelOrderResponse:
        order = await self._actions.cancel(request)
        return pb.CancelOrderResponse(order=mapping.order_message(order))

    @rpc_errors
    async def ReplaceOrder(
        self, request: pb.ReplaceOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReplaceOrderResponse:
        order = await self._actions.replace(request)
        return pb.ReplaceOrderResponse(order=mapping.order_message(order))

    # Not under rpc_errors: each request's error is answered on the stream, tagged.
    async def OrderEntry(  # type: ignore[override]
        self,
        request_iterator: AsyncIterator[pb.OrderEntryRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        await serve_order_entry(self._actions, request_iterator, context)

    @rpc_errors
    async def GetOrder(
        self, request: pb.GetOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetOrderResponse:
        order = await self._visible_order(mapping.identifier(request.order_id, "order_id"))
        return pb.GetOrderResponse(order=mapping.order_message(order))

    @rpc_errors
    async def ListOrders(
        self, request: pb.ListOrdersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOrdersResponse:
        account_id = mapping.identifier(request.account_id, "account_id")
        require_account(account_id)
        limit = mapping.page_size(request.page_size)
        states = [mapping.enum_in(s, mapping.STATE_IN, "states") for s in request.states]
        orders = await self._store.list_orders(
            account_id,
            states=states,
            symbol=request.symbol[:32],
            limit=limit + 1,
            before=mapping.decode_page_token(request.page_token),
        )
        page, more = orders[:limit], len(orders) > limit
        return pb.ListOrdersResponse(
            orders=[mapping.order_message(o) for o in page],
            next_page_token=mapping.encode_page_token(page[-1]) if more else "",
        )

    @rpc_errors
    async def GetOrderEvents(
        self, request: pb.GetOrderEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetOrderEventsResponse:
        order = await self._visible_order(mapping.identifier(request.order_id, "order_id"))
        events = await self._store.order_events(order.order_id)
        return pb.GetOrderEventsResponse(events=[mapping.report_message(r) for r in events])

    @rpc_errors
    async def CancelAllOrders(
        self, request: pb.CancelAllOrdersRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelAllOrdersResponse:
        account_id = mapping.identifier(request.account_id, "account_id")
        principal = require_account(account_id)
        symbol = (
            mapping.instrument_of(request.symbol, self._instruments).symbol
            if request.symbol
            else ""
        )
        side = mapping.enum_in(request.side, mapping.SIDE_IN, "side") if request.side else None
        canceled = await self._engine.cancel_all(account_id, principal, symbol, side)
        return pb.CancelAllOrdersResponse(canceled_count=canceled)

    @rpc_errors
    async def ListExecutions(
        self, request: pb.ListExecutionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListExecutionsResponse:
        account_id = mapping.identifier(request.account_id, "account_id")
        require_account(account_id)
        limit = mapping.page_size(request.page_size)
        fills = await self._store.list_executions(
            account_id,
            order_id=mapping.identifier(request.order_id, "order_id", required=False),
            symbol=request.symbol[:32],
            limit=limit + 1,
            before=mapping.decode_fills_page_token(request.page_token),
        )
        page, more = fills[:limit], len(fills) > limit
        return pb.ListExecutionsResponse(
            executions=[mapping.execution_message(f) for f in page],
            next_page_token=mapping.encode_fills_page_token(page[-1]) if more else "",
        )

    @rpc_errors
    # Written with context.write (grpc.aio allows it), not as a generator: one write per
    # batch of messages, and the stub's AsyncIterator return type does not describe that.
    async def StreamExecutionReports(  # type: ignore[override]
        self, request: pb.StreamExecutionReportsRequest, context: grpc.aio.ServicerContext
    ) -> None:
        account_id = mapping.identifier(request.account_id, "account_id")
        require_account(account_id)
        head = self._hub.last_sequence(account_id)
        if request.from_sequence > head:
            raise OutOfRangeError(
                f"from_sequence {request.from_sequence} is past account {account_id}'s"
                f" last sequence {head}",
                reason="SEQUENCE_PAST_HEAD",
                metadata={"last_sequence": str(head)},
            )
        max_batch = min(request.max_batch, MAX_STREAM_BATCH)
        batches = report_batches(
            self._hub,
            self._store,
            account_id,
            request.from_sequence,
            max(max_batch, 1),
            lag=self._stream_lag,
        )
        single, encoder = max_batch <= 1, self._encoder
        async for batch in batches:
            # bytes: the stream's serializer sends them as they are (see auth.wrap)
            await context.write(encoder.single(batch[0]) if single else encoder.batch(batch))

    async def _visible_order(self, order_id: str) -> Order:
        order = await self._engine.get_order(order_id)
        if order is None or not current_principal().can_act_for(order.account_id):
            raise NotFoundError(f"order {order_id} not found", reason="ORDER_NOT_FOUND")
        return order
