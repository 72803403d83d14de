"""The one translation between oms.v1 protobuf messages and the domain model.

Requests are checked here field by field; every refusal names the field.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum
from typing import TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from oms_server.domain.child import Liquidity
from oms_server.domain.decimals import fmt, parse_decimal, parse_positive
from oms_server.domain.enums import (
    ExecType,
    OrderState,
    OrderType,
    PegType,
    RoutingStrategy,
    Side,
    TimeInForce,
)
from oms_server.domain.errors import ValidationError
from oms_server.domain.executions import Execution
from oms_server.domain.instruments import Instrument
from oms_server.domain.lists import ContingencyType
from oms_server.domain.order import MAX_ID_CHARS, Order, OrderRequest
from oms_server.domain.order_types import ORDER_TYPES
from oms_server.domain.reports import ExecutionReport
from oms_server.domain.shards import ShardInfo, ShardState
from protos.oms.v1 import admin_service_pb2, common_pb2, order_pb2, order_service_pb2

E = TypeVar("E", bound=Enum)
#: A generated proto enum's value type (an int).
V = TypeVar("V", bound=int)

#: Default and largest ListOrders page.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
#: Times are stored as signed 64-bit nanoseconds.
MAX_TIMESTAMP_NS = 2**63
#: What a ListExecutions page token holds before its sequence (tells it from others).
FILLS_TOKEN_PREFIX = "fills:"


def _enum_maps(
    value_of: Callable[[str], V], prefix: str, domain: type[E]
) -> tuple[dict[int, E], dict[E, V]]:
    """Proto enum number -> domain member, and back (by the member's name suffix)."""
    to_proto = {member: value_of(f"{prefix}_{member.value}") for member in domain}
    return {int(number): member for member, number in to_proto.items()}, to_proto


SIDE_IN, SIDE_OUT = _enum_maps(common_pb2.Side.Value, "SIDE", Side)
TYPE_OUT = {kind: common_pb2.OrderType.Value(row.proto_name) for kind, row in ORDER_TYPES.items()}
TYPE_IN: dict[int, OrderType] = {number: kind for kind, number in TYPE_OUT.items()}
PEG_IN, PEG_OUT = _enum_maps(common_pb2.PegType.Value, "PEG_TYPE", PegType)
TIF_IN, TIF_OUT = _enum_maps(common_pb2.TimeInForce.Value, "TIME_IN_FORCE", TimeInForce)
STATE_IN, STATE_OUT = _enum_maps(common_pb2.OrderState.Value, "ORDER_STATE", OrderState)
EXEC_IN, EXEC_OUT = _enum_maps(common_pb2.ExecType.Value, "EXEC_TYPE", ExecType)
ROUTING_IN, ROUTING_OUT = _enum_maps(
    common_pb2.RoutingStrategy.Value, "ROUTING_STRATEGY", RoutingStrategy
)
LIQUIDITY_OUT: dict[Liquidity, common_pb2.Liquidity.ValueType] = {
    Liquidity.NONE: common_pb2.LIQUIDITY_UNSPECIFIED,
    Liquidity.MAKER: common_pb2.LIQUIDITY_MAKER,
    Liquidity.TAKER: common_pb2.LIQUIDITY_TAKER,
}


# -- requests -> domain ---------------------------------------------------------------


def order_request(
    msg: order_service_pb2.SubmitOrderRequest, instruments: Mapping[str, Instrument]
) -> OrderRequest:
    """A checked OrderRequest; raises ValidationError naming the first bad field."""
    account_id = identifier(msg.account_id, "account_id")
    client_order_id = identifier(msg.client_order_id, "client_order_id")
    instrument = instrument_of(msg.symbol, instruments)
    routing = (
        RoutingStrategy.BEST_PRICE
        if msg.routing_strategy == common_pb2.ROUTING_STRATEGY_UNSPECIFIED
        else enum_in(msg.routing_strategy, ROUTING_IN, "routing_strategy")
    )
    request = OrderRequest(
        account_id=account_id,
        client_order_id=client_order_id,
        symbol=instrument.symbol,
        side=enum_in(msg.side, SIDE_IN, "side"),
        order_type=enum_in(msg.order_type, TYPE_IN, "order_type"),
        time_in_force=enum_in(msg.time_in_force, TIF_IN, "time_in_force"),
        quantity=parse_positive(msg.quantity, "quantity"),
        limit_price=parse_decimal(msg.limit_price, "limit_price", allow_empty=True),
        stop_price=parse_decimal(msg.stop_price, "stop_price", allow_empty=True),
        routing_strategy=routing,
        venue=identifier(msg.venue, "venue", required=False),
        expire_ns=optional_time(msg, "expire_time"),
        trailing_offset=parse_decimal(msg.trailing_offset, "trailing_offset", allow_empty=True),
        display_quantity=parse_decimal(msg.display_quantity, "display_quantity", allow_empty=True),
        peg_type=optional_enum(msg.peg_type, PEG_IN, "peg_type"),
        peg_offset=parse_decimal(msg.peg_offset, "peg_offset", allow_empty=True),
    )
    request.check(instrument)
    return request


def optional_time(msg: Message, field: str) -> int | None:
    """The Timestamp ``field`` of ``msg`` in Unix ns, or None when it is not set."""
    if not msg.HasField(field):
        return None
    value: Timestamp = getattr(msg, field)
    ns = value.ToNanoseconds()
    if not 0 < ns < MAX_TIMESTAMP_NS:
        raise ValidationError(field, "is out of range")
    return ns


def identifier(value: str, field: str, *, required: bool = True) -> str:
    """A printable id of at most MAX_ID_CHARS characters."""
    if not value:
        if required:
            raise ValidationError(field, "is required")
        return ""
    if len(value) > MAX_ID_CHARS:
        raise ValidationError(field, f"is longer than {MAX_ID_CHARS} characters")
    if not value.isprintable() or value != value.strip():
        raise ValidationError(field, "must be printable with no leading or trailing spaces")
    return value


def instrument_of(symbol: str, instruments: Mapping[str, Instrument]) -> Instrument:
    if not symbol:
        raise ValidationError("symbol", "is required")
    instrument = instruments.get(symbol)
    if instrument is None:
        raise ValidationError("symbol", f"unknown symbol {symbol[:32]!r}")
    return instrument


def enum_in(value: int, mapping: Mapping[int, E], field: str) -> E:
    member = mapping.get(value)
    if member is None:
        what = "must be specified" if value == 0 else f"unknown value {value}"
        raise ValidationError(field, what)
    return member


def optional_enum(value: int, mapping: Mapping[int, E], field: str) -> E | None:
    """None for the enum's UNSPECIFIED (0), else the member (an unknown number refused)."""
    return None if value == 0 else enum_in(value, mapping, field)


def optional_positive(text: str, field: str) -> Decimal | None:
    return None if text == "" else parse_positive(text, field)


def page_size(value: int) -> int:
    if value < 0:
        raise ValidationError("page_size", "must not be negative")
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_page_token(order: Order) -> str:
    raw = f"{order.created_ns}:{order.order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_page_token(token: str) -> tuple[int, str] | None:
    if not token:
        return None
    try:
        created_text, order_id = base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)
        created = int(created_text)
        if not 0 <= created < MAX_TIMESTAMP_NS:
            raise ValueError("time out of range")
        return created, identifier(order_id, "page_token")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationError("page_token", "is not a token from a previous page") from exc


