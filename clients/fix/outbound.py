"""Messages the gateway sends, built from the API's orders and reports.

An ``Outgoing`` is plain data (a message type and its body fields in order); the
session's sender thread turns it into a QuickFIX message. Header fields (CompIDs,
sequence numbers, SendingTime) are QuickFIX's.
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Final

from google.protobuf import timestamp_pb2

from clients.fix.inbound import MassCancelRequest, NewOrder, OrderRef
from clients.fix.protocol import (
    BUSINESS_REJECT_NOT_AUTHORIZED,
    EXEC_TYPE,
    EXEC_TYPE_ORDER_STATUS,
    EXEC_TYPE_RESTATED,
    NO_ORDER_ID,
    ORD_STATUS,
    ORD_STATUS_REJECTED,
    RESTATEMENT_OTHER,
    SIDE_TO_FIX,
    MsgType,
    Tag,
)
from protos.oms.v1 import common_pb2 as c
from protos.oms.v1 import order_pb2

Field = tuple[int, str]

#: States in which cum_qty + leaves_qty is the order's quantity.
_WORKING_STATES: Final = frozenset(
    {
        c.ORDER_STATE_PENDING_NEW,
        c.ORDER_STATE_NEW,
        c.ORDER_STATE_PARTIALLY_FILLED,
        c.ORDER_STATE_PENDING_CANCEL,
        c.ORDER_STATE_PENDING_REPLACE,
    }
)
#: OrdRejReason (103) 5: unknown order.
UNKNOWN_ORDER: Final = "5"
_GATEWAY_IDS: Final = itertools.count(1)
_RUN: Final = uuid.uuid4().hex[:8]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for a session: its type and body fields."""

    msg_type: str
    fields: tuple[Field, ...]

    def get(self, tag: int) -> str | None:
        return next((value for t, value in self.fields if t == tag), None)


@dataclass(frozen=True, slots=True)
class ReportIds:
    """What a report says about the request it answers (a cancel's or replace's ids)."""

    cl_ord_id: str
    orig_cl_ord_id: str = ""
    exec_type: str = ""
    ord_status: str = ""


def execution_report(
    report: order_pb2.ExecutionReport, ids: ReportIds, order_qty: str = ""
) -> Outgoing:
    """ExecutionReport (8) of one report of the stream, carrying its sequence (5001)."""
    exec_type = ids.exec_type or EXEC_TYPE[report.exec_type]
    restated = RESTATEMENT_OTHER if exec_type == EXEC_TYPE_RESTATED else ""
    fields: list[Field] = [
        (Tag.ORDER_ID, report.order_id),
        (Tag.CL_ORD_ID, ids.cl_ord_id),
        *_optional(Tag.ORIG_CL_ORD_ID, ids.orig_cl_ord_id),
        (Tag.EXEC_ID, report.exec_id),
        (Tag.EXEC_TYPE, exec_type),
        (Tag.ORD_STATUS, ids.ord_status or ORD_STATUS[report.order_state]),
        *_optional(Tag.EXEC_RESTATEMENT_REASON, restated),
        (Tag.ACCOUNT, report.account_id),
        (Tag.SYMBOL, report.symbol),
        (Tag.SIDE, SIDE_TO_FIX[report.side]),
        *_optional(Tag.ORDER_QTY, order_qty or working_quantity(report)),
        (Tag.LAST_QTY, report.last_qty or "0"),
        (Tag.LAST_PX, report.last_price or "0"),
        *_optional(Tag.LAST_MKT, report.last_venue),
        (Tag.CUM_QTY, report.cum_qty or "0"),
        (Tag.LEAVES_QTY, report.leaves_qty or "0"),
        (Tag.AVG_PX, report.avg_price or "0"),
        *_optional(Tag.TEXT, report.text),
        (Tag.TRANSACT_TIME, _utc_timestamp(report.transact_time)),
        (Tag.OMS_SEQUENCE, str(report.sequence)),
    ]
    return Outgoing(MsgType.EXECUTION_REPORT, tuple(fields))


