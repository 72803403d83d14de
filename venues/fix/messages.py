"""Children to FIX 4.4 and FIX back to venue reports and order statuses (no I/O).

A message in is read from its raw text (``tag=value`` fields split on SOH, the last
occurrence of a tag winning: none of the tags read here sit in a repeating group). A
message out is a MsgType and a list of ``(tag, value)`` fields; the session fills in
the header.

Exec ids: a venue's ExecID is unique only among its own reports of a trading day (and
QuickFIX's executor example counts from 1 again when it restarts), while the OMS keeps
exec ids per child for ever. So a FIX report's exec id is ``<ClOrdID>:<ExecID>``: the
same report delivered twice (a resend with PossDupFlag, a replay) has the same id and
is applied once; two reports of different children never collide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Final

from oms_server.domain.child import (
    ChildOrder,
    ChildState,
    Liquidity,
    VenueExecType,
    VenueOrderStatus,
    VenueReport,
)
from oms_server.domain.decimals import ZERO, fmt
from oms_server.domain.enums import OrderType, Side, TimeInForce

SOH: Final = "\x01"
BPS: Final = Decimal(10_000)


class Tag(IntEnum):
    AVG_PX = 6
    CL_ORD_ID = 11
    CUM_QTY = 14
    EXEC_ID = 17
    HANDL_INST = 21
    LAST_PX = 31
    LAST_QTY = 32
    MSG_SEQ_NUM = 34
    MSG_TYPE = 35
    ORDER_QTY = 38
    ORD_STATUS = 39
    ORD_TYPE = 40
    ORIG_CL_ORD_ID = 41
    PRICE = 44
    REF_SEQ_NUM = 45
    SIDE = 54
    SYMBOL = 55
    TEXT = 58
    TIME_IN_FORCE = 59
    TRANSACT_TIME = 60
    ORD_REJ_REASON = 103
    REF_TAG_ID = 371
    EXEC_TYPE = 150
    LEAVES_QTY = 151
    REF_MSG_TYPE = 372
    BUSINESS_REJECT_REASON = 380
    LAST_LIQUIDITY_IND = 851


class MsgType(StrEnum):
    REJECT = "3"
    EXECUTION_REPORT = "8"
    ORDER_CANCEL_REJECT = "9"
    NEW_ORDER_SINGLE = "D"
    ORDER_CANCEL_REQUEST = "F"
    ORDER_STATUS_REQUEST = "H"
    BUSINESS_MESSAGE_REJECT = "j"


#: ExecType (150) of an answer to OrderStatusRequest.
EXEC_TYPE_ORDER_STATUS: Final = "I"
#: OrdRejReason (103) of a status answer about an order the venue does not know.
ORD_REJ_UNKNOWN_ORDER: Final = "5"

_SIDE_OUT: Final = MappingProxyType({Side.BUY: "1", Side.SELL: "2"})
_ORD_TYPE_OUT: Final = MappingProxyType({OrderType.MARKET: "1", OrderType.LIMIT: "2"})
_TIF_OUT: Final = MappingProxyType(
    {
        TimeInForce.DAY: "0",
        TimeInForce.GTC: "1",
        TimeInForce.IOC: "3",
        TimeInForce.FOK: "4",
        TimeInForce.GTD: "0",  # the OMS ends a GTD child at its deadline (a DAY at the venue)
    }
)
_EXEC_TYPE_IN: Final[Mapping[str, VenueExecType]] = MappingProxyType(
    {
        "0": VenueExecType.NEW,
        "1": VenueExecType.TRADE,  # FIX 4.2 Partial fill
        "2": VenueExecType.TRADE,  # FIX 4.2 Fill
        "F": VenueExecType.TRADE,
        "4": VenueExecType.CANCELED,
        "8": VenueExecType.REJECTED,
        "C": VenueExecType.EXPIRED,
        "3": VenueExecType.EXPIRED,  # Done for day
    }
)
_ORD_STATUS_IN: Final[Mapping[str, ChildState]] = MappingProxyType(
    {
        "0": ChildState.NEW,
        "1": ChildState.PARTIALLY_FILLED,
        "2": ChildState.FILLED,
        "3": ChildState.EXPIRED,  # Done for day
        "4": ChildState.CANCELED,
        "5": ChildState.NEW,  # Replaced
        "6": ChildState.NEW,  # Pending cancel: still working
        "8": ChildState.REJECTED,
        "A": ChildState.PENDING_NEW,
        "C": ChildState.EXPIRED,
        "E": ChildState.NEW,  # Pending replace
    }
)
_LIQUIDITY_IN: Final = MappingProxyType({"1": Liquidity.MAKER, "2": Liquidity.TAKER})

Fields = dict[int, str]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send: its MsgType and body fields, in order."""

    msg_type: str
    fields: tuple[tuple[int, str], ...]