def encode_fills_page_token(execution: Execution) -> str:
    """The opaque cursor after ``execution`` in a fills list (its report's sequence)."""
    return base64.urlsafe_b64encode(f"{FILLS_TOKEN_PREFIX}{execution.sequence}".encode()).decode()


def decode_fills_page_token(token: str) -> int | None:
    """The report sequence a fills page continues below, or None for the first page."""
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if not text.startswith(FILLS_TOKEN_PREFIX):
            raise ValueError("not a fills token")
        sequence = int(text.removeprefix(FILLS_TOKEN_PREFIX))
        if not 0 < sequence < MAX_TIMESTAMP_NS:
            raise ValueError("sequence out of range")
        return sequence
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationError("page_token", "is not a token from a previous page") from exc


# -- domain -> messages ---------------------------------------------------------------


CONTINGENCY_IN, CONTINGENCY_OUT = _enum_maps(
    common_pb2.ContingencyType.Value, "CONTINGENCY_TYPE", ContingencyType
)


def list_request(
    msg: order_service_pb2.SubmitOrderListRequest, instruments: Mapping[str, Instrument]
) -> tuple[ContingencyType, str, list[OrderRequest]]:
    """The list's contingency, client id and checked member requests; ValidationError
    names the first bad field (``orders[1].limit_price``, say). A member without an
    account_id takes the list's."""
    account_id = identifier(msg.account_id, "account_id")
    contingency = enum_in(msg.contingency_type, CONTINGENCY_IN, "contingency_type")
    list_client_id = identifier(msg.list_client_id, "list_client_id")
    requests: list[OrderRequest] = []
    for i, member in enumerate(msg.orders):
        if member.account_id and member.account_id != account_id:
            raise ValidationError(
                f"orders[{i}].account_id", f"differs from the list's account_id ({account_id})"
            )
        filled_in = order_service_pb2.SubmitOrderRequest()
        filled_in.CopyFrom(member)
        filled_in.account_id = account_id
        try:
            requests.append(order_request(filled_in, instruments))
        except ValidationError as exc:
            raise ValidationError(f"orders[{i}].{exc.field}", exc.description) from None
    return contingency, list_client_id, requests


