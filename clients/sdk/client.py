"""The async OMS client: every RPC of oms.v1 over one grpc.aio channel.

Each unary call carries a deadline (``DEFAULT_TIMEOUT_S`` unless told otherwise) and
the bearer token. Calls that are safe to repeat are retried with bounded exponential
backoff on UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED by the server (a call it shed) and
a busy server (RESOURCE_EXHAUSTED ENGINE_BUSY or MAX_CALLS, refused before anything
changed): queries, ``submit_order`` (always with a
``client_order_id``, generated if the caller gives none, kept across retries),
``replace_order`` when the caller names the new ``client_order_id``, the mass cancel
``cancel_all_orders``, and the state-setting admin and risk calls. ``cancel_order``,
``create_account`` and ``deposit`` are sent once. Failures raise the typed errors of
``clients.sdk.errors``.

``reports`` follows an account's execution reports and survives broken streams: it
reconnects with backoff and resumes after the last sequence it yielded, so the caller
sees every report exactly once, in sequence order.

``order_entry`` and ``open_order_entry`` send submits, cancels and replaces on one
OrderEntry stream (``clients.sdk.entry``).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol, TypedDict, TypeVar, Unpack

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from clients.sdk.arguments import Decimalish, EnumArg
from clients.sdk.entry import (
    DEFAULT_MAX_IN_FLIGHT,
    Cancel,
    CorrelationIds,
    EntryAck,
    EntryRequest,
    OrderEntry,
    Replace,
    Submit,
    correlation_id_of,
    entry_ack,
    entry_message,
)
from clients.sdk.errors import OmsError, from_rpc_error
from protos.oms.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    admin_service_pb2,
    admin_service_pb2_grpc,
    common_pb2,
    market_data_service_pb2,
    market_data_service_pb2_grpc,
    order_pb2,
    order_service_pb2,
    order_service_pb2_grpc,
)

Q = TypeVar("Q", bound=Message)
R = TypeVar("R", bound=Message)
E = TypeVar("E", bound=int)

#: Deadline of each unary call attempt unless the caller gives ``timeout_s``.
DEFAULT_TIMEOUT_S = 10.0
#: Codes on which an idempotent unary call is tried again. CANCELLED too: a call this
#: client cancels or closes never ends as one (it raises CancelledError or CLOSED), so it
#: is the server's, which grpc core sends for the calls it sheds unread when more wait
#: than the server takes (an overload), or a server stopping sends those in flight.
RETRYABLE_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)
#: RESOURCE_EXHAUSTED reasons that mean "the server is busy, send it again later" (not a
#: limit of the account, such as its orders-per-second throttle): retried like the above.
BUSY_REASONS = frozenset({"ENGINE_BUSY", "MAX_CALLS"})
#: Codes on which a stream is reopened: the server went away or restarted
#: (UNAVAILABLE; or CANCELLED, which a server stopping with streams open sends them),
#: dropped a slow consumer (RESOURCE_EXHAUSTED), or asked for a retry. A call this client
#: cancelled or closed never gets here: it ends as CancelledError or CLOSED first.
RESUMABLE_STREAM_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
    }
)
#: How fast the channel itself reconnects after losing the server (gRPC defaults to
#: a 1 s first backoff growing to 120 s, which would outlast our own retries).
CHANNEL_RECONNECT_BACKOFF_MS = (100, 2_000)
#: Reports the SDK lets the server pack into one stream message (it never waits to fill one).
STREAM_BATCH = 500


class ProtoEnum(Protocol[E]):
    """What ``enum_value`` reads of a generated enum such as ``common_pb2.Side``."""

    def Value(self, name: str) -> E: ...
    def keys(self) -> list[str]: ...
    def values(self) -> list[E]: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff for idempotent unary calls."""

    max_attempts: int = 4
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Backoff between stream reconnects; ``max_attempts`` counts consecutive failures
    without a new item (None: try forever)."""

    initial_backoff_s: float = 0.05
    max_backoff_s: float = 2.0
    max_attempts: int | None = 30


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """Channel TLS: a CA bundle (None: system roots), and a client key pair for mTLS."""

    root_certificates: bytes | None = None
    private_key: bytes | None = None
    certificate_chain: bytes | None = None


class RiskLimitChanges(TypedDict, total=False):
    """The limits ``set_risk_limits`` changes by keyword (fields of oms.v1.RiskLimits)."""

    max_order_quantity: str
    max_order_notional: str
    price_collar_bps: str
    restricted_symbols: Sequence[str]
    max_orders_per_second: int
    allow_short: bool
    duplicate_window_ms: int


class OmsClient:
    """Async client of OrderService, AccountService, MarketDataService and AdminService.

    Create it inside a running event loop; ``async with OmsClient(...)`` closes it.
    """

    def __init__(
        self,
        target: str,
        token: str,
        *,
        tls: TlsOptions | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        reconnect: ReconnectPolicy | None = None,
        channel_options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.reconnect = reconnect or ReconnectPolicy()
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._closed = False
        self._channel = _open_channel(target, tls, channel_options)
        self._orders = order_service_pb2_grpc.OrderServiceStub(self._channel)
        self._accounts = account_service_pb2_grpc.AccountServiceStub(self._channel)
        self._market = market_data_service_pb2_grpc.MarketDataServiceStub(self._channel)
        self._admin = admin_service_pb2_grpc.AdminServiceStub(self._channel)

    async def __aenter__(self) -> OmsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel; open streams end with OmsError(CANCELLED, reason CLOSED)."""
        self._closed = True
        await self._channel.close()

    def _open_stream(
        self, method: grpc.aio.UnaryStreamMultiCallable[Q, R], request: Q
    ) -> grpc.aio.UnaryStreamCall[Q, R]:
        """Start a streaming call, or raise the closed-client error once closed."""
        if self._closed:
            raise _client_closed()
        try:
            return method(request, metadata=self._metadata)
        except grpc.aio.UsageError:
            raise _client_closed() from None

    # -- orders ---------------------------------------------------------------------------

    async def submit_order(
        self,
        *,
        account_id: str,
        symbol: str,
        side: EnumArg,
        quantity: Decimalish,
        limit_price: Decimalish | None = None,
        stop_price: Decimalish | None = None,
        order_type: EnumArg | None = None,
        time_in_force: EnumArg = common_pb2.TIME_IN_FORCE_DAY,
        trailing_offset: Decimalish | None = None,
        display_quantity: Decimalish | None = None,
        peg_type: EnumArg | None = None,
        peg_offset: Decimalish | None = None,
        routing_strategy: EnumArg | None = None,
        venue: str = "",
        client_order_id: str | None = None,
        expire_time: datetime | None = None,
        timeout_s: float | None = None,
    ) -> order_pb2.Order:
        """Submit an order; retried safely under one ``client_order_id`` (generated if None).

        ``order_type`` defaults from the terms given (market, limit, stop, stop-limit;
        trailing stop with ``trailing_offset``, the price distance its trigger trails by).
        ``display_quantity`` makes a limit an iceberg: at most that much shows at once.
        ``peg_type`` (``"primary"``, ``"midpoint"``, ``"market"``) makes a pegged order,
        resting ``peg_offset`` (default 0) from that price on the passive side, capped at
        ``limit_price`` when given.
        ``routing_strategy`` defaults to DIRECT when a ``venue`` is named. Enums take the
        proto value or a name such as ``"buy"``, ``"SIDE_BUY"``, ``"ioc"``, ``"gtd"``.
        ``expire_time`` (an aware datetime) is when a ``"gtd"`` order expires.
        """
        request = _submit_request(
            Submit(
                account_id=account_id,
                symbol=symbol,
                side=side,
                quantity=quantity,
                limit_price=limit_price,
                stop_price=stop_price,
                order_type=order_type,
                time_in_force=time_in_force,
                trailing_offset=trailing_offset,
                display_quantity=display_quantity,
                peg_type=peg_type,
                peg_offset=peg_offset,
                routing_strategy=routing_strategy,
                venue=venue,
                client_order_id=client_order_id,
                expire_time=expire_time,
            )
        )
        reply = await self._unary(self._orders.SubmitOrder, request, timeout_s, retry=True)
        return reply.order

    async def submit_order_list(
        self,
        *,
        account_id: str,
        contingency_type: EnumArg,
        orders: Sequence[Submit],
        list_client_id: str | None = None,
        timeout_s: float | None = None,
    ) -> order_service_pb2.SubmitOrderListResponse:
        """Submit a contingent list (``"oco"``, ``"oto"`` or ``"bracket"``: the entry,
        the take profit and the stop loss) of ``orders`` of ``account_id`` (each
        ``Submit``'s own account_id must be the same); retried safely, the member
        ``client_order_id``s (generated when None) being the list's idempotency keys.
        The answer holds the ``list_id`` and the orders, held ones PENDING_NEW."""
        request = order_service_pb2.SubmitOrderListRequest(
            account_id=account_id,
            list_client_id=list_client_id or new_client_order_id(),
            contingency_type=enum_value(
                common_pb2.ContingencyType, "CONTINGENCY_TYPE", contingency_type
            ),
            orders=[_submit_request(order) for order in orders],
        )
        return await self._unary(self._orders.SubmitOrderList, request, timeout_s, retry=True)

    async def cancel_order(
        self, order_id: str, *, timeout_s: float | None = None
    ) -> order_pb2.Order:
        """Ask for the unfilled rest of an order to be cancelled (sent once, never retried)."""
        request = order_service_pb2.CancelOrderRequest(order_id=order_id)
        reply = await self._unary(self._orders.CancelOrder, request, timeout_s, retry=False)
        return reply.order

    async def replace_order(
        self,
        order_id: str,
        *,
        quantity: Decimalish | None = None,
        limit_price: Decimalish | None = None,
        client_order_id: str | None = None,
        timeout_s: float | None = None,
    ) -> order_pb2.Order:
        """Change quantity and/or limit price; returns the new order (or the original,
        pending replace). Retried only when ``client_order_id`` makes it idempotent."""
        change = Replace(
            order_id, quantity=quantity, limit_price=limit_price, client_order_id=client_order_id
        )
        request = _replace_request(change)
        retry = bool(client_order_id)
        reply = await self._unary(self._orders.ReplaceOrder, request, timeout_s, retry=retry)
        return reply.order

    async def get_order(self, order_id: str, *, timeout_s: float | None = None) -> order_pb2.Order:
        """One order."""
        request = order_service_pb2.GetOrderRequest(order_id=order_id)
        reply = await self._unary(self._orders.GetOrder, request, timeout_s, retry=True)
        return reply.order

    async def list_orders(
        self,
        account_id: str,
        *,
        states: Iterable[EnumArg] = (),
        symbol: str = "",
        page_size: int = 0,
        page_token: str = "",
        timeout_s: float | None = None,
    ) -> order_service_pb2.ListOrdersResponse:
        """One page of an account's orders, newest first, and the next page's token."""
        request = order_service_pb2.ListOrdersRequest(
            account_id=account_id,
            states=[enum_value(common_pb2.OrderState, "ORDER_STATE", s) for s in states],
            symbol=symbol,
            page_size=page_size,
            page_token=page_token,
        )
        return await self._unary(self._orders.ListOrders, request, timeout_s, retry=True)

    async def iter_orders(
        self,
        account_id: str,
        *,
        states: Iterable[EnumArg] = (),
        symbol: str = "",
        page_size: int = 0,
        timeout_s: float | None = None,
    ) -> AsyncGenerator[order_pb2.Order, None]:
        """Every order of an account, newest first, fetching page after page."""
        states = list(states)
        token = ""
        while True:
            page = await self.list_orders(
                account_id,
                states=states,
                symbol=symbol,
                page_size=page_size,
                page_token=token,
                timeout_s=timeout_s,
            )
            for order in page.orders:
                yield order
            token = page.next_page_token
            if not token:
                return

    async def cancel_all_orders(
        self,
        account_id: str,
        *,
        symbol: str = "",
        side: EnumArg | None = None,
        timeout_s: float | None = None,
    ) -> int:
        """Mass cancel: ask every working order of ``account_id`` (of ``symbol`` and
        ``side``, when given) to cancel; returns how many were asked. Retried: a second
        mass cancel only finds what the first left working."""
        request = order_service_pb2.CancelAllOrdersRequest(
            account_id=account_id,
            symbol=symbol,
            side=common_pb2.SIDE_UNSPECIFIED
            if side is None
            else enum_value(common_pb2.Side, "SIDE", side),
        )
        reply = await self._unary(self._orders.CancelAllOrders, request, timeout_s, retry=True)
        return int(reply.canceled_count)

    async def list_executions(
        self,
        account_id: str,
        *,
        order_id: str = "",
        symbol: str = "",
        page_size: int = 0,
        page_token: str = "",
        timeout_s: float | None = None,
    ) -> order_service_pb2.ListExecutionsResponse:
        """One page of an account's fills, newest first, and the next page's token."""
        request = order_service_pb2.ListExecutionsRequest(
            account_id=account_id,
            order_id=order_id,
            symbol=symbol,
            page_size=page_size,
            page_token=page_token,
        )
        return await self._unary(self._orders.ListExecutions, request, timeout_s, retry=True)

    async def iter_executions(
        self,
        account_id: str,
        *,
        order_id: str = "",
        symbol: str = "",
        page_size: int = 0,
        timeout_s: float | None = None,
    ) -> AsyncGenerator[order_pb2.Execution, None]:
        """Every fill of an account (of one order or symbol), newest first, page by page."""
        token = ""
        while True:
            page = await self.list_executions(
                account_id,
                order_id=order_id,
                symbol=symbol,
                page_size=page_size,
                page_token=token,
                timeout_s=timeout_s,
            )
            for execution in page.executions:
                yield execution
            token = page.next_page_token
            if not token:
                return

    async def get_order_events(
        self, order_id: str, *, timeout_s: float | None = None
    ) -> list[order_pb2.ExecutionReport]:
        """The audit trail of one order, oldest first."""
        request = order_service_pb2.GetOrderEventsRequest(order_id=order_id)
        reply = await self._unary(self._orders.GetOrderEvents, request, timeout_s, retry=True)
        return list(reply.events)

    async def reports(
        self, account_id: str, from_sequence: int = 0
    ) -> AsyncGenerator[order_pb2.ExecutionReport, None]:
        """An account's execution reports after ``from_sequence``, replayed then live.

        A broken stream (server gone or restarted, slow consumer dropped) is reopened
        with backoff after the last sequence yielded: each report comes exactly once, in
        order. A sequence gap is treated like a broken stream. The stream has no deadline.
        """
        last = from_sequence
        backoff = _Backoff(self.reconnect)
        while True:
            request = order_service_pb2.StreamExecutionReportsRequest(
                account_id=account_id, from_sequence=last, max_batch=STREAM_BATCH
            )
            call = self._open_stream(self._orders.StreamExecutionReports, request)
            try:
                async for message in call:
                    for report in reports_of(message):
                        if report.sequence <= last:
                            continue
                        if report.sequence != last + 1:
                            raise _gap_error(last, report.sequence)
                        last = report.sequence
                        backoff.reset()
                        yield report
                error = OmsError("the stream ended", code=grpc.StatusCode.UNAVAILABLE)
            except grpc.aio.AioRpcError as exc:
                if self._closed:
                    raise _client_closed() from None
                error = _resumable_or_raise(exc)
            except asyncio.CancelledError:
                if _cancelled_by_caller():
                    raise
                raise _client_closed() from None
            except OmsError as gap:
                error = gap
            finally:
                call.cancel()
            await backoff.wait(error)

    # -- order entry stream ---------------------------------------------------------------

    async def order_entry(
        self,
        requests: AsyncIterable[EntryRequest] | Iterable[EntryRequest],
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> AsyncGenerator[EntryAck, None]:
        """Send ``requests`` on one OrderEntry stream; an ``EntryAck`` for each answer.

        Each request is a ``Submit``, ``Cancel`` or ``Replace`` (the unary calls'
        keywords) or a request message. They are sent as the server's flow control
        allows, at most ``max_in_flight`` unanswered (the next is read from ``requests``
        only when one is answered); answers come in completion order, each with its
        request's correlation id (made by the SDK when a request has none). A refusal is
        an ack whose ``error`` is the typed error; a broken stream raises its own and is
        not reopened. A plain iterable is read in the event loop: a list, or an iterator
        that never blocks. The stream has no deadline.
        """
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
        call = self._open_entry_stream()
        ids = CorrelationIds()
        sent: dict[str, order_service_pb2.OrderEntryRequest] = {}
        window = asyncio.Semaphore(max_in_flight)
        writer = asyncio.create_task(_write_entries(call, requests, window, ids, sent))
        try:
            async for response in call:
                window.release()
                ids.release(response.correlation_id)
                yield entry_ack(response, sent.pop(response.correlation_id, None))
            await writer
        except grpc.aio.AioRpcError as exc:
            if self._closed:
                raise _client_closed() from None
            raise from_rpc_error(exc) from exc
        except asyncio.CancelledError:
            failed = writer.exception() if writer.done() and not writer.cancelled() else None
            if failed is not None:
                raise failed from None
            if _cancelled_by_caller():
                raise
            raise _client_closed() from None
        finally:
            writer.cancel()
            call.cancel()

    def open_order_entry(self, *, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> OrderEntry:
        """A session over one OrderEntry stream: ``submit``, ``cancel`` and ``replace``
        return futures of the order (``async with oms.open_order_entry() as entry``)."""
        return OrderEntry(self, max_in_flight)

    def _open_entry_stream(
        self,
    ) -> grpc.aio.StreamStreamCall[
        order_service_pb2.OrderEntryRequest, order_service_pb2.OrderEntryResponse
    ]:
        if self._closed:
            raise _client_closed()
        try:
            return self._orders.OrderEntry(metadata=self._metadata)
        except grpc.aio.UsageError:
            raise _client_closed() from None

    # -- accounts -------------------------------------------------------------------------

    async def create_account(
        self, account_id: str, *, timeout_s: float | None = None
    ) -> account_service_pb2.Account:
        """Open an account with no cash (sent once)."""
        request = account_service_pb2.CreateAccountRequest(account_id=account_id)
        reply = await self._unary(self._accounts.CreateAccount, request, timeout_s, retry=False)
        return reply.account

    async def deposit(
        self, account_id: str, amount: Decimalish, *, timeout_s: float | None = None
    ) -> account_service_pb2.Account:
        """Add cash to an account (sent once: a deposit is not idempotent)."""
        request = account_service_pb2.DepositRequest(
            account_id=account_id, amount=decimal_text(amount, "amount")
        )
        reply = await self._unary(self._accounts.Deposit, request, timeout_s, retry=False)
        return reply.account

    async def get_account(
        self, account_id: str, *, timeout_s: float | None = None
    ) -> account_service_pb2.Account:
        """Cash, reserved cash, positions and limits of an account."""
        request = account_service_pb2.GetAccountRequest(account_id=account_id)
        reply = await self._unary(self._accounts.GetAccount, request, timeout_s, retry=True)
        return reply.account

    async def set_risk_limits(
        self,
        account_id: str,
        limits: account_service_pb2.RiskLimits | None = None,
        *,
        update_mask: Sequence[str] = (),
        timeout_s: float | None = None,
        **changes: Unpack[RiskLimitChanges],
    ) -> account_service_pb2.Account:
        """Change an account's pre-trade limits (idempotent, so retried).

        ``set_risk_limits("A", max_order_quantity="500")`` changes that limit alone (the
        keywords make the update mask); ``set_risk_limits("A", limits, update_mask=[...])``
        changes the named fields of ``limits``; ``limits`` without a mask replaces them all.
        """
        if changes:
            if limits is not None or update_mask:
                raise TypeError("give limits (and update_mask) or limits by keyword, not both")
            limits, update_mask = account_service_pb2.RiskLimits(**changes), sorted(changes)
        if limits is None:
            raise TypeError("set_risk_limits needs limits, or a limit by keyword")
        request = account_service_pb2.SetRiskLimitsRequest(
            account_id=account_id,
            risk_limits=limits,
            update_mask=field_mask_pb2.FieldMask(paths=update_mask),
        )
        reply = await self._unary(self._accounts.SetRiskLimits, request, timeout_s, retry=True)
        return reply.account

    # -- market data ----------------------------------------------------------------------

    async def list_instruments(
        self, *, timeout_s: float | None = None
    ) -> list[market_data_service_pb2.Instrument]:
        """Every tradable instrument."""
        request = market_data_service_pb2.ListInstrumentsRequest()
        reply = await self._unary(self._market.ListInstruments, request, timeout_s, retry=True)
        return list(reply.instruments)

    async def get_quote(
        self, symbol: str, *, timeout_s: float | None = None
    ) -> market_data_service_pb2.Quote:
        """The consolidated and per-venue best bid and offer of ``symbol``."""
        request = market_data_service_pb2.GetQuoteRequest(symbol=symbol)
        reply = await self._unary(self._market.GetQuote, request, timeout_s, retry=True)
        return reply.quote

    async def stream_quotes(
        self, symbols: Iterable[str] = ()
    ) -> AsyncGenerator[market_data_service_pb2.Quote, None]:
        """Quotes of ``symbols`` (all when empty) as books change; reopened when broken."""
        request = market_data_service_pb2.StreamQuotesRequest(symbols=list(symbols))
        backoff = _Backoff(self.reconnect)
        while True:
            call = self._open_stream(self._market.StreamQuotes, request)
            try:
                async for message in call:
                    backoff.reset()
                    yield message.quote
                error = OmsError("the stream ended", code=grpc.StatusCode.UNAVAILABLE)
            except grpc.aio.AioRpcError as exc:
                if self._closed:
                    raise _client_closed() from None
                error = _resumable_or_raise(exc)
            except asyncio.CancelledError:
                if _cancelled_by_caller():
                    raise
                raise _client_closed() from None
            finally:
                call.cancel()
            await backoff.wait(error)

    # -- admin ----------------------------------------------------------------------------

    async def halt(
        self, account_id: str = "", *, reason: str = "", timeout_s: float | None = None
    ) -> int:
        """Kill switch: cancel working orders and refuse new ones for one account (all
        when empty). Retried: halting twice is harmless. Returns the orders cancelled
        (by the attempt that succeeded)."""
        request = admin_service_pb2.HaltRequest(account_id=account_id, reason=reason)
        reply = await self._unary(self._admin.Halt, request, timeout_s, retry=True)
        return int(reply.orders_canceled)

    async def resume(self, account_id: str = "", *, timeout_s: float | None = None) -> None:
        """Allow trading again after ``halt`` (one account, or all when empty)."""
        request = admin_service_pb2.ResumeRequest(account_id=account_id)
        await self._unary(self._admin.Resume, request, timeout_s, retry=True)

    async def list_venues(self, *, timeout_s: float | None = None) -> list[admin_service_pb2.Venue]:
        """Each venue's health and circuit-breaker state."""
        request = admin_service_pb2.ListVenuesRequest()
        reply = await self._unary(self._admin.ListVenues, request, timeout_s, retry=True)
        return list(reply.venues)

    async def list_shards(self, *, timeout_s: float | None = None) -> list[admin_service_pb2.Shard]:
        """Each account shard: its state, owner and standby process ids, account count."""
        request = admin_service_pb2.ListShardsRequest()
        reply = await self._unary(self._admin.ListShards, request, timeout_s, retry=True)
        return list(reply.shards)

    # -- plumbing -------------------------------------------------------------------------

    async def _unary(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[Q, R],
        request: Q,
        timeout_s: float | None,
        *,
        retry: bool,
    ) -> R:
        """One call with a deadline; idempotent ones retried on RETRYABLE_CODES."""
        deadline_s = self.timeout_s if timeout_s is None else timeout_s
        policy = self.retry
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts if retry else 1),
            wait=wait_exponential(multiplier=policy.initial_backoff_s, max=policy.max_backoff_s)
            + wait_random(0, policy.initial_backoff_s),
            retry=retry_if_exception(_is_retryable),
            reraise=True,
        ):
            with attempt:
                if self._closed:
                    raise _client_closed()
                try:
                    return await method(request, metadata=self._metadata, timeout=deadline_s)
                except grpc.aio.UsageError:
                    raise _client_closed() from None
                except grpc.aio.AioRpcError as exc:
                    if self._closed:
                        raise _client_closed() from None
                    raise from_rpc_error(exc) from exc
                except asyncio.CancelledError:
                    if _cancelled_by_caller():
                        raise
                    raise _client_closed() from None
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises


