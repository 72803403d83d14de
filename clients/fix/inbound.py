"""Order messages a session sends, read into plain requests for the API.

Reading happens on a QuickFIX thread, so it only looks at fields: a missing tag, a value
the gateway does not know or a malformed number raises ``BadField``, which the
application turns into QuickFIX's own refusal (BusinessMessageReject reason 5 for a
missing tag, Reject with SessionRejectReason 5 or 6 for a bad value), naming the tag.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Final, TypeAlias

from clients.fix.protocol import (
    MASS_CANCEL_SYMBOL,
    MASS_CANCEL_TYPES,
    ORD_TYPE_FROM_FIX,
    ORD_TYPE_PEGGED,
    PEG_FROM_EXEC_INST,
    SIDE_FROM_FIX,
    TIF_DEFAULT,
    TIF_FROM_FIX,
    TIF_GTD,
    MsgType,
    Tag,
)
from protos.oms.v1 import common_pb2 as c

#: A field's value, or None when the message does not carry it.
Fields: TypeAlias = Callable[[int], str | None]

#: FIX's float: digits with an optional decimal point and sign (no exponent).
_DECIMAL = re.compile(r"-?(?:\d+\.?\d*|\.\d+)")
#: UTCTimestamp: YYYYMMDD-HH:MM:SS with optional fractional seconds (up to nanoseconds).
_TIMESTAMP = re.compile(r"(\d{8}-\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?")


class Problem(Enum):
    """What is wrong with a field (QuickFIX's refusal for each)."""

    MISSING = "missing"  # BusinessMessageReject, reason 5 (conditionally required missing)
    VALUE = "value"  # Reject, SessionRejectReason 5 (value is incorrect)
    FORMAT = "format"  # Reject, SessionRejectReason 6 (incorrect data format)


class BadField(Exception):
    """A field of an order message is missing or cannot be used."""

    def __init__(self, tag: int, problem: Problem) -> None:
        super().__init__(f"fix-inbound: tag {tag} {problem.value}")
        self.tag = tag
        self.problem = problem


@dataclass(frozen=True, slots=True)
class OrderRef:
    """How a cancel, replace or status request names its order."""

    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    account: str
    symbol: str
    side: str


@dataclass(frozen=True, slots=True)
class NewOrder:
    """NewOrderSingle (D)."""

    cl_ord_id: str
    account: str
    symbol: str
    side: str
    ord_type: str
    time_in_force: str
    quantity: str
    price: str
    stop_px: str
    expire_time: datetime | None
    venue: str
    poss_dup: bool
    #: MaxFloor (111): an iceberg's display quantity; empty shows the whole order.
    max_floor: str = ""
    #: OrdType P: the peg ExecInst (18) names; unspecified for other types.
    peg_type: c.PegType.ValueType = c.PEG_TYPE_UNSPECIFIED
    #: OrdType P: PegOffsetValue (211) as the API's passive distance (see ``_peg_offset``).
    peg_offset: str = ""

    @property
    def proto_side(self) -> c.Side.ValueType:
        return SIDE_FROM_FIX[self.side]

    @property
    def proto_order_type(self) -> c.OrderType.ValueType:
        return ORD_TYPE_FROM_FIX[self.ord_type][0]

    @property
    def proto_time_in_force(self) -> c.TimeInForce.ValueType:
        return TIF_FROM_FIX[self.time_in_force]


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """OrderCancelRequest (F)."""

    ref: OrderRef


@dataclass(frozen=True, slots=True)
class ReplaceRequest:
    """OrderCancelReplaceRequest (G): a new quantity and/or limit price."""

    ref: OrderRef
    quantity: str
    price: str


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """OrderStatusRequest (H)."""

    ref: OrderRef


@dataclass(frozen=True, slots=True)
class MassCancelRequest:
    """OrderMassCancelRequest (q): every working order, or those of one symbol."""

    cl_ord_id: str
    request_type: str
    account: str
    symbol: str
    side: str


Request: TypeAlias = NewOrder | CancelRequest | ReplaceRequest | StatusRequest | MassCancelRequest


def read_request(msg_type: str, fields: Fields, poss_dup: bool) -> Request:
    """The request an order message makes; BadField names what is wrong."""
    reader = _READERS.get(msg_type)
    if reader is None:
        raise KeyError(msg_type)
    return reader(_Reader(fields), poss_dup)


class _Reader:
    def __init__(self, fields: Fields) -> None:
        self._fields = fields

    def required(self, tag: int) -> str:
        value = self._fields(tag)
        if not value:
            raise BadField(tag, Problem.MISSING)
        return value

    def optional(self, tag: int) -> str:
        return self._fields(tag) or ""

    def choice(self, tag: int, choices: object, default: str | None = None) -> str:
        value = self.optional(tag) or default
        if value is None:
            raise BadField(tag, Problem.MISSING)
        if value not in choices:  # type: ignore[operator]
            raise BadField(tag, Problem.VALUE)
        return value

    def decimal(self, tag: int, *, required: bool) -> str:
        value = self.required(tag) if required else self.optional(tag)
        if value and not _DECIMAL.fullmatch(value):
            raise BadField(tag, Problem.FORMAT)
        return value

    def timestamp(self, tag: int) -> datetime:
        value = self.required(tag)
        match = _TIMESTAMP.fullmatch(value)
        if match is None:
            raise BadField(tag, Problem.FORMAT)
        try:
            moment = datetime.strptime(match.group(1), "%Y%m%d-%H:%M:%S")
        except ValueError:
            raise BadField(tag, Problem.FORMAT) from None
        micros = int((match.group(2) or "0").ljust(6, "0")[:6])
        return moment.replace(microsecond=micros, tzinfo=UTC)

    def side(self, *, required: bool) -> str:
        if not required and not self.optional(Tag.SIDE):
            return ""
        return self.choice(Tag.SIDE, SIDE_FROM_FIX)

    def order_ref(self) -> OrderRef:
        return OrderRef(
            cl_ord_id=self.required(Tag.CL_ORD_ID),
            orig_cl_ord_id=self.optional(Tag.ORIG_CL_ORD_ID),
            order_id=self.optional(Tag.ORDER_ID),
            account=self.optional(Tag.ACCOUNT),
            symbol=self.optional(Tag.SYMBOL),
            side=self.side(required=False),
        )

    def amended_order_ref(self) -> OrderRef:
        """A cancel or replace names the order by OrigClOrdID (41)."""
        self.required(Tag.ORIG_CL_ORD_ID)
        return self.order_ref()


def _new_order(r: _Reader, poss_dup: bool) -> NewOrder:
    ord_type = r.choice(Tag.ORD_TYPE, ORD_TYPE_FROM_FIX)
    _, needs_price, needs_stop = ORD_TYPE_FROM_FIX[ord_type]
    tif = r.choice(Tag.TIME_IN_FORCE, TIF_FROM_FIX, TIF_DEFAULT)
    pegged = ord_type == ORD_TYPE_PEGGED
    side = r.side(required=True)
    return NewOrder(
        cl_ord_id=r.required(Tag.CL_ORD_ID),
        account=r.optional(Tag.ACCOUNT),
        symbol=r.required(Tag.SYMBOL),
        side=side,
        ord_type=ord_type,
        time_in_force=tif,
        quantity=r.decimal(Tag.ORDER_QTY, required=True),
        # a pegged order's Price is its optional cap
        price=r.decimal(Tag.PRICE, required=needs_price) if needs_price or pegged else "",
        stop_px=r.decimal(Tag.STOP_PX, required=needs_stop) if needs_stop else "",
        expire_time=r.timestamp(Tag.EXPIRE_TIME) if tif == TIF_GTD else None,
        venue=r.optional(Tag.EX_DESTINATION),
        poss_dup=poss_dup,
        max_floor=r.decimal(Tag.MAX_FLOOR, required=False),
        peg_type=_peg_type(r) if pegged else c.PEG_TYPE_UNSPECIFIED,
        peg_offset=_peg_offset(r, side) if pegged else "",
    )


def _peg_type(r: _Reader) -> c.PegType.ValueType:
    """The one peg among the ExecInst (18) instructions of an OrdType P order."""
    pegs = [
        PEG_FROM_EXEC_INST[i] for i in r.required(Tag.EXEC_INST).split() if i in PEG_FROM_EXEC_INST
    ]
    if len(pegs) != 1:
        raise BadField(Tag.EXEC_INST, Problem.VALUE)
    return pegs[0]


def _peg_offset(r: _Reader, side: str) -> str:
    """PegOffsetValue (211) is signed and added to the peg price; the API's peg_offset is
    a distance on the passive side, so a buy's -0.02 is 0.02 and a sell's 0.02 is 0.02
    (a buy's positive offset comes out negative, and the OMS refuses it naming peg_offset)."""
    value = r.decimal(Tag.PEG_OFFSET_VALUE, required=False)
    if not value:
        return ""
    offset = Decimal(value)
    if SIDE_FROM_FIX[side] == c.SIDE_BUY:
        offset = -offset
    return str(offset + 0)  # + 0 drops the sign of a negated zero


def _replace(r: _Reader, poss_dup: bool) -> ReplaceRequest:
    ref = r.amended_order_ref()
    quantity = r.decimal(Tag.ORDER_QTY, required=False)
    price = r.decimal(Tag.PRICE, required=False)
    if not quantity and not price:
        raise BadField(Tag.ORDER_QTY, Problem.MISSING)
    return ReplaceRequest(ref, quantity, price)


def _mass_cancel(r: _Reader, poss_dup: bool) -> MassCancelRequest:
    request_type = r.required(Tag.MASS_CANCEL_REQUEST_TYPE)
    symbol = r.optional(Tag.SYMBOL)
    if request_type == MASS_CANCEL_SYMBOL and not symbol:
        raise BadField(Tag.SYMBOL, Problem.MISSING)
    return MassCancelRequest(
        cl_ord_id=r.required(Tag.CL_ORD_ID),
        request_type=request_type,
        account=r.optional(Tag.ACCOUNT),
        symbol=symbol if request_type in MASS_CANCEL_TYPES else "",
        side=r.side(required=False),
    )


_READERS: Final[dict[str, Callable[[_Reader, bool], Request]]] = {
    MsgType.NEW_ORDER_SINGLE: _new_order,
    MsgType.ORDER_CANCEL_REQUEST: lambda r, _: CancelRequest(r.amended_order_ref()),
    MsgType.ORDER_CANCEL_REPLACE_REQUEST: _replace,
    MsgType.ORDER_STATUS_REQUEST: lambda r, _: StatusRequest(r.order_ref()),
    MsgType.ORDER_MASS_CANCEL_REQUEST: _mass_cancel,
}
