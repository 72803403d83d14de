"""The front (`oms front`): the one public gRPC endpoint of a sharded OMS, holding no state.

Each call goes to the shard that owns it, over gRPC to the shard owner's loopback port,
the request and response passed on as bytes (parsed only to find the shard):

- a call naming an account (``account_id``) goes to the account's shard (ShardMap);
- a call naming an order (``order_id``) goes to the shard its order id names (order ids
  carry their shard: oms_server.domain.order_ids);
- market data (no account, no order) goes to any active shard: they all see every venue;
- Halt and Resume of all accounts, and ListVenues, go to every shard and are merged;
- ListShards is answered here, from the shards' announcements.

StreamExecutionReports is relayed message by message from the owning shard: the
account's sequences live there, so a client resumes across a failover exactly as it
would across a restart (the stream ends UNAVAILABLE, the SDK reopens it from its last
sequence and the front sends it to the new owner). A shard with no active owner holds
its calls up to ``SHARD_WAIT_S`` (a failover takes a second or two), then answers
UNAVAILABLE with reason SHARD_UNAVAILABLE naming the shard; the other shards answer
throughout. The front authenticates every call as the shards do (the shards check again:
they serve no one else, but trust no one).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from oms_server.api import mapping
from oms_server.api.auth import require_admin
from oms_server.api.errors import abort
from oms_server.api.server import (
    DEFAULT_GRACE_S,
    ServiceBinding,
    TlsFiles,
    add_services,
    bind_server,
    set_not_serving,
    set_serving,
)
from oms_server.domain.errors import OmsError, UnavailableError
from oms_server.domain.order_ids import shard_of_order_id
from oms_server.domain.shards import ShardMap
from oms_server.shards.announce import Announcement, ShardWatch
from oms_server.shards.entry import EntryRelay
from protos.oms.v1 import (
    account_service_pb2,
    admin_service_pb2,
    market_data_service_pb2,
    order_service_pb2,
)

log = logging.getLogger(__name__)

#: Seconds a call waits for its shard to have an active owner before UNAVAILABLE.
SHARD_WAIT_S = 2.0
#: Seconds between checks of whether any shard serves (the front's health).
HEALTH_CHECK_INTERVAL_S = 0.25
#: Metadata the front does not pass on: gRPC's own, and what the channel sets itself.
_NOT_FORWARDED = frozenset({"user-agent", "content-type", "te", "grpc-timeout"})
#: Trailing metadata key of a rich status: present when a shard answered the call.
_STATUS_DETAILS_KEY = "grpc-status-details-bin"
#: A channel of its own connections, so one shard's reconnect backoff is not another's.
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]

SERVICES = (
    order_service_pb2.DESCRIPTOR.services_by_name["OrderService"],
    account_service_pb2.DESCRIPTOR.services_by_name["AccountService"],
    market_data_service_pb2.DESCRIPTOR.services_by_name["MarketDataService"],
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"],
)
_MODULES = (order_service_pb2, account_service_pb2, market_data_service_pb2, admin_service_pb2)


class ShardUnavailableError(UnavailableError):
    """No process serves the shard a call needs (now); names the shard."""

    reason = "SHARD_UNAVAILABLE"


class Route(Enum):
    """Where the front sends a call."""

    #: The shard of the request's account_id.
    ACCOUNT = "account"
    #: The shard its order_id names.
    ORDER = "order"
    #: Any active shard.
    ANY = "any"
    #: The account's shard when account_id is set, else every shard (merged).
    ACCOUNT_OR_ALL = "account-or-all"
    #: Every shard, merged; shards without an owner are left out.
    ALL_AVAILABLE = "all-available"
    #: Answered by the front.
    FRONT = "front"
    #: OrderEntry: each request of the stream to its shard (oms_server.shards.entry).
    ENTRY = "entry"


#: Calls whose route is not read from their request's fields.
ROUTE_OVERRIDES = {
    "/oms.v1.AdminService/Halt": Route.ACCOUNT_OR_ALL,
    "/oms.v1.AdminService/Resume": Route.ACCOUNT_OR_ALL,
    "/oms.v1.AdminService/ListVenues": Route.ALL_AVAILABLE,
    "/oms.v1.AdminService/ListShards": Route.FRONT,
    "/oms.v1.OrderService/OrderEntry": Route.ENTRY,
}


@dataclass(frozen=True, slots=True)
class Method:
    """One RPC as the front handles it."""

    path: str
    request_type: type[Message]
    response_type: type[Message]
    route: Route
    streaming: bool
    client_streaming: bool = False


def methods() -> dict[str, Method]:
    """Every RPC of the public API, with its route: overridden, or by its request's fields
    (account_id first, then order_id, else any shard)."""
    table = {}
    for service, module in zip(SERVICES, _MODULES, strict=True):
        for rpc in service.methods:
            path = f"/{service.full_name}/{rpc.name}"
            request_type = getattr(module, rpc.input_type.name)
            fields = rpc.input_type.fields_by_name
            route = ROUTE_OVERRIDES.get(path) or (
                Route.ACCOUNT
                if "account_id" in fields
                else Route.ORDER
                if "order_id" in fields
                else Route.ANY
            )
            response_type = getattr(module, rpc.output_type.name)
            table[path] = Method(
                path,
                request_type,
                response_type,
                route,
                rpc.server_streaming,
                rpc.client_streaming,
            )
    return table


class _Relayed(Exception):
    """A shard's refusal, passed on to the caller as it came."""

    def __init__(self, error: grpc.aio.AioRpcError) -> None:
        super().__init__(error.details())
        self.code = error.code()
        self.details = error.details() or ""
        self.trailing = tuple(error.trailing_metadata() or ())