def reports_of(
    message: order_service_pb2.StreamExecutionReportsResponse,
) -> Sequence[order_pb2.ExecutionReport]:
    """The reports of one stream message: its batch, or its single report."""
    if message.reports:
        return message.reports
    return [message.report] if message.HasField("report") else []


async def _write_entries(
    call: grpc.aio.StreamStreamCall[
        order_service_pb2.OrderEntryRequest, order_service_pb2.OrderEntryResponse
    ],
    requests: AsyncIterable[EntryRequest] | Iterable[EntryRequest],
    window: asyncio.Semaphore,
    ids: CorrelationIds,
    sent: dict[str, order_service_pb2.OrderEntryRequest],
) -> None:
    """Send every request, each once ``window`` has room, then half-close. A failure of
    the caller's requests cancels the call and is raised; a failure of the call is left
    for its reader to raise."""
    source = aiter(_each(requests))
    try:
        while True:
            await window.acquire()
            try:
                request = await anext(source)
            except StopAsyncIteration:
                break
            message = _entry_request(request, ids.claim(correlation_id_of(request)))
            sent[message.correlation_id] = message
            await call.write(message)
        await call.done_writing()
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        if not call.done():
            call.cancel()
            raise
    except BaseException:
        call.cancel()
        raise


async def _each(
    requests: AsyncIterable[EntryRequest] | Iterable[EntryRequest],
) -> AsyncGenerator[EntryRequest, None]:
    if isinstance(requests, AsyncIterable):
        async for request in requests:
            yield request
    else:
        for request in requests:
            yield request


