"""Bearer-token authentication: JWT (HS256) with claims sub, role and accounts.

Every RPC (streams included) except the standard health and reflection services is
authenticated by a wrapper put around its handler once, when services register; the
principal reaches the servicer through a context variable.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeAlias, cast

import grpc
import jwt
from opentelemetry import propagate, trace

from oms_server.api.admission import Admission
from oms_server.api.errors import abort
from oms_server.api.metrics import ApiMetrics, MethodCalls
from oms_server.domain.access import Principal, Role
from oms_server.domain.errors import (
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
)
from oms_server.telemetry import tracing_enabled

ALGORITHM = "HS256"
#: Lifetime of tokens issued by `oms token` unless told otherwise.
DEFAULT_TOKEN_TTL_S = 7 * 24 * 3600
#: Verified tokens remembered (each until it expires).
VERIFIED_TOKENS_KEPT = 10_000
#: Services callable without a token (probes and tooling).
PUBLIC_SERVICE_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

#: grpc.aio's context of a call; requests and responses are any method's messages.
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
#: A unary behavior under grpc.aio: a coroutine function of (request, context).
UnaryBehavior: TypeAlias = Callable[[Any, Context], Awaitable[Any]]
#: A server-streaming behavior as this API writes them: a coroutine that sends with
#: ``context.write`` and returns nothing.
StreamBehavior: TypeAlias = Callable[[Any, Context], Awaitable[None]]
#: A method handler of any RPC (generic in the stubs only, hence the quotes).
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"

_tracer = trace.get_tracer("oms.api")

_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "oms_principal", default=None
)


def issue_token(
    secret: str,
    subject: str,
    role: Role,
    accounts: Iterable[str] = (),
    *,
    ttl_s: int = DEFAULT_TOKEN_TTL_S,
) -> str:
    """A signed token for ``subject`` with ``role`` over ``accounts``."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role.value,
        "accounts": sorted(set(accounts)),
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _verify(secret: str, token: str) -> tuple[Principal, float]:
    """The principal of a valid token and when the token expires (Unix seconds)."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "role", "exp"]}
        )
        if not _is_number(claims["exp"]):
            raise UnauthenticatedError("token claim 'exp' must be a number (NumericDate)")
        role = Role(claims["role"])
        accounts = claims.get("accounts", [])
        if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
            raise UnauthenticatedError("token claim 'accounts' must be a list of account ids")
    except (jwt.PyJWTError, ValueError) as exc:
        raise UnauthenticatedError(f"invalid token: {exc}") from exc
    principal = Principal(subject=str(claims["sub"]), role=role, accounts=frozenset(accounts))
    return principal, float(claims["exp"])


def verify_token(secret: str, token: str) -> tuple[Principal, float]:
    """The principal of a valid token and when it expires (Unix seconds), as every RPC
    checks it; UnauthenticatedError, saying why, otherwise."""
    return _verify(secret, token)


def _is_number(value: object) -> bool:
    """True for a JSON number (RFC 7519 NumericDate); PyJWT alone also takes "123"."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def current_principal() -> Principal:
    """The caller of the RPC being served."""
    principal = _current.get()
    if principal is None:
        raise UnauthenticatedError("no authenticated caller")
    return principal


def require_account(account_id: str) -> Principal:
    """The caller, if it may act for ``account_id``; PermissionDeniedError otherwise."""
    principal = current_principal()
    if not principal.can_act_for(account_id):
        raise PermissionDeniedError(
            f"{principal.subject} may not act for account {account_id}",
            reason="ACCOUNT_NOT_PERMITTED",
        )
    return principal


def require_admin() -> Principal:
    principal = current_principal()
    if not principal.is_admin:
        raise PermissionDeniedError("this call needs the admin role", reason="ADMIN_ONLY")
    return principal


