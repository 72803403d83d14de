"""The FIX 4.4 vocabulary of the gateway: tag numbers and the value maps to and from oms.v1.

One home for what a FIX character means in the API: every other module of the gateway
reads these tables. Only the values the gateway supports are listed; any other value of
a mapped tag is refused, naming the tag.
"""

from __future__ import annotations

from typing import Final

from protos.oms.v1 import common_pb2 as c

BEGIN_STRING: Final = "FIX.4.4"
#: The CompID the gateway answers as (the clients' TargetCompID).
GATEWAY_COMP_ID: Final = "OMS"


class Tag:
    """FIX 4.4 tag numbers used by the gateway."""

    ACCOUNT = 1
    AVG_PX = 6
    BEGIN_STRING = 8
    BODY_LENGTH = 9
    CHECK_SUM = 10
    CL_ORD_ID = 11
    CUM_QTY = 14
    EXEC_ID = 17
    LAST_MKT = 30
    LAST_PX = 31
    LAST_QTY = 32
    MSG_SEQ_NUM = 34
    MSG_TYPE = 35
    ORDER_ID = 37
    ORDER_QTY = 38
    ORD_STATUS = 39
    ORD_TYPE = 40
    ORIG_CL_ORD_ID = 41
    POSS_DUP_FLAG = 43
    PRICE = 44
    REF_SEQ_NUM = 45
    SENDER_COMP_ID = 49
    SENDING_TIME = 52
    SIDE = 54
    SYMBOL = 55
    TARGET_COMP_ID = 56
    TEXT = 58
    TIME_IN_FORCE = 59
    TRANSACT_TIME = 60
    POSS_RESEND = 97
    ENCRYPT_METHOD = 98
    STOP_PX = 99
    EX_DESTINATION = 100
    CXL_REJ_REASON = 102
    ORD_REJ_REASON = 103
    HEART_BT_INT = 108
    #: MaxFloor: the most of the order shown at once (an iceberg's display quantity).
    MAX_FLOOR = 111
    #: ExecInst: for OrdType P, the peg (M mid-price, P market, R primary).
    EXEC_INST = 18
    #: PegOffsetValue: a pegged order's signed offset, added to the peg price.
    PEG_OFFSET_VALUE = 211
    EXPIRE_TIME = 126
    ORIG_SENDING_TIME = 122
    RESET_SEQ_NUM_FLAG = 141
    LEAVES_QTY = 151
    USERNAME = 553
    PASSWORD = 554
    BUSINESS_REJECT_REF_ID = 379
    BUSINESS_REJECT_REASON = 380
    REF_MSG_TYPE = 372
    CXL_REJ_RESPONSE_TO = 434
    MASS_CANCEL_REQUEST_TYPE = 530
    MASS_CANCEL_RESPONSE = 531
    MASS_CANCEL_REJECT_REASON = 532
    TOTAL_AFFECTED_ORDERS = 533
    EXEC_TYPE = 150
    EXEC_RESTATEMENT_REASON = 378
    #: User-defined (5000-9999): the OMS's per-account sequence of the report in this
    #: ExecutionReport. Clients may ignore it; the gateway finds its stream cursor in it.
    OMS_SEQUENCE = 5001


class MsgType:
    """FIX 4.4 message types (35) the gateway reads or writes."""

    HEARTBEAT = "0"
    LOGON = "A"
    LOGOUT = "5"
    REJECT = "3"
    EXECUTION_REPORT = "8"
    ORDER_CANCEL_REJECT = "9"
    NEW_ORDER_SINGLE = "D"
    ORDER_CANCEL_REQUEST = "F"
    ORDER_CANCEL_REPLACE_REQUEST = "G"
    ORDER_STATUS_REQUEST = "H"
    BUSINESS_MESSAGE_REJECT = "j"
    ORDER_MASS_CANCEL_REQUEST = "q"
    ORDER_MASS_CANCEL_REPORT = "r"


#: The order messages a session may send (anything else of the application layer is
#: answered with BusinessMessageReject, reason 3 unsupported message type).
ORDER_MESSAGES: Final = frozenset(
    {
        MsgType.NEW_ORDER_SINGLE,
        MsgType.ORDER_CANCEL_REQUEST,
        MsgType.ORDER_CANCEL_REPLACE_REQUEST,
        MsgType.ORDER_STATUS_REQUEST,
        MsgType.ORDER_MASS_CANCEL_REQUEST,
    }
)

SIDE_FROM_FIX: Final[dict[str, c.Side.ValueType]] = {"1": c.SIDE_BUY, "2": c.SIDE_SELL}
SIDE_TO_FIX: Final = {v: k for k, v in SIDE_FROM_FIX.items()}

#: OrdType (40) -> (order type, needs Price (44), needs StopPx (99)).
ORD_TYPE_FROM_FIX: Final[dict[str, tuple[c.OrderType.ValueType, bool, bool]]] = {
    "1": (c.ORDER_TYPE_MARKET, False, False),
    "2": (c.ORDER_TYPE_LIMIT, True, False),
    "3": (c.ORDER_TYPE_STOP, False, True),
    "4": (c.ORDER_TYPE_STOP_LIMIT, True, True),
    "J": (c.ORDER_TYPE_MARKET_IF_TOUCHED, False, True),
    "P": (c.ORDER_TYPE_PEGGED, False, False),
}
#: OrdType P (pegged): Price (44) is an optional cap.
ORD_TYPE_PEGGED: Final = "P"
#: ExecInst (18) values that name the peg of OrdType P (FIX 4.4 has no PegPriceType).
PEG_FROM_EXEC_INST: Final[dict[str, c.PegType.ValueType]] = {
    "M": c.PEG_TYPE_MIDPOINT,
    "P": c.PEG_TYPE_MARKET,
    "R": c.PEG_TYPE_PRIMARY,
}

