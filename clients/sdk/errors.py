"""Typed errors of the OMS client: one base class, one subclass per gRPC status code.

Every error prints with the fixed prefix ``oms-client: `` and carries the status code,
the ``google.rpc.ErrorInfo`` reason, the message and every unpacked status detail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2

#: Trailing-metadata key of the rich status (``google.rpc.Status``).
STATUS_DETAILS_KEY = "grpc-status-details-bin"
PREFIX = "oms-client: "

#: Detail messages the client unpacks; anything else stays a packed ``Any``.
_KNOWN_DETAILS: tuple[type[Message], ...] = (
    error_details_pb2.ErrorInfo,
    error_details_pb2.BadRequest,
    error_details_pb2.RetryInfo,
    error_details_pb2.PreconditionFailure,
    error_details_pb2.QuotaFailure,
    error_details_pb2.ResourceInfo,
    error_details_pb2.DebugInfo,
)


class OmsError(Exception):
    """Base of every error the OMS client raises; prints as ``oms-client: CODE reason: message``."""

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
        reason: str = "",
        details: tuple[Message, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.details = details

    @property
    def metadata(self) -> dict[str, str]:
        """The ``google.rpc.ErrorInfo`` metadata: machine-readable facts of the refusal."""
        for detail in self.details:
            if isinstance(detail, error_details_pb2.ErrorInfo):
                return dict(detail.metadata)
        return {}

    @property
    def field_violations(self) -> list[tuple[str, str]]:
        """(field, description) of every ``google.rpc.BadRequest`` violation."""
        return [
            (v.field, v.description)
            for d in self.details
            if isinstance(d, error_details_pb2.BadRequest)
            for v in d.field_violations
        ]

    def __str__(self) -> str:
        reason = f" {self.reason}" if self.reason else ""
        return f"{PREFIX}{self.code.name}{reason}: {self.message}"


class InvalidArgument(OmsError):
    """A request field is missing or malformed; see ``field_violations``."""


class NotFound(OmsError):
    """The order or account does not exist (or is not visible to the caller)."""


class AlreadyExists(OmsError):
    """The thing to create exists already."""


class DuplicateClientOrderId(AlreadyExists):
    """The client_order_id is taken by another order with other terms (a retry with the
    same terms would have answered that order): nothing was changed."""

    @property
    def order_id(self) -> str:
        """The order that holds the client_order_id."""
        return self.metadata.get("order_id", "")

    @property
    def term(self) -> str:
        """The first term of this request that differs from that order's (e.g. symbol)."""
        return self.metadata.get("term", "")


class FailedPrecondition(OmsError):
    """The request is well formed but the order or account state does not allow it."""


class PermissionDenied(OmsError):
    """The token may not act for this account or call."""


class Unauthenticated(OmsError):
    """The token is missing, malformed, expired or signed with another secret."""


class ResourceExhausted(OmsError):
    """A limit was hit (rate, message size, a slow stream consumer)."""


class Unavailable(OmsError):
    """The server cannot be reached or cannot take the request now."""


class DeadlineExceeded(OmsError):
    """The call did not finish within its deadline; its outcome is unknown."""


class Unimplemented(OmsError):
    """The server does not offer this RPC."""


ERROR_BY_CODE: dict[grpc.StatusCode, type[OmsError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
}


#: Refusals with a type of their own, by status code and ErrorInfo reason.
ERROR_BY_REASON: dict[tuple[grpc.StatusCode, str], type[OmsError]] = {
    (grpc.StatusCode.ALREADY_EXISTS, "DUPLICATE_CLIENT_ORDER_ID"): DuplicateClientOrderId,
}


def from_rpc_error(error: grpc.RpcError) -> OmsError:
    """The typed error for a failed call, with its rich status details unpacked."""
    code = _call_attr(error, "code", grpc.StatusCode.UNKNOWN)
    message = _call_attr(error, "details", "") or ""
    details = _details(_call_attr(error, "trailing_metadata", None))
    return _typed(code, message, details)


def from_status(code: int, message: str, details: Iterable[any_pb2.Any]) -> OmsError:
    """The typed error for a ``google.rpc.Status`` given by its fields (an OrderEntry
    refusal carries one), with its details unpacked."""
    status_code = _CODE_BY_NUMBER.get(code, grpc.StatusCode.UNKNOWN)
    return _typed(status_code, message, tuple(_unpack(d) for d in details))


#: grpc.StatusCode by its number (google.rpc.Code).
_CODE_BY_NUMBER: dict[int, grpc.StatusCode] = {c.value[0]: c for c in grpc.StatusCode}


def _typed(code: grpc.StatusCode, message: str, details: tuple[Message, ...]) -> OmsError:
    reason = next((d.reason for d in details if isinstance(d, error_details_pb2.ErrorInfo)), "")
    error_type = ERROR_BY_REASON.get((code, reason)) or ERROR_BY_CODE.get(code, OmsError)
    return error_type(message or code.name, code=code, reason=reason, details=details)


def _call_attr(error: grpc.RpcError, name: str, default: Any) -> Any:
    method = getattr(error, name, None)
    return method() if callable(method) else default


def _details(metadata: Any) -> tuple[Message, ...]:
    for key, value in metadata or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                status = status_pb2.Status.FromString(value)
            except DecodeError:
                return ()
            return tuple(_unpack(d) for d in status.details)
    return ()


def _unpack(packed: any_pb2.Any) -> Message:
    for detail_type in _KNOWN_DETAILS:
        # What Any.Is does, by name: Message.DESCRIPTOR is typed as either the Python or
        # the upb descriptor, and Is accepts only the first.
        if packed.TypeName() == detail_type.DESCRIPTOR.full_name:
            message = detail_type()
            packed.Unpack(message)
            return message
    return packed