class Authenticator:
    """Authenticates `authorization: Bearer <JWT>` on every non-public RPC.

    Handlers are wrapped once, when services register (see ``AuthenticatingRegistrar``),
    rather than by a server interceptor, which gRPC would run as an extra coroutine and
    a new handler on every call.
    """

    def __init__(
        self, secret: str, admission: Admission | None = None, metrics: ApiMetrics | None = None
    ) -> None:
        self._secret = secret
        self.admission = admission or Admission()
        self.metrics = metrics or ApiMetrics()
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def wrap(self, method: str, handler: Handler) -> Handler:
        """``handler`` of the full ``method`` name with authentication in front of it."""
        if method.startswith(PUBLIC_SERVICE_PREFIXES):
            return _public(handler, self.admission, self.metrics, method)
        deserializer = _tolerant(handler.request_deserializer)
        unary, stream = _unary_behavior(handler), _stream_behavior(handler)
        if unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(unary, method),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(stream, method),
                request_deserializer=deserializer,
                response_serializer=_passing_bytes(handler.response_serializer),
            )
        bidi = _bidi_behavior(handler)
        if bidi is not None:
            return grpc.stream_stream_rpc_method_handler(
                # the same wrapper: one authentication and one stream slot for the
                # whole stream; the servicer checks each request's access
                self._wrap_stream(bidi, method),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # pragma: no cover - the API has no client-streaming RPCs

    def _authenticate(self, context: Context) -> Principal:
        headers = [v for k, v in (context.invocation_metadata() or ()) if k == "authorization"]
        if len(headers) > 1:
            raise UnauthenticatedError("more than one 'authorization' metadata entry")
        header = headers[0] if headers else ""
        if not isinstance(header, str) or not header.lower().startswith("bearer "):
            raise UnauthenticatedError("missing 'authorization: Bearer <token>' metadata")
        return self._principal_of(header[7:].strip())

    def _principal_of(self, token: str) -> Principal:
        """Verify a token once, then serve it from a bounded cache until it expires."""
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            self._verified.move_to_end(token)
            return cached[0]
        principal, expires = _verify(self._secret, token)
        self._verified[token] = (principal, expires)
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return principal

    def _wrap_unary(self, behavior: UnaryBehavior, method: str) -> UnaryBehavior:
        calls = self.metrics.method(method, "unary")

        async def wrapped(request: Any, context: Context) -> Any:
            started = time.perf_counter()
            ended = grpc.StatusCode.OK
            try:
                if isinstance(request, UndecodableRequest):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
                with _server_span(method, context):
                    try:
                        principal = self._authenticate(context)
                    except UnauthenticatedError as exc:
                        await context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.message)
                    token = _current.set(principal)
                    try:
                        with self.admission.call():
                            return await behavior(request, context)
                    except ResourceExhaustedError as exc:
                        await abort(context, exc)
                    finally:
                        _current.reset(token)
            except BaseException as exc:
                ended = _code_of_exception(exc)
                raise
            finally:
                calls.observe(_code_of(context, ended), time.perf_counter() - started)

        return wrapped

    def _wrap_stream(self, behavior: StreamBehavior, method: str) -> StreamBehavior:
        """A streaming handler written as a coroutine that sends with ``context.write``
        (server-streaming, or bidirectional: then ``request`` is the request iterator)."""
        calls = self.metrics.method(method, "stream")

        async def wrapped(request: Any, context: Context) -> None:
            started = time.perf_counter()
            ended = grpc.StatusCode.OK
            try:
                if isinstance(request, UndecodableRequest):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
                try:
                    principal = self._authenticate(context)
                except UnauthenticatedError as exc:
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.message)
                _current.set(principal)
                # Counted only now, authenticated: a stream with no valid token takes no slot.
                try:
                    with self.admission.stream(principal.subject, context.peer()):
                        await behavior(request, context)
                except ResourceExhaustedError as exc:
                    await abort(context, exc)
            except BaseException as exc:
                ended = _code_of_exception(exc)
                raise
            finally:
                calls.observe(_code_of(context, ended), time.perf_counter() - started)

        return wrapped


class AuthenticatingRegistrar:
    """Stands in for the server while services register, wrapping each handler once.

    The generated ``add_*Servicer_to_server`` functions (health's and reflection's too) call
    ``add_generic_rpc_handlers`` and then ``add_registered_method_handlers`` with the same
    methods. Only the generic handlers reach the server, every one behind the
    authenticator: see ``add_registered_method_handlers`` for why.
    """

    def __init__(self, server: grpc.aio.Server, authenticator: Authenticator) -> None:
        self._server = server
        self._auth = authenticator

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_AuthenticatedGeneric(h, self._auth) for h in handlers)
        )

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        """Not forwarded: the generic handlers already serve these methods, and cheaper.

        grpc.aio's server loop keeps one pending request per registered method and, for
        every call that arrives, runs ``asyncio.wait`` over all of them: each registered
        method costs every RPC. With our ~20 methods that was 7% of the server's GIL time
        under SubmitOrder load; with generic handlers only there is one pending request.
        """


