"""The refusal table: gRPC status, ErrorInfo reason and field -> FIX codes."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from clients.fix.refusals import cxl_rej_reason, ord_rej_reason, refusal_text
from clients.sdk.errors import OmsError

S = grpc.StatusCode


def refusal(code: grpc.StatusCode, reason: str = "", field: str = "") -> OmsError:
    details = ()
    if field:
        violation = error_details_pb2.BadRequest.FieldViolation(field=field, description="bad")
        details = (error_details_pb2.BadRequest(field_violations=[violation]),)
    return OmsError("refused", code=code, reason=reason, details=details)


@pytest.mark.parametrize(
    ("error", "ord_rej", "cxl_rej"),
    [
        (refusal(S.ALREADY_EXISTS, "DUPLICATE_CLIENT_ORDER_ID"), "6", "6"),
        (refusal(S.INVALID_ARGUMENT, "INVALID_FIELD", "symbol"), "1", "99"),
        (refusal(S.INVALID_ARGUMENT, "INVALID_FIELD", "quantity"), "13", "99"),
        (refusal(S.INVALID_ARGUMENT, "INVALID_FIELD", "venue"), "99", "99"),
        (refusal(S.FAILED_PRECONDITION, "MARKET_CLOSED"), "2", "99"),
        (refusal(S.FAILED_PRECONDITION, "RISK_MAX_ORDER_NOTIONAL"), "3", "99"),
        (refusal(S.FAILED_PRECONDITION, "RISK_INSUFFICIENT_FUNDS"), "3", "99"),
        (refusal(S.NOT_FOUND, "ORDER_NOT_FOUND"), "5", "1"),
        (refusal(S.FAILED_PRECONDITION, "ORDER_NOT_WORKING"), "99", "0"),
        (refusal(S.FAILED_PRECONDITION, "ORDER_NOT_CANCELABLE"), "99", "3"),
        (refusal(S.PERMISSION_DENIED, "ACCOUNT_NOT_PERMITTED"), "99", "99"),
        (refusal(S.UNAVAILABLE), "99", "99"),
    ],
)
def test_each_refusal_has_its_fix_codes(error: OmsError, ord_rej: str, cxl_rej: str) -> None:
    assert (ord_rej_reason(error), cxl_rej_reason(error)) == (ord_rej, cxl_rej)


def test_the_text_names_the_reason_and_the_field() -> None:
    text = refusal_text(refusal(S.INVALID_ARGUMENT, "INVALID_FIELD", "symbol"))
    assert text == "INVALID_FIELD: refused (symbol: bad)"
