"""The orders oms-bench sends, built on the raw generated oms.v1 stubs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import grpc

from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from protos.oms.v1 import order_service_pb2_grpc as pb_grpc

#: Resting orders are spread over this many price levels (ticks) below ``rest_price``, so
#: no single venue level grows huge (the simulator sums a level's orders on every publish).
REST_LEVELS = 1000
#: Deadline of every unary call, in seconds: a call that takes longer counts as an error.
CALL_TIMEOUT_S = 30.0
#: Order states after which an order changes no more.
FINAL_STATES = frozenset(
    {
        common_pb2.ORDER_STATE_FILLED,
        common_pb2.ORDER_STATE_CANCELED,
        common_pb2.ORDER_STATE_REJECTED,
        common_pb2.ORDER_STATE_EXPIRED,
        common_pb2.ORDER_STATE_REPLACED,
    }
)
#: Orders per ListOrders page (the server's largest).
LIST_PAGE_SIZE = 1000
#: HTTP/2 and message options of the client channel (the same for the OMS and the echo).
CHANNEL_OPTIONS = (("grpc.max_receive_message_length", 16 * 1024 * 1024),)


@dataclass(frozen=True, slots=True)
class OrderShape:
    """The instrument and prices the orders use (defaults fit the bundled bench scenario).

    ``take_*`` makes a marketable IOC limit buy that a liquidity-weighted route splits
    across every venue showing depth at ``take_price``; ``rest_price`` is far below the
    market, so those buys rest at a venue and never fill.
    """

    symbol: str = "BNCH"
    take_price: str = "100.01"
    take_qty: str = "300"
    rest_price: str = "50.00"
    tick: str = "0.01"

    def resting_buy(self, account_id: str, client_order_id: str, i: int) -> pb.SubmitOrderRequest:
        """A one-lot DAY limit buy far below the market, best-price routed (it rests)."""
        price = Decimal(self.rest_price) - Decimal(self.tick) * (i % REST_LEVELS)
        return pb.SubmitOrderRequest(
            account_id=account_id,
            client_order_id=client_order_id,
            symbol=self.symbol,
            side=common_pb2.SIDE_BUY,
            order_type=common_pb2.ORDER_TYPE_LIMIT,
            time_in_force=common_pb2.TIME_IN_FORCE_DAY,
            quantity="1",
            limit_price=str(price),
            routing_strategy=common_pb2.ROUTING_STRATEGY_BEST_PRICE,
        )

    def taking_buy(self, account_id: str, client_order_id: str) -> pb.SubmitOrderRequest:
        """A marketable IOC limit buy, split by depth across the venues (LIQUIDITY)."""
        return pb.SubmitOrderRequest(
            account_id=account_id,
            client_order_id=client_order_id,
            symbol=self.symbol,
            side=common_pb2.SIDE_BUY,
            order_type=common_pb2.ORDER_TYPE_LIMIT,
            time_in_force=common_pb2.TIME_IN_FORCE_IOC,
            quantity=self.take_qty,
            limit_price=self.take_price,
            routing_strategy=common_pb2.ROUTING_STRATEGY_LIQUIDITY,
        )


class OrderClient:
    """SubmitOrder and friends over one channel, with the bearer token on every call."""

    def __init__(self, address: str, metadata: tuple[tuple[str, str], ...]) -> None:
        self.channel = grpc.aio.insecure_channel(address, options=list(CHANNEL_OPTIONS))
        self.stub = pb_grpc.OrderServiceStub(self.channel)
        self.metadata = metadata

    async def submit(self, request: pb.SubmitOrderRequest) -> pb.SubmitOrderResponse:
        return await self.stub.SubmitOrder(request, metadata=self.metadata, timeout=CALL_TIMEOUT_S)

    async def list_orders(self, account_id: str, page_token: str = "") -> pb.ListOrdersResponse:
        request = pb.ListOrdersRequest(
            account_id=account_id, page_size=LIST_PAGE_SIZE, page_token=page_token
        )
        return await self.stub.ListOrders(request, metadata=self.metadata, timeout=CALL_TIMEOUT_S)

    async def close(self) -> None:
        await self.channel.close()