class _AuthenticatedGeneric(grpc.GenericRpcHandler):
    """A generic handler whose method handlers are wrapped on first use, then reused."""

    def __init__(self, inner: grpc.GenericRpcHandler, authenticator: Authenticator) -> None:
        self._inner = inner
        self._auth = authenticator
        self._wrapped: dict[str, Handler | None] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        method = handler_call_details.method
        if method not in self._wrapped:
            handler = self._inner.service(handler_call_details)
            self._wrapped[method] = None if handler is None else self._auth.wrap(method, handler)
        return self._wrapped[method]


class UndecodableRequest:
    """Bytes that are not the RPC's request message (refused with INVALID_ARGUMENT)."""

    def __init__(self, error: Exception) -> None:
        self.message = f"the request is not a valid protobuf message of this RPC: {error}"


def _public(handler: Handler, admission: Admission, metrics: ApiMetrics, method: str) -> Handler:
    """A public (no token) handler: unary ones refuse undecodable bytes clearly and are
    never counted; streams (health Watch) have their own per-peer cap."""
    stream = _stream_behavior(handler)
    if stream is not None:
        return _public_stream(handler, stream, admission, metrics.method(method, "stream"))
    behavior = _unary_behavior(handler)
    if behavior is None:
        return handler  # reflection (bidirectional) keeps gRPC's own handling
    calls = metrics.method(method, "unary")

    async def checked(request: Any, context: Context) -> Any:
        started = time.perf_counter()
        ended = grpc.StatusCode.OK
        try:
            if isinstance(request, UndecodableRequest):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
            return await behavior(request, context)
        except BaseException as exc:
            ended = _code_of_exception(exc)
            raise
        finally:
            calls.observe(_code_of(context, ended), time.perf_counter() - started)

    return grpc.unary_unary_rpc_method_handler(
        checked,
        request_deserializer=_tolerant(handler.request_deserializer),
        response_serializer=handler.response_serializer,
    )


def _public_stream(
    handler: Handler, behavior: StreamBehavior, admission: Admission, calls: MethodCalls
) -> Handler:
    async def capped(request: Any, context: Context) -> None:
        started = time.perf_counter()
        ended = grpc.StatusCode.OK
        try:
            with admission.public_stream(context.peer()):
                await behavior(request, context)
        except ResourceExhaustedError as exc:
            await abort(context, exc)
        except BaseException as exc:
            ended = _code_of_exception(exc)
            raise
        finally:
            calls.observe(_code_of(context, ended), time.perf_counter() - started)

    return grpc.unary_stream_rpc_method_handler(
        capped,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _unary_behavior(handler: Handler) -> UnaryBehavior | None:
    # The grpc stubs type a handler's behaviors for the sync server; grpc.aio's are
    # coroutine functions taking its own context.
    return cast("UnaryBehavior | None", handler.unary_unary)


def _stream_behavior(handler: Handler) -> StreamBehavior | None:
    # As above; this API's streams are coroutines that write (see StreamBehavior).
    return cast("StreamBehavior | None", handler.unary_stream)


def _bidi_behavior(handler: Handler) -> StreamBehavior | None:
    # As above: a coroutine of (request iterator, context) that sends with context.write.
    return cast("StreamBehavior | None", handler.stream_stream)


def _passing_bytes(serialize: Callable[[Any], bytes] | None) -> Callable[[Any], bytes] | None:
    """A stream serializer that sends already-serialized messages (bytes) as they are."""
    if serialize is None:
        return None

    def encode(message: Any) -> bytes:
        return message if isinstance(message, bytes) else serialize(message)

    return encode


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """A deserializer that hands undecodable bytes on as UndecodableRequest, not INTERNAL."""
    if deserialize is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as exc:
            return UndecodableRequest(exc)

    return decode


def _code_of(context: Context, ended: grpc.StatusCode) -> grpc.StatusCode:
    """The code a call ended with: the one set (by an abort), else ``ended``."""
    # grpc.aio's code() is None until a code is set; the stubs say it never is.
    code = cast("grpc.StatusCode | None", context.code())
    return ended if code is None else code


def _code_of_exception(exc: BaseException) -> grpc.StatusCode:
    """The status of a call that raised ``exc`` without setting one (an abort sets it)."""
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


def _server_span(method: str, context: Context) -> contextlib.AbstractContextManager[object]:
    """A server span for an RPC, joined to the caller's trace (W3C traceparent metadata)."""
    if not tracing_enabled():
        return contextlib.nullcontext()
    carrier = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
    return _tracer.start_as_current_span(
        method, context=propagate.extract(carrier), kind=trace.SpanKind.SERVER
    )
