"""One table from the OMS's refusals (gRPC status, ErrorInfo reason, field) to FIX codes.

A refused NewOrderSingle becomes an ExecutionReport with OrdRejReason (103); a refused
cancel or replace an OrderCancelReject with CxlRejReason (102). The first row that
matches a refusal decides; a refusal no row names is 99 (other), its text still says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import grpc

from clients.sdk.errors import OmsError

S = grpc.StatusCode

#: OrdRejReason (103) and CxlRejReason (102) 99: other.
OTHER: Final = "99"


@dataclass(frozen=True, slots=True)
class RefusalRow:
    """A kind of refusal and its FIX codes (None: this kind does not happen there: 99)."""

    code: grpc.StatusCode
    reason: str = ""
    field: str = ""
    ord_rej_reason: str | None = None
    cxl_rej_reason: str | None = None

    def matches(self, error: OmsError) -> bool:
        if error.code is not self.code or (self.reason and error.reason != self.reason):
            return False
        return not self.field or any(f == self.field for f, _ in error.field_violations)


def _limit(reason: str) -> RefusalRow:
    """A pre-trade risk rule: the order exceeds a limit (OrdRejReason 3)."""
    return RefusalRow(S.FAILED_PRECONDITION, reason, ord_rej_reason="3", cxl_rej_reason=OTHER)


REFUSALS: Final[tuple[RefusalRow, ...]] = (
    # 6: duplicate order; 6: duplicate ClOrdID received (a replace's new ClOrdID).
    RefusalRow(
        S.ALREADY_EXISTS, "DUPLICATE_CLIENT_ORDER_ID", ord_rej_reason="6", cxl_rej_reason="6"
    ),
    RefusalRow(S.INVALID_ARGUMENT, field="symbol", ord_rej_reason="1"),  # unknown symbol
    RefusalRow(S.INVALID_ARGUMENT, field="quantity", ord_rej_reason="13"),  # incorrect quantity
    RefusalRow(S.FAILED_PRECONDITION, "MARKET_CLOSED", ord_rej_reason="2"),  # exchange closed
    _limit("RISK_MAX_ORDER_QUANTITY"),
    _limit("RISK_MAX_ORDER_NOTIONAL"),
    _limit("RISK_INSUFFICIENT_FUNDS"),
    _limit("RISK_INSUFFICIENT_POSITION"),
    _limit("RISK_PRICE_COLLAR"),
    _limit("RISK_ORDER_RATE"),
    RefusalRow(S.NOT_FOUND, "ACCOUNT_NOT_FOUND", ord_rej_reason="15"),  # unknown account
    RefusalRow(S.NOT_FOUND, "ORDER_NOT_FOUND", ord_rej_reason="5", cxl_rej_reason="1"),
    # 0: too late to cancel (the order is done); 3: already pending cancel or replace.
    RefusalRow(S.FAILED_PRECONDITION, "ORDER_NOT_WORKING", cxl_rej_reason="0"),
    RefusalRow(S.FAILED_PRECONDITION, "ORDER_NOT_CANCELABLE", cxl_rej_reason="3"),
    RefusalRow(S.FAILED_PRECONDITION, "ORDER_NOT_REPLACEABLE", cxl_rej_reason="3"),
)


def ord_rej_reason(error: OmsError) -> str:
    """OrdRejReason (103) of a refused order."""
    row = _row(error)
    return (row.ord_rej_reason if row else None) or OTHER


def cxl_rej_reason(error: OmsError) -> str:
    """CxlRejReason (102) of a refused cancel or replace."""
    row = _row(error)
    return (row.cxl_rej_reason if row else None) or OTHER


def refusal_text(error: OmsError) -> str:
    """Text (58) of a refusal: the reason and the OMS's message, with the field if any."""
    violations = "; ".join(f"{f}: {d}" for f, d in error.field_violations)
    reason = f"{error.reason}: " if error.reason else ""
    text = f"{reason}{error.message}"
    return f"{text} ({violations})" if violations and violations not in text else text


def _row(error: OmsError) -> RefusalRow | None:
    return next((row for row in REFUSALS if row.matches(error)), None)