class Front:
    """The public endpoint of a sharded OMS. ``start`` binds and serves; ``stop`` ends it."""

    def __init__(
        self,
        addr: str,
        shard_map: ShardMap,
        watch: ShardWatch,
        auth_secret: str,
        *,
        tls: TlsFiles | None = None,
        shard_wait_s: float = SHARD_WAIT_S,
    ) -> None:
        self._addr = addr
        self._map = shard_map
        self._watch = watch
        self._secret = auth_secret
        self._tls = tls
        self._wait_s = shard_wait_s
        self._methods = methods()
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._any = itertools.cycle(shard_map.shard_ids)
        self._server: grpc.aio.Server | None = None
        self._health: Any = None
        self._serving: bool | None = None
        self._health_task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self._addr.rsplit(':', 1)[0]}:{self.port}"

    def bind(self) -> None:
        """Bind the public port (a second front on it stops here, before anything else)."""
        if self._server is None:
            self._server, self.port = bind_server(self._addr, tls=self._tls)

    async def start(self) -> None:
        self.bind()
        assert self._server is not None
        self._health = add_services(self._server, self._bindings(), auth_secret=self._secret)
        await self._server.start()
        await self._update_health()
        self._health_task = asyncio.create_task(self._watch_health(), name="front-health")
        log.info("front listening on %s for %d shards", self.address, len(self._map.shard_ids))

    async def stop(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await set_not_serving(self._health, self._service_names())
            await self._server.stop(grace_s)
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    # -- calls --------------------------------------------------------------------------

    async def unary(self, method: Method, request: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            if method.route is Route.FRONT:
                return self._list_shards().SerializeToString()
            shards = self._shards_of(method, request)
            if shards is None:
                return await self._forward(method, self._pick_any(), request, context)
            if method.path not in _MERGES:  # one account's or one order's shard
                return await self._forward(method, shards[0], request, context)
            replies = await self._fan_out(method, shards, request, context)
            return _MERGES[method.path](replies).SerializeToString()
        except _Relayed as refusal:
            await context.abort(refusal.code, refusal.details, refusal.trailing)
        except OmsError as error:
            await abort(context, error)

    async def stream(
        self, method: Method, request: bytes, context: grpc.aio.ServicerContext
    ) -> None:
        try:
            shards = self._shards_of(method, request)
            shard_id = self._pick_any() if shards is None else shards[0]
            owner = await self._active_owner(shard_id, context)
            relay: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = self._channel(
                owner
            ).unary_stream(method.path)
            call = relay(request, metadata=_forwarded(context), timeout=context.time_remaining())
            try:
                async for message in call:
                    await context.write(message)
            except grpc.aio.AioRpcError as error:
                raise self._refusal(error, shard_id, owner) from error
            finally:
                call.cancel()
        except _Relayed as refusal:
            await context.abort(refusal.code, refusal.details, refusal.trailing)
        except OmsError as error:
            await abort(context, error)

    async def entry(
        self, method: Method, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> None:
        """OrderEntry: relayed request by request to the shards (EntryRelay)."""
        owners: dict[int, Announcement] = {}

        async def open_upstream(shard_id: int) -> Any:
            owner = owners[shard_id] = await self._active_owner(shard_id, context)
            relay: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = self._channel(
                owner
            ).stream_stream(method.path)
            return relay(metadata=_forwarded(context))

        def broken(shard_id: int, error: grpc.aio.AioRpcError) -> None:
            if shard_id in owners:
                self._note_unreachable(error, owners[shard_id])

        relay = EntryRelay(
            method.request_type,
            method.response_type,
            self._map.shard_of,
            self._pick_any,
            open_upstream,
            broken,
        )
        try:
            await relay.run(requests, context.write)
        except OmsError as error:
            await abort(context, error)

    def _shards_of(self, method: Method, request: bytes) -> list[int] | None:
        """The shards a call goes to; None for any one (it names neither account nor a
        shard's order, or cannot be read: any shard answers that as well as another)."""
        route = method.route
        if route is Route.ALL_AVAILABLE:
            return list(self._map.shard_ids)
        try:
            message = method.request_type.FromString(request)
        except DecodeError:
            return None
        if route in (Route.ACCOUNT, Route.ACCOUNT_OR_ALL):
            account_id = getattr(message, "account_id", "")
            if account_id:
                return [self._map.shard_of(account_id)]
            return list(self._map.shard_ids) if route is Route.ACCOUNT_OR_ALL else None
        if route is Route.ORDER:
            shard_id = shard_of_order_id(getattr(message, "order_id", ""))
            return [shard_id] if shard_id is not None and shard_id in self._map.shard_ids else None
        return None

    def _pick_any(self) -> int:
        """An active shard, round robin (the next one in turn when none is active)."""
        for _ in self._map.shard_ids:
            shard_id = next(self._any)
            if self._watch.active_owner(shard_id) is not None:
                return shard_id
        return next(self._any)

    async def _fan_out(
        self,
        method: Method,
        shards: Sequence[int],
        request: bytes,
        context: grpc.aio.ServicerContext,
    ) -> list[Message]:
        """Each shard's reply; the first refusal in shard order if any refused (for
        ALL_AVAILABLE, shards without an owner are left out while one answers)."""
        if len(shards) == 1:
            reply = await self._forward(method, shards[0], request, context)
            return [method.response_type.FromString(reply)]
        outcomes = await asyncio.gather(
            *(self._forward(method, s, request, context) for s in shards), return_exceptions=True
        )
        replies = [method.response_type.FromString(o) for o in outcomes if isinstance(o, bytes)]
        failures = [o for o in outcomes if not isinstance(o, bytes)]
        partial_ok = method.route is Route.ALL_AVAILABLE and all(
            isinstance(f, ShardUnavailableError) for f in failures
        )
        if failures and not (partial_ok and replies):
            raise failures[0]
        return replies

    async def _forward(
        self, method: Method, shard_id: int, request: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        owner = await self._active_owner(shard_id, context)
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = self._channel(owner).unary_unary(
            method.path
        )
        try:
            reply: bytes = await call(
                request, metadata=_forwarded(context), timeout=context.time_remaining()
            )
        except grpc.aio.AioRpcError as error:
            raise self._refusal(error, shard_id, owner) from error
        return reply

    async def _active_owner(self, shard_id: int, context: grpc.aio.ServicerContext) -> Announcement:
        """The shard's active owner, waiting for one within the call's deadline."""
        owner = self._watch.active_owner(shard_id)
        if owner is not None:
            return owner
        left_s: float | None = context.time_remaining()
        wait_s = self._wait_s if left_s is None else min(self._wait_s, max(left_s - 0.05, 0))
        owner = await self._watch.wait_active(shard_id, wait_s)
        if owner is None:
            state = self._watch.info(shard_id).state
            raise ShardUnavailableError(
                f"shard {shard_id} is {state.value}: no process serves it now; retry shortly",
                metadata={"shard_id": str(shard_id), "state": state.value},
            )
        return owner

    def _refusal(
        self, error: grpc.aio.AioRpcError, shard_id: int, owner: Announcement
    ) -> Exception:
        """What to answer for a failed forward: the shard's own refusal as it came, or,
        when the shard could not be reached, SHARD_UNAVAILABLE naming it."""
        if self._note_unreachable(error, owner):
            return ShardUnavailableError(
                f"shard {shard_id} (pid {owner.pid}) did not answer: {error.details()}; "
                "retry shortly",
                metadata={"shard_id": str(shard_id), "state": "UNREACHABLE"},
            )
        return _Relayed(error)

    def _note_unreachable(self, error: grpc.aio.AioRpcError, owner: Announcement) -> bool:
        """True, and the owner is no longer routed to, if the call never reached it (an
        UNAVAILABLE from the transport, not a status the shard sent)."""
        trailing = error.trailing_metadata() or ()
        answered = any(key == _STATUS_DETAILS_KEY for key, _ in trailing)
        if error.code() is grpc.StatusCode.UNAVAILABLE and not answered:
            self._watch.unreachable(owner)
            return True
        return False

    def _channel(self, owner: Announcement) -> grpc.aio.Channel:
        channel = self._channels.get(owner.address)
        if channel is None:
            channel = grpc.aio.insecure_channel(owner.address, options=CHANNEL_OPTIONS)
            self._channels[owner.address] = channel
        return channel

    def _list_shards(self) -> admin_service_pb2.ListShardsResponse:
        require_admin()
        shards = [mapping.shard_message(self._watch.info(s)) for s in self._map.shard_ids]
        return admin_service_pb2.ListShardsResponse(shards=shards)

    # -- serving ------------------------------------------------------------------------

    def _bindings(self) -> list[ServiceBinding]:
        return [
            ServiceBinding(self, _registrar_of(service.full_name, self), service.full_name)
            for service in SERVICES
        ]

    def _service_names(self) -> list[str]:
        return [service.full_name for service in SERVICES]

    async def _watch_health(self) -> None:
        """SERVING while any shard has an active owner; drop channels of gone owners."""
        while True:
            await self._watch.wait_changed(HEALTH_CHECK_INTERVAL_S)
            await self._update_health()
            await self._close_unused_channels()

    async def _update_health(self) -> None:
        serving = any(self._watch.active_owner(s) is not None for s in self._map.shard_ids)
        if serving == self._serving:
            return
        self._serving = serving
        names = self._service_names()
        await (set_serving if serving else set_not_serving)(self._health, names)
        log.info("front: %s", "SERVING" if serving else "NOT_SERVING: no shard is active")

    async def _close_unused_channels(self) -> None:
        owners = {self._watch.owner(s) for s in self._map.shard_ids}
        addresses = {owner.address for owner in owners if owner is not None}
        for address in [a for a in self._channels if a not in addresses]:
            await self._channels.pop(address).close()


def _registrar_of(service: str, front: Front) -> Callable[[object, Any], None]:
    """Registers the front's handler of ``service``'s methods with a server (registrar)."""

    def register(_servicer: object, server: Any) -> None:
        server.add_generic_rpc_handlers((_ServiceHandler(service, front),))

    return register


class _ServiceHandler(grpc.GenericRpcHandler):
    """The handlers of one service's methods, bytes in and bytes out."""

    def __init__(self, service: str, front: Front) -> None:
        prefix = f"/{service}/"
        self._handlers = {
            path: _handler(front, method)
            for path, method in front._methods.items()
            if path.startswith(prefix)
        }

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        return self._handlers.get(handler_call_details.method)


def _handler(front: Front, method: Method) -> Any:
    if method.client_streaming:

        async def bidi(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> None:
            await front.entry(method, requests, context)

        return grpc.stream_stream_rpc_method_handler(bidi)
    if method.streaming:

        async def stream(request: bytes, context: grpc.aio.ServicerContext) -> None:
            await front.stream(method, request, context)

        return grpc.unary_stream_rpc_method_handler(stream)

    async def unary(request: bytes, context: grpc.aio.ServicerContext) -> Any:
        return await front.unary(method, request, context)

    return grpc.unary_unary_rpc_method_handler(unary)


def _forwarded(context: grpc.aio.ServicerContext) -> tuple[tuple[str, str | bytes], ...]:
    """The caller's metadata, as the shard should see it."""
    return tuple(
        (key, value)
        for key, value in context.invocation_metadata() or ()
        if not key.startswith(":") and key not in _NOT_FORWARDED
    )


# -- merging the replies of every shard ---------------------------------------------------


def _merge_halts(replies: Iterable[Message]) -> Message:
    canceled = sum(r.orders_canceled for r in replies)  # type: ignore[attr-defined]
    return admin_service_pb2.HaltResponse(orders_canceled=canceled)


def _merge_resumes(replies: Iterable[Message]) -> Message:
    return admin_service_pb2.ResumeResponse()


#: Worst first: a venue is as unhealthy as its worst breaker over the shards.
_CIRCUIT_RANK = {
    admin_service_pb2.CIRCUIT_STATE_OPEN: 0,
    admin_service_pb2.CIRCUIT_STATE_HALF_OPEN: 1,
    admin_service_pb2.CIRCUIT_STATE_CLOSED: 2,
    admin_service_pb2.CIRCUIT_STATE_UNSPECIFIED: 3,
}


def _merge_venues(replies: Iterable[Message]) -> Message:
    """One row per venue: its worst breaker, its most failures, the sum of its children."""
    merged: dict[str, admin_service_pb2.Venue] = {}
    for reply in replies:
        for venue in reply.venues:  # type: ignore[attr-defined]
            seen = merged.get(venue.name)
            if seen is None:
                merged[venue.name] = admin_service_pb2.Venue()
                merged[venue.name].CopyFrom(venue)
                continue
            if _CIRCUIT_RANK[venue.circuit_state] < _CIRCUIT_RANK[seen.circuit_state]:
                seen.circuit_state = venue.circuit_state
            seen.consecutive_failures = max(seen.consecutive_failures, venue.consecutive_failures)
            seen.working_orders += venue.working_orders
    return admin_service_pb2.ListVenuesResponse(venues=list(merged.values()))


_MERGES: dict[str, Callable[[list[Message]], Message]] = {
    "/oms.v1.AdminService/Halt": _merge_halts,
    "/oms.v1.AdminService/Resume": _merge_resumes,
    "/oms.v1.AdminService/ListVenues": _merge_venues,
}