def _entry_request(
    request: EntryRequest, correlation_id: str
) -> order_service_pb2.OrderEntryRequest:
    """The OrderEntry request message of ``request``, tagged with ``correlation_id``."""
    if isinstance(request, order_service_pb2.OrderEntryRequest):
        if request.correlation_id == correlation_id:
            return request
        message = order_service_pb2.OrderEntryRequest()
        message.CopyFrom(request)
        message.correlation_id = correlation_id
        return message
    if isinstance(request, Submit):
        return entry_message(_submit_request(request), correlation_id)
    if isinstance(request, Cancel):
        return entry_message(
            order_service_pb2.CancelOrderRequest(order_id=request.order_id), correlation_id
        )
    if isinstance(request, Replace):
        return entry_message(_replace_request(request), correlation_id)
    return entry_message(request, correlation_id)


def _submit_request(submit: Submit) -> order_service_pb2.SubmitOrderRequest:
    """The request of a submit, unary or streamed."""
    return order_service_pb2.SubmitOrderRequest(
        account_id=submit.account_id,
        client_order_id=submit.client_order_id or new_client_order_id(),
        symbol=submit.symbol,
        side=enum_value(common_pb2.Side, "SIDE", submit.side),
        order_type=_order_type(
            submit.order_type,
            submit.limit_price,
            submit.stop_price,
            submit.trailing_offset,
            submit.peg_type,
        ),
        time_in_force=enum_value(common_pb2.TimeInForce, "TIME_IN_FORCE", submit.time_in_force),
        quantity=decimal_text(submit.quantity, "quantity"),
        limit_price=_optional_decimal(submit.limit_price, "limit_price"),
        stop_price=_optional_decimal(submit.stop_price, "stop_price"),
        routing_strategy=_routing(submit.routing_strategy, submit.venue),
        venue=submit.venue,
        expire_time=_timestamp(submit.expire_time, "expire_time"),
        trailing_offset=_optional_decimal(submit.trailing_offset, "trailing_offset"),
        display_quantity=_optional_decimal(submit.display_quantity, "display_quantity"),
        peg_type=(
            enum_value(common_pb2.PegType, "PEG_TYPE", submit.peg_type)
            if submit.peg_type is not None
            else common_pb2.PEG_TYPE_UNSPECIFIED
        ),
        peg_offset=_optional_decimal(submit.peg_offset, "peg_offset"),
    )