class MalformedMessage(ValueError):
    """A venue message the connector cannot read (named tag missing or bad)."""


def parse(raw: str) -> Fields:
    """The fields of a raw FIX message (the last occurrence of each tag)."""
    fields: Fields = {}
    for part in raw.split(SOH):
        tag, sep, value = part.partition("=")
        if sep and tag.isdigit():
            fields[int(tag)] = value
    return fields


def transact_time(now_ns: int) -> str:
    """UTCTimestamp with milliseconds."""
    moment = datetime.fromtimestamp(now_ns / 1e9, tz=UTC)
    return moment.strftime("%Y%m%d-%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def new_order_single(child: ChildOrder, now_ns: int) -> Outgoing:
    """The NewOrderSingle of a child: ClOrdID is the child order id."""
    order_type = _ORD_TYPE_OUT.get(child.order_type)
    if order_type is None:
        raise ValueError(f"a FIX venue takes MARKET and LIMIT children, not {child.order_type}")
    fields = [
        (Tag.CL_ORD_ID, child.child_order_id),
        (Tag.HANDL_INST, "1"),
        (Tag.SYMBOL, child.symbol),
        (Tag.SIDE, _SIDE_OUT[child.side]),
        (Tag.TRANSACT_TIME, transact_time(now_ns)),
        (Tag.ORDER_QTY, fmt(child.quantity)),
        (Tag.ORD_TYPE, order_type),
        (Tag.TIME_IN_FORCE, _TIF_OUT[child.time_in_force]),
    ]
    if child.order_type is OrderType.LIMIT:
        assert child.limit_price is not None
        fields.append((Tag.PRICE, fmt(child.limit_price)))
    return Outgoing(MsgType.NEW_ORDER_SINGLE, tuple((int(t), v) for t, v in fields))


def cancel_request(child: ChildOrder, cancel_id: str, now_ns: int) -> Outgoing:
    """OrderCancelRequest of a child's rest; ``cancel_id`` is the request's own ClOrdID."""
    fields = (
        (Tag.ORIG_CL_ORD_ID, child.child_order_id),
        (Tag.CL_ORD_ID, cancel_id),
        (Tag.SYMBOL, child.symbol),
        (Tag.SIDE, _SIDE_OUT[child.side]),
        (Tag.TRANSACT_TIME, transact_time(now_ns)),
        (Tag.ORDER_QTY, fmt(child.quantity)),
    )
    return Outgoing(MsgType.ORDER_CANCEL_REQUEST, tuple((int(t), v) for t, v in fields))


def status_request(child_order_id: str, symbol: str, side: Side) -> Outgoing:
    """OrderStatusRequest about one child."""
    fields = (
        (Tag.CL_ORD_ID, child_order_id),
        (Tag.SYMBOL, symbol),
        (Tag.SIDE, _SIDE_OUT[side]),
    )
    return Outgoing(MsgType.ORDER_STATUS_REQUEST, tuple((int(t), v) for t, v in fields))


def cancel_id_of(child_order_id: str, attempt: int) -> str:
    return f"{child_order_id}~c{attempt}"


def child_id_of(fields: Fields) -> str:
    """The child an ExecutionReport is about: OrigClOrdID for a cancel's, else ClOrdID."""
    orig = fields.get(Tag.ORIG_CL_ORD_ID)
    if orig:
        return orig
    cl_ord_id = fields.get(Tag.CL_ORD_ID)
    if not cl_ord_id:
        raise MalformedMessage("ExecutionReport without ClOrdID (11)")
    return cl_ord_id.split("~c", 1)[0]


def is_status_answer(fields: Fields) -> bool:
    return fields.get(Tag.EXEC_TYPE) == EXEC_TYPE_ORDER_STATUS


def venue_report(venue: str, fields: Fields, taker_fee_bps: Decimal) -> VenueReport:
    """The venue report of an ExecutionReport (not a status answer).

    FIX executors seldom send Commission: a fill's fee is the venue's scenario taker
    fee on its notional.
    """
    child_id = child_id_of(fields)
    exec_id = fields.get(Tag.EXEC_ID)
    if not exec_id:
        raise MalformedMessage("ExecutionReport without ExecID (17)")
    raw_type = fields.get(Tag.EXEC_TYPE, "")
    exec_type = _EXEC_TYPE_IN.get(raw_type)
    if exec_type is None:
        raise MalformedMessage(f"ExecType (150) {raw_type!r} is not supported")
    status = _ORD_STATUS_IN.get(fields.get(Tag.ORD_STATUS, ""), ChildState.UNKNOWN)
    last_qty = _decimal(fields, Tag.LAST_QTY) if exec_type is VenueExecType.TRADE else ZERO
    last_price = _decimal(fields, Tag.LAST_PX) if exec_type is VenueExecType.TRADE else ZERO
    liquidity = _LIQUIDITY_IN.get(fields.get(Tag.LAST_LIQUIDITY_IND, ""), Liquidity.TAKER)
    fee = last_qty * last_price * taker_fee_bps / BPS if last_qty else ZERO
    return VenueReport(
        venue=venue,
        exec_id=f"{child_id}:{exec_id}",
        child_order_id=child_id,
        exec_type=exec_type,
        status=status,
        last_qty=last_qty,
        last_price=last_price,
        cum_qty=_decimal(fields, Tag.CUM_QTY),
        leaves_qty=_decimal(fields, Tag.LEAVES_QTY),
        fee=fee,
        liquidity=liquidity if last_qty else Liquidity.NONE,
        text=fields.get(Tag.TEXT, ""),
        transact_ns=_timestamp_ns(fields.get(Tag.TRANSACT_TIME, "")),
    )


def rejected_report(venue: str, child_order_id: str, reason: str, now_ns: int) -> VenueReport:
    """A child the venue refused at the session or business level (Reject, j)."""
    return VenueReport(
        venue=venue,
        exec_id=f"{child_order_id}:refused",
        child_order_id=child_order_id,
        exec_type=VenueExecType.REJECTED,
        status=ChildState.REJECTED,
        text=reason,
        transact_ns=now_ns,
    )


@dataclass(slots=True)
class KnownFills:
    """What the connector knows a child was filled for (its fill reports seen)."""

    qty: Decimal = ZERO
    notional: Decimal = ZERO


def order_status(
    venue: str,
    fields: Fields,
    known: KnownFills,
    taker_fee_bps: Decimal,
    now_ns: int,
) -> VenueOrderStatus | None:
    """A status answer as the engine's VenueOrderStatus, or None when the venue does not
    know the order.

    A status carries CumQty and AvgPx, not the fills: what the OMS has not seen of them
    (``known``) becomes one fill at the price that makes the average come out, with an
    exec id fixed by the cumulative quantity (the same answer twice is one fill).
    """
    child_id = child_id_of(fields)
    status = fields.get(Tag.ORD_STATUS, "")
    if status == "8" and fields.get(Tag.ORD_REJ_REASON) == ORD_REJ_UNKNOWN_ORDER:
        return None
    state = _ORD_STATUS_IN.get(status)
    if state is None:
        raise MalformedMessage(f"OrdStatus (39) {status!r} is not supported")
    cum_qty = _decimal(fields, Tag.CUM_QTY)
    fills: tuple[VenueReport, ...] = ()
    missing = cum_qty - known.qty
    if missing > ZERO:
        price = (cum_qty * _decimal(fields, Tag.AVG_PX) - known.notional) / missing
        fills = (
            VenueReport(
                venue=venue,
                exec_id=f"{child_id}:status-fill:{fmt(cum_qty)}",
                child_order_id=child_id,
                exec_type=VenueExecType.TRADE,
                status=state,
                last_qty=missing,
                last_price=price,
                cum_qty=cum_qty,
                leaves_qty=_decimal(fields, Tag.LEAVES_QTY),
                fee=missing * price * taker_fee_bps / BPS,
                liquidity=Liquidity.TAKER,
                text="fill learned from the venue's order status",
                transact_ns=now_ns,
            ),
        )
    return VenueOrderStatus(
        child_order_id=child_id,
        state=state,
        cum_qty=cum_qty,
        leaves_qty=_decimal(fields, Tag.LEAVES_QTY),
        fills=fills,
    )


def _decimal(fields: Fields, tag: int) -> Decimal:
    value = fields.get(tag)
    if value is None or value == "":
        return ZERO
    try:
        return Decimal(value)
    except InvalidOperation:
        raise MalformedMessage(f"tag {tag} is not a number: {value!r}") from None


def _timestamp_ns(value: str) -> int:
    for layout in ("%Y%m%d-%H:%M:%S.%f", "%Y%m%d-%H:%M:%S"):
        try:
            moment = datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
        return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
    return 0
