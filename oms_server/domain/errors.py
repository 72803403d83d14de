"""Domain errors. Every error the OMS raises derives from OmsError.

The gRPC edge maps each subclass to one status code in one table
(oms_server/api/errors.py); the domain never mentions status codes.
"""

from __future__ import annotations

from collections.abc import Mapping


class OmsError(Exception):
    """Base class of every OMS error; prints with a fixed prefix."""

    #: A stable machine-readable reason, e.g. ORDER_NOT_CANCELABLE.
    reason: str = "OMS_ERROR"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        #: Machine-readable facts about the refusal (sent as ErrorInfo metadata).
        self.metadata: dict[str, str] = dict(metadata or {})

    def __str__(self) -> str:
        return f"oms: {self.message}"


class ValidationError(OmsError):
    """A request field is missing or malformed; names the offending field."""

    reason = "INVALID_FIELD"

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


class NotFoundError(OmsError):
    reason = "NOT_FOUND"


class AlreadyExistsError(OmsError):
    reason = "ALREADY_EXISTS"


class FailedPreconditionError(OmsError):
    """The request is well formed but the order or account state does not allow it."""

    reason = "FAILED_PRECONDITION"


class IllegalTransitionError(FailedPreconditionError):
    """An order state change that the transition table does not allow."""

    reason = "ILLEGAL_TRANSITION"


class OutOfRangeError(OmsError):
    """A position past the end of what exists (e.g. a sequence past an account's head)."""

    reason = "OUT_OF_RANGE"


class PermissionDeniedError(OmsError):
    reason = "PERMISSION_DENIED"


class UnauthenticatedError(OmsError):
    reason = "UNAUTHENTICATED"


class ResourceExhaustedError(OmsError):
    reason = "RESOURCE_EXHAUSTED"


class UnavailableError(OmsError):
    """The service cannot take the request now (shutting down, overloaded)."""

    reason = "UNAVAILABLE"