def order_status(order: order_pb2.Order, cl_ord_id: str) -> Outgoing:
    """ExecutionReport (8) with ExecType I (order status), answering a status request."""
    fields: list[Field] = [
        (Tag.ORDER_ID, order.order_id),
        (Tag.CL_ORD_ID, cl_ord_id or order.client_order_id),
        *_optional(Tag.ORIG_CL_ORD_ID, "" if cl_ord_id == order.client_order_id else cl_ord_id),
        (Tag.EXEC_ID, gateway_id("S")),
        (Tag.EXEC_TYPE, EXEC_TYPE_ORDER_STATUS),
        (Tag.ORD_STATUS, ORD_STATUS[order.state]),
        (Tag.ACCOUNT, order.account_id),
        (Tag.SYMBOL, order.symbol),
        (Tag.SIDE, SIDE_TO_FIX[order.side]),
        (Tag.ORDER_QTY, order.quantity),
        *_optional(Tag.PRICE, order.limit_price),
        *_optional(Tag.STOP_PX, order.stop_price),
        (Tag.LAST_QTY, "0"),
        (Tag.LAST_PX, "0"),
        (Tag.CUM_QTY, order.cum_qty or "0"),
        (Tag.LEAVES_QTY, order.leaves_qty or "0"),
        (Tag.AVG_PX, order.avg_price or "0"),
        *_optional(Tag.TEXT, order.text),
        (Tag.TRANSACT_TIME, _utc_timestamp(order.update_time)),
    ]
    return Outgoing(MsgType.EXECUTION_REPORT, tuple(fields))


def unknown_order_status(ref: OrderRef, text: str) -> Outgoing:
    """ExecutionReport (8), ExecType I, OrdStatus 8: a status request for no known order."""
    fields: list[Field] = [
        (Tag.ORDER_ID, ref.order_id or NO_ORDER_ID),
        (Tag.CL_ORD_ID, ref.cl_ord_id),
        (Tag.EXEC_ID, gateway_id("S")),
        (Tag.EXEC_TYPE, EXEC_TYPE_ORDER_STATUS),
        (Tag.ORD_STATUS, ORD_STATUS_REJECTED),
        (Tag.ORD_REJ_REASON, UNKNOWN_ORDER),
        *_optional(Tag.ACCOUNT, ref.account),
        *_optional(Tag.SYMBOL, ref.symbol),
        *_optional(Tag.SIDE, ref.side),
        (Tag.LAST_QTY, "0"),
        (Tag.LAST_PX, "0"),
        (Tag.CUM_QTY, "0"),
        (Tag.LEAVES_QTY, "0"),
        (Tag.AVG_PX, "0"),
        (Tag.TEXT, text),
        (Tag.TRANSACT_TIME, _utc_now()),
    ]
    return Outgoing(MsgType.EXECUTION_REPORT, tuple(fields))


def order_rejected(order: NewOrder, account: str, reason: str, text: str) -> Outgoing:
    """ExecutionReport (8), OrdStatus 8: a NewOrderSingle the OMS refused; no order exists."""
    fields: list[Field] = [
        (Tag.ORDER_ID, NO_ORDER_ID),
        (Tag.CL_ORD_ID, order.cl_ord_id),
        (Tag.EXEC_ID, gateway_id("R")),
        (Tag.EXEC_TYPE, ORD_STATUS_REJECTED),
        (Tag.ORD_STATUS, ORD_STATUS_REJECTED),
        (Tag.ORD_REJ_REASON, reason),
        *_optional(Tag.ACCOUNT, account),
        (Tag.SYMBOL, order.symbol),
        (Tag.SIDE, order.side),
        (Tag.ORDER_QTY, order.quantity),
        (Tag.LAST_QTY, "0"),
        (Tag.LAST_PX, "0"),
        (Tag.CUM_QTY, "0"),
        (Tag.LEAVES_QTY, "0"),
        (Tag.AVG_PX, "0"),
        (Tag.TEXT, text),
        (Tag.TRANSACT_TIME, _utc_now()),
    ]
    return Outgoing(MsgType.EXECUTION_REPORT, tuple(fields))