#: TimeInForce (59); GTD needs ExpireTime (126). FIX's default when absent is DAY.
TIF_FROM_FIX: Final[dict[str, c.TimeInForce.ValueType]] = {
    "0": c.TIME_IN_FORCE_DAY,
    "1": c.TIME_IN_FORCE_GTC,
    "3": c.TIME_IN_FORCE_IOC,
    "4": c.TIME_IN_FORCE_FOK,
    "6": c.TIME_IN_FORCE_GTD,
}
TIF_DEFAULT: Final = "0"
TIF_GTD: Final = "6"

#: OrdStatus (39) of each order state. The ExecutionReport of a replace the session asked
#: for carries the replacing order's status; a replaced order seen on its own (a drop
#: copy) is 5, which FIX 4.4 keeps as "Replaced (no longer used)".
ORD_STATUS: Final[dict[c.OrderState.ValueType, str]] = {
    c.ORDER_STATE_PENDING_NEW: "A",
    c.ORDER_STATE_NEW: "0",
    c.ORDER_STATE_PARTIALLY_FILLED: "1",
    c.ORDER_STATE_FILLED: "2",
    c.ORDER_STATE_PENDING_CANCEL: "6",
    c.ORDER_STATE_CANCELED: "4",
    c.ORDER_STATE_PENDING_REPLACE: "E",
    c.ORDER_STATE_REPLACED: "5",
    c.ORDER_STATE_REJECTED: "8",
    c.ORDER_STATE_EXPIRED: "C",
}
ORD_STATUS_REJECTED: Final = "8"

#: ExecType (150) of each kind of report. Refused cancels and replaces are not
#: ExecutionReports in FIX 4.4 but OrderCancelReject (9): see CANCEL_REJECT_RESPONSE_TO.
#: FIX 4.4 has no "triggered" ExecType (FIX 5.0 SP1 added L): a fired trigger (stop,
#: if-touched, trailing) is sent as D Restated, with ExecRestatementReason (378) 99 Other
#: and the trigger price in Text, so the order's status is restated unchanged. A list
#: member's terms changed by its list (EXEC_TYPE_RESTATED) go the same way.
EXEC_TYPE: Final[dict[c.ExecType.ValueType, str]] = {
    c.EXEC_TYPE_PENDING_NEW: "A",
    c.EXEC_TYPE_NEW: "0",
    c.EXEC_TYPE_TRADE: "F",
    c.EXEC_TYPE_PENDING_CANCEL: "6",
    c.EXEC_TYPE_CANCELED: "4",
    c.EXEC_TYPE_PENDING_REPLACE: "E",
    c.EXEC_TYPE_REPLACED: "5",
    c.EXEC_TYPE_REJECTED: "8",
    c.EXEC_TYPE_EXPIRED: "C",
    c.EXEC_TYPE_TRIGGERED: "D",
    c.EXEC_TYPE_RESTATED: "D",  # a BRACKET exit grown to its entry's fill, also 378=99
}
EXEC_TYPE_RESTATED: Final = "D"
#: ExecRestatementReason (378), required with ExecType D: 99 Other (a trigger fired).
RESTATEMENT_OTHER: Final = "99"
EXEC_TYPE_REPLACED: Final = "5"
EXEC_TYPE_ORDER_STATUS: Final = "I"

#: CxlRejResponseTo (434) of a refused cancel (1) or replace (2).
CANCEL_REJECT_RESPONSE_TO: Final[dict[c.ExecType.ValueType, str]] = {
    c.EXEC_TYPE_CANCEL_REJECTED: "1",
    c.EXEC_TYPE_REPLACE_REJECTED: "2",
}
RESPONSE_TO_CANCEL: Final = "1"
RESPONSE_TO_REPLACE: Final = "2"

#: MassCancelRequestType (530) the gateway supports: 1 one symbol, 7 everything.
MASS_CANCEL_SYMBOL: Final = "1"
MASS_CANCEL_ALL: Final = "7"
MASS_CANCEL_TYPES: Final = frozenset({MASS_CANCEL_SYMBOL, MASS_CANCEL_ALL})
#: MassCancelResponse (531) 0: the request was rejected.
MASS_CANCEL_REJECTED: Final = "0"
#: MassCancelRejectReason (532) 0: mass cancel (of this kind) not supported; 99 other.
MASS_CANCEL_NOT_SUPPORTED: Final = "0"
MASS_CANCEL_OTHER: Final = "99"

#: BusinessRejectReason (380) 6: not authorized (order messages on a drop copy).
BUSINESS_REJECT_NOT_AUTHORIZED: Final = "6"

#: OrderID (37) of a refusal that made no order.
NO_ORDER_ID: Final = "NONE"