def _replace_request(change: Replace) -> order_service_pb2.ReplaceOrderRequest:
    """The request of a replace, unary or streamed."""
    return order_service_pb2.ReplaceOrderRequest(
        order_id=change.order_id,
        quantity=_optional_decimal(change.quantity, "quantity"),
        limit_price=_optional_decimal(change.limit_price, "limit_price"),
        client_order_id=change.client_order_id or "",
    )


def new_client_order_id() -> str:
    """A fresh client order id (32 hex characters)."""
    return uuid.uuid4().hex


def enum_value(enum: ProtoEnum[E], prefix: str, value: EnumArg) -> E:
    """The member of a proto enum given as a number or a (short) name."""
    if isinstance(value, int):
        for number in enum.values():
            if number == value:
                return number
    else:
        name = value.strip().upper().replace("-", "_")
        if not name.startswith(f"{prefix}_"):
            name = f"{prefix}_{name}"
        try:
            return enum.Value(name)
        except ValueError:
            pass
    choices = ", ".join(n.removeprefix(f"{prefix}_").lower() for n in enum.keys()[1:])
    raise ValueError(f"unknown {prefix.lower()} {value!r} (one of {choices})")


def decimal_text(value: Decimalish, field: str) -> str:
    """A decimal string for the wire; floats are refused because they are inexact."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise TypeError(f"{field} must be a str, int or Decimal, not {type(value).__name__}")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _timestamp(value: datetime | None, field: str) -> timestamp_pb2.Timestamp | None:
    """A Timestamp of an aware datetime (a naive one is refused: its zone is unknown)."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise TypeError(f"{field} must be an aware datetime (with a time zone)")
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def _optional_decimal(value: Decimalish | None, field: str) -> str:
    return "" if value is None else decimal_text(value, field)