def cancel_reject(
    ref: OrderRef,
    *,
    order_id: str,
    ord_status: str,
    response_to: str,
    reason: str,
    text: str,
    account: str = "",
) -> Outgoing:
    """OrderCancelReject (9) of a cancel (434=1) or replace (434=2)."""
    fields: list[Field] = [
        (Tag.ORDER_ID, order_id or NO_ORDER_ID),
        (Tag.CL_ORD_ID, ref.cl_ord_id),
        (Tag.ORIG_CL_ORD_ID, ref.orig_cl_ord_id or ref.cl_ord_id),
        (Tag.ORD_STATUS, ord_status),
        *_optional(Tag.ACCOUNT, account or ref.account),
        (Tag.CXL_REJ_RESPONSE_TO, response_to),
        (Tag.CXL_REJ_REASON, reason),
        (Tag.TEXT, text),
    ]
    return Outgoing(MsgType.ORDER_CANCEL_REJECT, tuple(fields))


def mass_cancel_report(
    request: MassCancelRequest,
    *,
    response: str,
    affected: int = 0,
    reject_reason: str = "",
    text: str = "",
) -> Outgoing:
    """OrderMassCancelReport (r): how many orders were asked to cancel, or why none."""
    fields: list[Field] = [
        (Tag.CL_ORD_ID, request.cl_ord_id),
        (Tag.ORDER_ID, gateway_id("M")),
        (Tag.MASS_CANCEL_REQUEST_TYPE, request.request_type),
        (Tag.MASS_CANCEL_RESPONSE, response),
        *_optional(Tag.MASS_CANCEL_REJECT_REASON, reject_reason),
        (Tag.TOTAL_AFFECTED_ORDERS, str(affected)),
        *_optional(Tag.SYMBOL, request.symbol),
        *_optional(Tag.SIDE, request.side),
        *_optional(Tag.TEXT, text),
    ]
    return Outgoing(MsgType.ORDER_MASS_CANCEL_REPORT, tuple(fields))


def not_authorized(ref_seq_num: str, ref_msg_type: str, text: str) -> Outgoing:
    """BusinessMessageReject (j), reason 6 (not authorized)."""
    fields: list[Field] = [
        (Tag.REF_SEQ_NUM, ref_seq_num),
        (Tag.REF_MSG_TYPE, ref_msg_type),
        (Tag.BUSINESS_REJECT_REASON, BUSINESS_REJECT_NOT_AUTHORIZED),
        (Tag.TEXT, text),
    ]
    return Outgoing(MsgType.BUSINESS_MESSAGE_REJECT, tuple(fields))


def gateway_id(kind: str) -> str:
    """A unique id for what the gateway itself answers (status, refusals, mass cancels)."""
    return f"{kind}{_RUN}{next(_GATEWAY_IDS)}"


def working_quantity(report: order_pb2.ExecutionReport) -> str:
    """cum + leaves while the order works (it is then the order's quantity); else ""."""
    if report.order_state not in _WORKING_STATES:
        return ""
    try:
        return format(Decimal(report.cum_qty or "0") + Decimal(report.leaves_qty or "0"), "f")
    except InvalidOperation:
        return ""


def _optional(tag: int, value: str) -> tuple[Field, ...]:
    return ((tag, value),) if value else ()


def _utc_timestamp(stamp: timestamp_pb2.Timestamp) -> str:
    if not stamp.seconds and not stamp.nanos:
        return _utc_now()
    return _format(stamp.ToDatetime(tzinfo=UTC))


def _utc_now() -> str:
    return _format(datetime.fromtimestamp(time.time(), UTC))


def _format(moment: datetime) -> str:
    """UTCTimestamp with milliseconds: YYYYMMDD-HH:MM:SS.sss."""
    return moment.strftime("%Y%m%d-%H:%M:%S.%f")[:-3]
