"""FIX 4.4 order messages as jspurefix bodies (field names of its FIX 4.4 dictionary)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.support.fix_client import FixMessage

#: ExecutionReport tags the tests read.
ORDER_ID, CL_ORD_ID, ORIG_CL_ORD_ID, EXEC_ID, EXEC_TYPE, ORD_STATUS = 37, 11, 41, 17, 150, 39
LAST_QTY, LAST_PX, LAST_MKT, CUM_QTY, LEAVES_QTY, AVG_PX, TEXT = 32, 31, 30, 14, 151, 6, 58
ORD_REJ_REASON, CXL_REJ_REASON, CXL_REJ_RESPONSE_TO, OMS_SEQUENCE = 103, 102, 434, 5001
POSS_DUP_FLAG, MSG_SEQ_NUM, ACCOUNT = 43, 34, 1


def now() -> str:
    return datetime.now(UTC).isoformat()


def new_order(
    cl_ord_id: str,
    quantity: int | str,
    price: str | None = "190.00",
    *,
    side: str = "1",
    symbol: str = "AAPL",
    ord_type: str | None = None,
    tif: str = "0",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ClOrdID": cl_ord_id,
        "Side": side,
        "TransactTime": now(),
        "OrdType": ord_type or ("2" if price is not None else "1"),
        "TimeInForce": tif,
        "Instrument": {"Symbol": symbol},
        "OrderQtyData": {"OrderQty": str(quantity)},
    }
    if price is not None:
        body["Price"] = price
    return body | extra


def cancel(
    cl_ord_id: str, orig: str, *, side: str = "1", symbol: str = "AAPL", **extra: Any
) -> dict[str, Any]:
    return {
        "ClOrdID": cl_ord_id,
        "OrigClOrdID": orig,
        "Side": side,
        "TransactTime": now(),
        "Instrument": {"Symbol": symbol},
    } | extra


def replace(
    cl_ord_id: str,
    orig: str,
    quantity: int | str,
    price: str,
    *,
    side: str = "1",
    symbol: str = "AAPL",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "ClOrdID": cl_ord_id,
        "OrigClOrdID": orig,
        "Side": side,
        "TransactTime": now(),
        "OrdType": "2",
        "Price": price,
        "Instrument": {"Symbol": symbol},
        "OrderQtyData": {"OrderQty": str(quantity)},
    } | extra


def status(cl_ord_id: str, *, side: str = "1", symbol: str = "AAPL") -> dict[str, Any]:
    return {"ClOrdID": cl_ord_id, "Side": side, "Instrument": {"Symbol": symbol}}


def mass_cancel(cl_ord_id: str, request_type: str = "7", **extra: Any) -> dict[str, Any]:
    return {
        "ClOrdID": cl_ord_id,
        "MassCancelRequestType": request_type,
        "TransactTime": now(),
    } | extra


def reports_for(messages: list[FixMessage], cl_ord_id: str) -> list[FixMessage]:
    """The ExecutionReports about ``cl_ord_id`` (its own, or as a request's OrigClOrdID)."""
    return [
        m
        for m in messages
        if m.msg_type == "8" and cl_ord_id in (m.get(CL_ORD_ID), m.get(ORIG_CL_ORD_ID))
    ]


def qty(message: FixMessage, tag: int) -> Decimal:
    return Decimal(message[tag])