def _order_type(
    order_type: EnumArg | None,
    limit_price: Decimalish | None,
    stop_price: Decimalish | None,
    trailing_offset: Decimalish | None = None,
    peg_type: EnumArg | None = None,
) -> common_pb2.OrderType.ValueType:
    if order_type is not None:
        return enum_value(common_pb2.OrderType, "ORDER_TYPE", order_type)
    if peg_type is not None:
        return common_pb2.ORDER_TYPE_PEGGED
    if trailing_offset is not None:
        return common_pb2.ORDER_TYPE_TRAILING_STOP
    if stop_price is not None:
        return (
            common_pb2.ORDER_TYPE_STOP_LIMIT
            if limit_price is not None
            else (common_pb2.ORDER_TYPE_STOP)
        )
    return common_pb2.ORDER_TYPE_LIMIT if limit_price is not None else common_pb2.ORDER_TYPE_MARKET


def _routing(strategy: EnumArg | None, venue: str) -> common_pb2.RoutingStrategy.ValueType:
    if strategy is not None:
        return enum_value(common_pb2.RoutingStrategy, "ROUTING_STRATEGY", strategy)
    return common_pb2.ROUTING_STRATEGY_DIRECT if venue else common_pb2.ROUTING_STRATEGY_UNSPECIFIED


