"""One table from domain errors to gRPC status codes, with rich error details.

Every error leaves with ``google.rpc.ErrorInfo`` (a stable reason) and, for
invalid fields, ``google.rpc.BadRequest`` naming the field.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from oms_server.domain import errors as e

log = logging.getLogger(__name__)

ERROR_DOMAIN = "oms.v1"

STATUS_BY_ERROR: tuple[tuple[type[e.OmsError], grpc.StatusCode], ...] = (
    (e.ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
    (e.NotFoundError, grpc.StatusCode.NOT_FOUND),
    (e.AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (e.FailedPreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (e.OutOfRangeError, grpc.StatusCode.OUT_OF_RANGE),
    (e.PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (e.UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
    (e.ResourceExhaustedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (e.UnavailableError, grpc.StatusCode.UNAVAILABLE),
)


def status_code_of(error: e.OmsError) -> grpc.StatusCode:
    for error_type, code in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.INTERNAL


def to_status(error: e.OmsError) -> grpc.Status:
    """The gRPC status for a domain error, with ErrorInfo and BadRequest details."""
    return rpc_status.to_status(status_message(error))


def status_message(error: e.OmsError) -> status_pb2.Status:
    """The ``google.rpc.Status`` of a domain error, as ``to_status`` sends it."""
    code = status_code_of(error)
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata
    )
    details = [_pack(info)]
    if isinstance(error, e.ValidationError):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.description
        )
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    return status_pb2.Status(
        code=code_pb2.Code.Value(code.name), message=error.message, details=details
    )


async def abort(context: grpc.aio.ServicerContext, error: e.OmsError) -> NoReturn:
    await context.abort_with_status(to_status(error))
    raise AssertionError("unreachable")  # pragma: no cover


S = TypeVar("S")
Q = TypeVar("Q")
R = TypeVar("R")
C = TypeVar("C", bound="grpc.aio.ServicerContext[Any, Any]")


def rpc_errors(
    method: Callable[[S, Q, C], Awaitable[R]],
) -> Callable[[S, Q, C], Coroutine[Any, Any, R]]:
    """Turn domain errors of a servicer method into their gRPC status.

    For unary methods, and for streaming ones written as coroutines that send with
    ``context.write`` (one coroutine per call, no async generator per message).
    """

    @functools.wraps(method)
    async def wrapper(self: S, request: Q, context: C) -> R:
        try:
            return await method(self, request, context)
        except e.OmsError as error:
            await abort(context, error)
        except Exception:
            log.exception("unexpected error in %s", method.__qualname__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")

    return wrapper


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