def order_message(order: Order) -> order_pb2.Order:
    return order_pb2.Order(
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        account_id=order.account_id,
        symbol=order.symbol,
        side=SIDE_OUT[order.side],
        order_type=TYPE_OUT[order.order_type],
        time_in_force=TIF_OUT[order.time_in_force],
        quantity=fmt(order.quantity),
        limit_price=fmt(order.limit_price),
        stop_price=fmt(order.stop_price),
        state=STATE_OUT[order.state],
        cum_qty=fmt(order.cum_qty),
        leaves_qty=fmt(order.leaves_qty),
        avg_price=fmt(order.avg_price),
        routing_strategy=ROUTING_OUT[order.routing_strategy],
        venue=order.venue,
        text=order.text,
        replaces_order_id=order.replaces_order_id,
        replaced_by_order_id=order.replaced_by_order_id,
        create_time=timestamp(order.created_ns),
        update_time=timestamp(order.updated_ns),
        fees=fmt(order.fees),
        net_avg_price=fmt(order.net_avg_price),
        arrival_price=fmt(order.arrival_price),
        best_single_venue_price=fmt(order.single_venue_price),
        expire_time=timestamp(order.expire_ns) if order.expire_ns is not None else None,
        trailing_offset=fmt(order.trailing_offset),
        trigger_price=fmt(order.trigger_price),
        display_quantity=fmt(order.display_quantity),
        list_id=order.list_id,
        peg_type=PEG_OUT[order.peg_type] if order.peg_type else common_pb2.PEG_TYPE_UNSPECIFIED,
        peg_offset=fmt(order.peg_offset),
    )


def report_message(report: ExecutionReport) -> order_pb2.ExecutionReport:
    return order_pb2.ExecutionReport(
        sequence=report.sequence,
        exec_id=report.exec_id,
        order_id=report.order_id,
        client_order_id=report.client_order_id,
        account_id=report.account_id,
        symbol=report.symbol,
        side=SIDE_OUT[report.side],
        exec_type=EXEC_OUT[report.exec_type],
        order_state=STATE_OUT[report.order_state],
        last_qty=fmt(report.last_qty),
        last_price=fmt(report.last_price),
        last_venue=report.last_venue,
        cum_qty=fmt(report.cum_qty),
        leaves_qty=fmt(report.leaves_qty),
        avg_price=fmt(report.avg_price),
        text=report.text,
        transact_time=timestamp(report.transact_ns),
    )


def execution_message(execution: Execution) -> order_pb2.Execution:
    return order_pb2.Execution(
        exec_id=execution.exec_id,
        order_id=execution.order_id,
        client_order_id=execution.client_order_id,
        symbol=execution.symbol,
        side=SIDE_OUT[execution.side],
        venue=execution.venue,
        venue_exec_id=execution.venue_exec_id,
        last_qty=fmt(execution.last_qty),
        last_price=fmt(execution.last_price),
        fee=fmt(execution.fee),
        liquidity=LIQUIDITY_OUT[execution.liquidity],
        transact_time=timestamp(execution.transact_ns),
    )


def timestamp(ns: int) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(ns)
    return ts


SHARD_STATE_OUT = {
    state: admin_service_pb2.ShardState.Value(f"SHARD_STATE_{state.value}") for state in ShardState
}


def shard_message(shard: ShardInfo) -> admin_service_pb2.Shard:
    return admin_service_pb2.Shard(
        shard_id=shard.shard_id,
        state=SHARD_STATE_OUT[shard.state],
        owner_pid=shard.owner_pid,
        standby_pid=shard.standby_pid,
        account_count=shard.account_count,
    )
