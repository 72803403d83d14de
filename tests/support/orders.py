"""Builders for order requests and helpers to read gRPC error details."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb


def limit_buy(
    client_order_id: str = "c1",
    *,
    account_id: str = "ACC1",
    symbol: str = "AAPL",
    quantity: str = "100",
    limit_price: str = "190.00",
    **overrides: object,
) -> pb.SubmitOrderRequest:
    """A valid DAY limit buy; keyword overrides set any other field."""
    fields: dict[str, object] = {
        "account_id": account_id,
        "client_order_id": client_order_id,
        "symbol": symbol,
        "side": common_pb2.SIDE_BUY,
        "order_type": common_pb2.ORDER_TYPE_LIMIT,
        "time_in_force": common_pb2.TIME_IN_FORCE_DAY,
        "quantity": quantity,
        "limit_price": limit_price,
    }
    fields.update(overrides)
    return pb.SubmitOrderRequest(**fields)  # type: ignore[arg-type]


def field_violations(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields named by the google.rpc.BadRequest details of an error."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    fields = []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.extend(v.field for v in bad.field_violations)
    return fields


def error_reason(error: grpc.aio.AioRpcError) -> str:
    """The google.rpc.ErrorInfo reason of an error, or ''."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""
