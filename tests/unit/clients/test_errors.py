"""From a failed gRPC call to a typed OmsError with its rich status details."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from clients.sdk import errors as e


class FailedCall(grpc.RpcError):
    """A stand-in for grpc.aio.AioRpcError: code, details, trailing metadata."""

    def __init__(self, code: grpc.StatusCode, message: str, *details: object) -> None:
        self._code = code
        self._message = message
        packed = []
        for detail in details:
            wrapper = any_pb2.Any()
            wrapper.Pack(detail)  # type: ignore[arg-type]
            packed.append(wrapper)
        status = status_pb2.Status(code=code.value[0], message=message, details=packed)
        self._metadata = ((e.STATUS_DETAILS_KEY, status.SerializeToString()),)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self._metadata


def bad_request(*violations: tuple[str, str]) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
            for f, d in violations
        ]
    )


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, e.InvalidArgument),
        (grpc.StatusCode.NOT_FOUND, e.NotFound),
        (grpc.StatusCode.ALREADY_EXISTS, e.AlreadyExists),
        (grpc.StatusCode.FAILED_PRECONDITION, e.FailedPrecondition),
        (grpc.StatusCode.PERMISSION_DENIED, e.PermissionDenied),
        (grpc.StatusCode.UNAUTHENTICATED, e.Unauthenticated),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, e.ResourceExhausted),
        (grpc.StatusCode.UNAVAILABLE, e.Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, e.DeadlineExceeded),
        (grpc.StatusCode.UNIMPLEMENTED, e.Unimplemented),
        (grpc.StatusCode.INTERNAL, e.OmsError),
    ],
)
def test_each_status_code_maps_to_its_error_type(
    code: grpc.StatusCode, error_type: type[e.OmsError]
) -> None:
    error = e.from_rpc_error(FailedCall(code, "no"))
    assert type(error) is error_type
    assert error.code == code
    assert isinstance(error, e.OmsError)


def test_reason_and_field_violations_come_from_the_details() -> None:
    call = FailedCall(
        grpc.StatusCode.INVALID_ARGUMENT,
        "quantity: must be greater than zero",
        error_details_pb2.ErrorInfo(reason="INVALID_FIELD", domain="oms.v1"),
        bad_request(("quantity", "must be greater than zero")),
    )
    error = e.from_rpc_error(call)
    assert isinstance(error, e.InvalidArgument)
    assert error.reason == "INVALID_FIELD"
    assert error.field_violations == [("quantity", "must be greater than zero")]
    assert [type(d) for d in error.details] == [
        error_details_pb2.ErrorInfo,
        error_details_pb2.BadRequest,
    ]


def test_every_error_prints_with_the_fixed_prefix() -> None:
    info = error_details_pb2.ErrorInfo(reason="ORDER_NOT_FOUND")
    error = e.from_rpc_error(FailedCall(grpc.StatusCode.NOT_FOUND, "order x not found", info))
    assert str(error) == "oms-client: NOT_FOUND ORDER_NOT_FOUND: order x not found"
    bare = e.from_rpc_error(FailedCall(grpc.StatusCode.UNAVAILABLE, ""))
    assert str(bare) == "oms-client: UNAVAILABLE: UNAVAILABLE"


def test_missing_or_garbled_details_leave_reason_and_violations_empty() -> None:
    call = FailedCall(grpc.StatusCode.INVALID_ARGUMENT, "bad")
    call._metadata = ((e.STATUS_DETAILS_KEY, b"\xff\xff not a status"),)
    error = e.from_rpc_error(call)
    assert (error.reason, error.field_violations, error.details) == ("", [], ())


def test_unknown_detail_types_stay_packed() -> None:
    detail = status_pb2.Status(code=1)
    error = e.from_rpc_error(FailedCall(grpc.StatusCode.ABORTED, "x", detail))
    assert isinstance(error.details[0], any_pb2.Any)


def test_a_duplicate_client_order_id_has_its_own_type_with_the_order_and_term() -> None:
    info = error_details_pb2.ErrorInfo(
        reason="DUPLICATE_CLIENT_ORDER_ID", metadata={"order_id": "o1", "term": "symbol"}
    )
    error = e.from_rpc_error(FailedCall(grpc.StatusCode.ALREADY_EXISTS, "taken", info))
    assert isinstance(error, e.DuplicateClientOrderId) and isinstance(error, e.AlreadyExists)
    assert (error.order_id, error.term) == ("o1", "symbol")
    assert str(error) == "oms-client: ALREADY_EXISTS DUPLICATE_CLIENT_ORDER_ID: taken"


def test_a_reason_under_an_unexpected_code_keeps_the_codes_type() -> None:
    info = error_details_pb2.ErrorInfo(reason="DUPLICATE_CLIENT_ORDER_ID")
    error = e.from_rpc_error(FailedCall(grpc.StatusCode.INTERNAL, "odd", info))
    assert type(error) is e.OmsError