def _is_retryable(exc: BaseException) -> bool:
    if not isinstance(exc, OmsError):
        return False
    busy = exc.code is grpc.StatusCode.RESOURCE_EXHAUSTED and exc.reason in BUSY_REASONS
    return busy or exc.code in RETRYABLE_CODES


def _resumable_or_raise(exc: grpc.aio.AioRpcError) -> OmsError:
    error = from_rpc_error(exc)
    if error.code not in RESUMABLE_STREAM_CODES:
        raise error from exc
    return error


def _cancelled_by_caller() -> bool:
    """Whether the running task is being cancelled (rather than its call, by a close)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _client_closed() -> OmsError:
    return OmsError("the client was closed", code=grpc.StatusCode.CANCELLED, reason="CLOSED")


def _gap_error(last: int, got: int) -> OmsError:
    return OmsError(
        f"expected sequence {last + 1}, got {got}",
        code=grpc.StatusCode.DATA_LOSS,
        reason="SEQUENCE_GAP",
    )


class _Backoff:
    """Exponential backoff with jitter between reconnects; gives up after the policy's
    number of consecutive failures by raising the last error."""

    def __init__(self, policy: ReconnectPolicy) -> None:
        self._policy = policy
        self._failures = 0

    def reset(self) -> None:
        self._failures = 0

    async def wait(self, error: OmsError) -> None:
        self._failures += 1
        limit = self._policy.max_attempts
        if limit is not None and self._failures > limit:
            raise error
        ceiling = self._policy.initial_backoff_s * 2 ** (self._failures - 1)
        delay = min(self._policy.max_backoff_s, ceiling)
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))


def _open_channel(
    target: str, tls: TlsOptions | None, extra_options: Sequence[tuple[str, Any]]
) -> grpc.aio.Channel:
    initial_ms, max_ms = CHANNEL_RECONNECT_BACKOFF_MS
    options = [
        ("grpc.initial_reconnect_backoff_ms", initial_ms),
        ("grpc.min_reconnect_backoff_ms", initial_ms),
        ("grpc.max_reconnect_backoff_ms", max_ms),
        *extra_options,
    ]
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.root_certificates,
        private_key=tls.private_key,
        certificate_chain=tls.certificate_chain,
    )
    return grpc.aio.secure_channel(target, credentials, options=options)
