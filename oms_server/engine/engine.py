"""The order engine: the single writer of live order state.

gRPC handlers (and, later, the venue connector) hand it commands through a bounded
queue and await the outcome. The engine applies a run of queued commands to its
in-memory state, writes everything they changed in one transaction (group commit),
and only then answers the callers, publishes their reports to stream subscribers
and lets outbound messages leave. On start-up it rebuilds live state from the store.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from opentelemetry import context as otel_context
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from oms_server.domain.access import SYSTEM, Principal
from oms_server.domain.accounts import Account, RiskLimits
from oms_server.domain.child import ChildOrder, VenueReport
from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import ExecType, OrderState
from oms_server.domain.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
    OmsError,
    ResourceExhaustedError,
    UnavailableError,
    ValidationError,
)
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.reports import ExecutionReport
from oms_server.domain.state_machine import Trigger
from oms_server.engine.accounts import AccountBook
from oms_server.engine.client_ids import DEFAULT_KEPT, ClientOrderIds, Key
from oms_server.engine.hub import ReportHub
from oms_server.engine.ports import VenuePort
from oms_server.engine.routing import ParentRouting, RoutingHooks
from oms_server.store.journal import JournalBatch
from oms_server.store.repository import Store
from oms_server.store.rows import child_to_row, execution_to_row, order_to_row, report_to_row
from venues.tracing import tracing_enabled

log = logging.getLogger(__name__)

#: Commands applied per group commit at most.
DEFAULT_MAX_BATCH = 512
#: Commands that may wait in the queue before callers are held back.
DEFAULT_QUEUE_SIZE = 8192
#: Terminal orders kept in memory for fast reads after they leave the working set
#: (older ones are read from the store; 20,000 held about 40 MB under load).
RECENT_ORDERS_KEPT = 2_000
#: Idempotency keys kept exactly in memory; older ones are checked against the store.
CLIENT_IDS_KEPT = DEFAULT_KEPT
#: The halt scope that covers every account.
ALL_ACCOUNTS = "*"
#: Attempts at one commit before the engine gives up and stops.
COMMIT_ATTEMPTS = 3

_STOP = object()


@dataclass(slots=True)
class _Command:
    action: Callable[[], Any]
    future: asyncio.Future[Any]
    #: The caller's trace context, so spans the command causes join the caller's trace
    #: (None while tracing is off).
    trace_context: otel_context.Context | None


@dataclass(slots=True)
class EngineStats:
    """Counters read by the metrics endpoint."""

    accepted: int = 0
    fills: int = 0
    #: Store reads for idempotency keys no longer held exactly in memory.
    key_lookups: int = 0
    routing_seconds: float = 0.0
    refused: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _PendingReplace:
    """A replace waiting for the original's children to finish."""

    new_order_id: str
    client_order_id: str
    quantity: Decimal
    limit_price: Decimal | None
    sender: str


@dataclass(slots=True)
class _PendingWrites:
    """What the commands of the current batch changed, written at the next flush."""

    dirty_orders: dict[str, tuple[Order, bool]] = field(default_factory=dict)
    dirty_children: dict[str, tuple[ChildOrder, bool]] = field(default_factory=dict)
    reports: list[ExecutionReport] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    batch: JournalBatch = field(default_factory=JournalBatch)


class OrderEngine:
    """Owns working orders, per-account sequences and idempotency keys."""

    def __init__(
        self,
        store: Store,
        instruments: Mapping[str, Instrument],
        hub: ReportHub,
        *,
        venues: VenuePort | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.store = store
        self.instruments = dict(instruments)
        self.hub = hub
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Command | object] = asyncio.Queue(queue_size)
        self._clock = clock
        self._orders: dict[str, Order] = {}
        self._recent: OrderedDict[str, Order] = OrderedDict()
        self._client_ids = ClientOrderIds(CLIENT_IDS_KEPT)
        self._sequences: dict[str, int] = {}
        self._last_mids: dict[str, Decimal] = {}
        self._pending = _PendingWrites()
        self._task: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None
        self._id_prefix = os.urandom(2).hex()
        self._id_counter = 0
        self._pending_replaces: dict[str, _PendingReplace] = {}
        #: Halted scopes (an account id, or ALL_ACCOUNTS) -> reason.
        self._halts: dict[str, str] = {}
        self.commits = 0
        self.stats = EngineStats()
        self.routing: ParentRouting | None = None
        self.accounts = AccountBook(self._write_row, _largest_taker_fee_bps(venues))
        if venues is not None:
            hooks = RoutingHooks(
                report=self._report,
                on_fill=self._on_fill,
                touch_order=self._touch,
                touch_child=self._touch_child,
                record_execution=self._record_execution,
                after_commit=self._after_commit,
                now_ns=self._clock,
            )
            self.routing = ParentRouting(venues, self.instruments, self._orders, hooks)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild live state from the store and start the writer task."""
        for order in await self.store.load_working_orders():
            self._orders[order.order_id] = order
        async for keys in self.store.client_order_ids():
            self._client_ids.load(keys)
        self._sequences = await self.store.load_last_sequences()
        self.hub.seed(self._sequences)
        self._halts = {r["scope"]: r["reason"] for r in await self.store.load_rows("halts")}
        self.accounts.load(
            await self.store.load_rows("accounts"), await self.store.load_rows("positions")
        )
        self.accounts.rebuild_reservations(self._orders.values())
        if self.routing is not None:
            children = await self.store.load_open_children()
            counts = await self.store.child_counts(list(self._orders))
            self.routing.load(children, counts)
        self._task = asyncio.create_task(self._run(), name="order-engine")
        log.info(
            "order engine started: %d working orders, %d accounts",
            len(self._orders),
            len(self._sequences),
        )

    async def stop(self) -> None:
        """Finish the queued commands, commit them, and stop."""
        if self._task is None:
            return
        if not self._task.done():
            await self._queue.put(_STOP)
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    @property
    def healthy(self) -> bool:
        return self._task is not None and not self._task.done() and self._failed is None

    async def wait_stopped(self) -> BaseException | None:
        """Wait until the writer task ends; returns why it failed, or None after stop()."""
        if self._task is not None:
            await asyncio.gather(asyncio.shield(self._task), return_exceptions=True)
        return self._failed

    # -- commands -----------------------------------------------------------------------

    async def submit(self, request: OrderRequest, principal: Principal) -> Order:
        """Accept a validated order, or return the original for a known client_order_id."""
        submit = functools.partial(self._submit, request, principal)
        return await self._checking_keys(submit, lambda original: original)

    async def cancel(self, order_id: str, principal: Principal) -> Order:
        """Ask for the unfilled rest of an order to be cancelled."""
        return await self._call(lambda: self._cancel(order_id, principal))

    async def replace(
        self,
        order_id: str,
        principal: Principal,
        *,
        quantity: Decimal | None,
        limit_price: Decimal | None,
        client_order_id: str,
    ) -> Order:
        """Replace an order's quantity and/or limit price; returns the new order.

        A retry with the same ``client_order_id`` returns the replacement made first: from
        memory inside the command, or, once the original is no longer working there (after
        a restart), from the store.
        """
        replace = functools.partial(
            self._replace, order_id, principal, quantity, limit_price, client_order_id
        )
        try:
            return await self._checking_keys(
                replace, lambda found: _earlier_replacement(found, order_id, client_order_id)
            )
        except (NotFoundError, FailedPreconditionError):
            if not client_order_id:
                raise
            done = await self._stored_replacement(order_id, principal, client_order_id)
            if done is None:
                raise
            return done

    async def _checking_keys(
        self,
        command: Callable[[_KeyCheck | None], Order],
        stored: Callable[[Order], Order],
    ) -> Order:
        """Run ``command``; while it needs an idempotency key looked up, look it up in the
        store and run it again. An order the store holds for the key goes to ``stored``."""
        checked: _KeyCheck | None = None
        while True:
            try:
                return await self._call(functools.partial(command, checked))
            except _NeedsKeyLookup as needed:
                checked, existing = await self._look_up_key(needed.key)
                if existing is not None:
                    return stored(existing)

    async def _look_up_key(self, key: Key) -> tuple[_KeyCheck, Order | None]:
        """Ask the store for the order of an idempotency key no longer held in memory.

        The eviction count is read first: if keys were evicted after it, the answer may
        be stale, and the command that receives the check asks again.
        """
        evictions = self._client_ids.evictions
        self.stats.key_lookups += 1
        order_id = await self.store.order_id_for_client_id(*key)
        order = await self.get_order(order_id) if order_id is not None else None
        return _KeyCheck(key, evictions), order

    def _require_new_key(self, key: Key, checked: _KeyCheck | None) -> None:
        """Raise _NeedsKeyLookup unless ``key`` (not among the recent keys) is surely new."""
        if not self._client_ids.may_be_older(key):
            return
        evictions = self._client_ids.evictions
        if checked is not None and checked.key == key and checked.evictions == evictions:
            return
        raise _NeedsKeyLookup(key)

    async def create_account(self, account_id: str) -> Account:
        return await self._call(lambda: _snapshot(self.accounts.create(account_id, self._clock())))

    async def deposit(self, account_id: str, amount: Decimal) -> Account:
        return await self._call(
            lambda: _snapshot(self.accounts.deposit(account_id, amount, self._clock()))
        )

    async def set_risk_limits(self, account_id: str, limits: RiskLimits) -> Account:
        return await self._call(
            lambda: _snapshot(self.accounts.set_limits(account_id, limits, self._clock()))
        )

    def account(self, account_id: str) -> Account:
        """A snapshot of an account (NotFoundError if there is none)."""
        return _snapshot(self.accounts.get(account_id))

    async def halt(self, account_id: str | None, principal: Principal, reason: str) -> int:
        """Refuse new orders of ``account_id`` (all when None) and cancel its working ones."""
        return int(await self._call(lambda: self._halt(account_id, principal, reason)))

    async def resume(self, account_id: str | None, principal: Principal) -> None:
        """Allow trading again after a halt."""
        scope = account_id or ALL_ACCOUNTS
        await self._call(lambda: self._resume(scope))
        log.warning("trading resumed for %s by %s", scope, principal.subject)

    def halted(self, account_id: str) -> str | None:
        """Why ``account_id`` may not trade, or None."""
        return self._halts.get(ALL_ACCOUNTS) or self._halts.get(account_id)

    async def apply_venue_reports(self, reports: list[VenueReport]) -> None:
        """Apply venue execution reports; returns once their effects are stored."""
        await self._call(lambda: self._apply_venue_reports(reports), wait_for_room=True)

    async def trigger_stops(self, symbol: str) -> int:
        """Route the stop orders of ``symbol`` whose stop price traded."""
        return int(await self._call(lambda: self._routing().trigger_stops(symbol)))

    async def mark_unknown(self, child_order_id: str, reason: str) -> None:
        """End a child its venue never saw (after resends) as rejected."""
        await self._call(lambda: self._routing().mark_unknown(child_order_id, reason))

    async def note_resend(self, child_order_id: str) -> ChildOrder | None:
        """Count a resend of a child; returns it (a copy) if it is still open."""
        child = await self._call(lambda: self._routing().note_resend(child_order_id))
        return copy.copy(child) if child is not None else None

    def stale_children(self, older_than_ns: int) -> list[ChildOrder]:
        """Open children unanswered since before ``older_than_ns`` (for reconciliation)."""
        if self.routing is None:
            return []
        return [copy.copy(c) for c in self.routing.stale_children(older_than_ns)]

    def open_children(self) -> list[ChildOrder]:
        """Snapshots of every open child."""
        if self.routing is None:
            return []
        return [copy.copy(c) for c in self.routing.open_children()]

    def sweep_slice(self, limit: int) -> list[ChildOrder]:
        """Snapshots of the next ``limit`` open children of a sweep that visits each in
        turn (see ParentRouting.sweep_slice)."""
        if self.routing is None:
            return []
        return [copy.copy(c) for c in self.routing.sweep_slice(limit)]

    # -- reads (memory first; the store for orders no longer in memory) ----------------

    def cached_order(self, order_id: str) -> Order | None:
        """A snapshot of a working or recently finished order, if in memory."""
        order = self._orders.get(order_id) or self._recent.get(order_id)
        return copy.copy(order) if order is not None else None

    async def get_order(self, order_id: str) -> Order | None:
        """The order as far as it is durable: never a state whose commit is still pending.

        The snapshot is taken in the writer task and handed out once its batch (and so
        every change before it) is committed; an order not in memory comes from the store.
        """
        snapshot = await self._call(lambda: self.cached_order(order_id))
        return snapshot or await self.store.get_order(order_id)

    @property
    def client_ids(self) -> ClientOrderIds:
        """The idempotency-key index (read-only use: metrics)."""
        return self._client_ids

    def working_states(self) -> dict[str, int]:
        """Number of working orders per state."""
        counts: dict[str, int] = {}
        for order in self._orders.values():
            counts[order.state.value] = counts.get(order.state.value, 0) + 1
        return counts

    def working_orders(self) -> list[Order]:
        return [copy.copy(o) for o in self._orders.values()]

    # -- the writer task ----------------------------------------------------------------

    async def _call(self, action: Callable[[], Any], *, wait_for_room: bool = False) -> Any:
        """Queue ``action`` for the writer and await its outcome.

        Client commands are refused with RESOURCE_EXHAUSTED when the queue is full
        (back-pressure the caller can see); venue reports wait for room instead.
        """
        if self._failed is not None or self._task is None:
            raise UnavailableError("the order engine is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        trace_context = otel_context.get_current() if tracing_enabled() else None
        command = _Command(action, future, trace_context)
        if wait_for_room:
            await self._queue.put(command)
        else:
            try:
                self._queue.put_nowait(command)
            except asyncio.QueueFull:
                raise ResourceExhaustedError(
                    "the order engine is at capacity; retry shortly", reason="ENGINE_BUSY"
                ) from None
        try:
            return await future
        except _NeedsStoreRead as missing:
            order = await self.store.get_order(missing.order_id)
            if order is None:  # pragma: no cover - the key is only known once stored
                raise NotFoundError(f"order {missing.order_id} not found") from None
            return missing.then(order)

    async def _run(self) -> None:
        """Execute a batch of commands, commit it, answer; then the next batch.

        Everything queued while a batch commits goes into the next one (group commit).
        Executing the next batch during the commit before it (tried) made batches
        smaller and commits more frequent, and raised latency under load. No outcome,
        report or venue message of a batch leaves before its commit; the in-memory state
        is ahead of the journal only while its batch commits.
        """
        committing: asyncio.Task[None] | None = None
        stopping = False
        try:
            while not stopping and self._failed is None:
                commands, stopping = self._drain(await self._queue.get())
                outcomes = [self._execute(command) for command in commands]
                sealed = self._seal()
                committing = asyncio.create_task(
                    self._commit_and_answer(sealed, commands, outcomes), name="engine-commit"
                )
                await asyncio.shield(committing)
        finally:
            if committing is not None:  # cancelled: the commit still ends, and answers
                await asyncio.gather(committing, return_exceptions=True)

    async def _commit_and_answer(
        self, sealed: _PendingWrites, commands: list[_Command], outcomes: list[tuple[bool, Any]]
    ) -> None:
        try:
            await self._flush(sealed)
        except Exception as exc:
            self._fail(exc, commands)
            return
        for command, (ok, value) in zip(commands, outcomes, strict=True):
            if command.future.done():
                continue
            if ok:
                command.future.set_result(value)
            else:
                command.future.set_exception(value)

    def _drain(self, first: _Command | object) -> tuple[list[_Command], bool]:
        """``first`` and the commands queued behind it (at most max_batch); True to stop."""
        if first is _STOP:
            return [], True
        commands = [first]
        while len(commands) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if item is _STOP:
                return commands, True  # type: ignore[return-value]
            commands.append(item)
        return commands, False  # type: ignore[return-value]

    def _execute(self, command: _Command) -> tuple[bool, Any]:
        if command.trace_context is None:
            return self._outcome(command.action)
        token = otel_context.attach(command.trace_context)
        try:
            return self._outcome(command.action)
        finally:
            otel_context.detach(token)

    def _outcome(self, action: Callable[[], Any]) -> tuple[bool, Any]:
        try:
            return True, action()
        except (_NeedsStoreRead, _NeedsKeyLookup) as exc:
            return False, exc  # answered by the caller from the store: not a refusal
        except OmsError as exc:
            self.stats.refused[exc.reason] = self.stats.refused.get(exc.reason, 0) + 1
            return False, exc
        except Exception as exc:
            log.exception("order engine command failed")
            return False, exc

    def _seal(self) -> _PendingWrites:
        """Close the current batch: its rows are built now, before later commands change
        the same orders and children."""
        pending = self._pending
        self._pending = _PendingWrites()
        for order, is_new in pending.dirty_orders.values():
            pending.batch.upsert("orders", order.order_id, order_to_row(order), is_new=is_new)
        for child, is_new in pending.dirty_children.values():
            pending.batch.upsert(
                "child_orders", child.child_order_id, child_to_row(child), is_new=is_new
            )
        return pending

    async def _flush(self, pending: _PendingWrites) -> None:
        """Commit a sealed batch, then publish its reports and run its after-commit work."""
        if pending.batch:
            await self._commit(pending.batch)
            self.commits += 1
        self.hub.publish(pending.reports)
        for order, _ in pending.dirty_orders.values():
            if order.is_terminal:
                self._retire(order)
        for callback in pending.after_commit:
            callback()

    async def _commit(self, batch: JournalBatch) -> None:
        """Commit ``batch``; an OSError (disk, network) is retried a few times with backoff."""
        try:
            await self.store.commit(batch)
            return
        except OSError as exc:
            log.warning("journal commit failed, retrying: %s", exc)
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(COMMIT_ATTEMPTS - 1),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            retry=retry_if_exception_type(OSError),
            reraise=True,
        ):
            with attempt:
                await self.store.commit(batch)

    def _fail(self, exc: BaseException, commands: list[_Command]) -> None:
        """Stop for good: refuse ``commands`` and everything queued, and end the writer."""
        if self._failed is None:
            log.error("order engine stopped: the journal commit failed: %s", exc)
            self._failed = exc
        error = UnavailableError("the order store is unavailable; nothing was stored")
        for command in commands:
            if not command.future.done():
                command.future.set_exception(error)
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _Command) and not item.future.done():
                item.future.set_exception(error)
        self._queue.put_nowait(_STOP)  # wakes the writer task, which then ends

    def _retire(self, order: Order) -> None:
        self._orders.pop(order.order_id, None)
        self._recent[order.order_id] = order
        while len(self._recent) > RECENT_ORDERS_KEPT:
            self._recent.popitem(last=False)

    # -- command handlers (run inside the writer task; validate before mutating) --------

    def _submit(
        self, request: OrderRequest, principal: Principal, checked: _KeyCheck | None = None
    ) -> Order:
        key = (request.account_id, request.client_order_id)
        existing_id = self._client_ids.get(key)
        if existing_id is not None:
            return self._existing_order(existing_id)
        self._require_new_key(key, checked)
        halt_reason = self.halted(request.account_id)
        if halt_reason is not None:
            raise FailedPreconditionError(
                f"trading is halted for account {request.account_id}: {halt_reason}",
                reason="TRADING_HALTED",
            )
        now = self._clock()
        basis = self.accounts.admit(request, self._reference_price(request.symbol), now)
        order = Order.from_request(
            self._new_order_id(now), request, sender=principal.subject, now_ns=now
        )
        order.reserve_price = basis.reservation_price
        self._client_ids.add(key, order.order_id)
        self._orders[order.order_id] = order
        self._touch(order, is_new=True)
        order.apply(Trigger.ACCEPT)
        self._report(order, ExecType.NEW)
        self.stats.accepted += 1
        if self.routing is not None:
            started = time.perf_counter()
            self.routing.on_accepted(order)
            self.stats.routing_seconds += time.perf_counter() - started
        return copy.copy(order)

    def _halt(self, account_id: str | None, principal: Principal, reason: str) -> int:
        scope = account_id or ALL_ACCOUNTS
        already_halted = scope in self._halts
        self._halts[scope] = reason
        row = {
            "scope": scope,
            "reason": reason,
            "halted_by": principal.subject,
            "halted_ns": self._clock(),
        }
        self._pending.batch.upsert("halts", scope, row, is_new=not already_halted)
        targets = [
            o
            for o in self._orders.values()
            if (account_id is None or o.account_id == account_id) and o.can(Trigger.CANCEL_REQUEST)
        ]
        for order in targets:
            order.text = reason
            self._cancel(order.order_id, principal)
        log.warning(
            "trading halted for %s by %s: %d orders canceled",
            scope,
            principal.subject,
            len(targets),
        )
        return len(targets)

    def _resume(self, scope: str) -> None:
        if self._halts.pop(scope, None) is not None:
            self._pending.batch.delete("halts", scope)

    def _cancel(self, order_id: str, principal: Principal) -> Order:
        order = self._working_for(order_id, principal)
        order.apply(Trigger.CANCEL_REQUEST)
        self._report(order, ExecType.PENDING_CANCEL)
        if self.routing is not None and not self.routing.cancel(order):
            return copy.copy(order)  # CANCELED follows once every child is done
        order.apply(Trigger.CANCEL_ACCEPT)
        order.text = order.text or f"canceled by {principal.subject}"
        self._report(order, ExecType.CANCELED)
        return copy.copy(order)

    def _replace(
        self,
        order_id: str,
        principal: Principal,
        quantity: Decimal | None,
        limit_price: Decimal | None,
        client_order_id: str,
        checked: _KeyCheck | None = None,
    ) -> Order:
        if client_order_id:
            done = self._replacement_already_made(order_id, principal, client_order_id, checked)
            if done is not None:
                return done
        old = self._working_for(order_id, principal)
        new_qty, new_price = self._check_replace(old, quantity, limit_price)
        self.accounts.check_replace(old, new_qty, new_price)
        old.check(Trigger.REPLACE_REQUEST)
        now = self._clock()
        new_id = self._new_order_id(now)
        terms = _PendingReplace(
            new_id, client_order_id or new_id, new_qty, new_price, principal.subject
        )
        old.apply(Trigger.REPLACE_REQUEST)
        self._report(old, ExecType.PENDING_REPLACE)
        if self.routing is not None and not self.routing.cancel(old):
            self._pending_replaces[old.order_id] = terms
            self._client_ids.add((old.account_id, terms.client_order_id), new_id)
            old.replaced_by_order_id = new_id  # announced now; cleared if the replace fails
            return copy.copy(old)  # finished once every child of the original is done
        return copy.copy(self._complete_replace(old, terms))

    def _complete_replace(self, old: Order, terms: _PendingReplace) -> Order:
        """Replace ``old`` by a new order with ``terms``, or resume it if it filled too far."""
        halt_reason = self.halted(old.account_id)
        if halt_reason is not None:
            self._reject_replace(old, terms, halt_reason)
            old.text = halt_reason
            self._cancel(old.order_id, SYSTEM)
            return old
        if terms.quantity <= old.cum_qty:
            self._reject_replace(old, terms, "filled beyond the new quantity")
            if self.routing is not None:
                self.routing.route(old)
            return old
        new = self._successor(old, terms, self._clock())
        old.apply(Trigger.REPLACE_ACCEPT)
        old.replaced_by_order_id = new.order_id
        self._report(old, ExecType.REPLACED, text=f"replaced by {new.order_id}")
        self._report(new, ExecType.NEW, text=f"replaces {old.order_id}")
        if self.routing is not None:
            self.routing.adopt(old, new)
            if not new.order_type.needs_stop_price or old.arrival_price is not None:
                self.routing.route(new)
        return new

    def _reject_replace(self, old: Order, terms: _PendingReplace, reason: str) -> None:
        """The original stays (working again); its announced replacement is withdrawn."""
        old.apply(Trigger.REPLACE_REJECT)
        old.replaced_by_order_id = ""
        self._report(old, ExecType.REPLACE_REJECTED, text=reason)
        self._client_ids.discard((old.account_id, terms.client_order_id))

    async def _stored_replacement(
        self, order_id: str, principal: Principal, client_order_id: str
    ) -> Order | None:
        """A replacement made earlier with this client_order_id, even if only in the store."""
        original = await self.get_order(order_id)
        if original is None or not principal.can_act_for(original.account_id):
            return None
        key = (original.account_id, client_order_id)
        existing_id = self._client_ids.get(key)
        if existing_id is not None:
            existing = await self.get_order(existing_id)
        elif self._client_ids.may_be_older(key):
            _, existing = await self._look_up_key(key)
        else:
            return None
        if existing is not None and existing.replaces_order_id == order_id:
            return existing
        return None

    def _replacement_already_made(
        self,
        order_id: str,
        principal: Principal,
        client_order_id: str,
        checked: _KeyCheck | None,
    ) -> Order | None:
        """The replacement (or pending replace) a retry refers to; None for a new key.

        Raises ALREADY_EXISTS when another order holds the key, and _NeedsKeyLookup when
        only the store can tell.
        """
        original = self._orders.get(order_id) or self._recent.get(order_id)
        if original is None or not principal.can_act_for(original.account_id):
            return None
        pending = self._pending_replaces.get(order_id)
        if pending is not None and pending.client_order_id == client_order_id:
            return copy.copy(original)
        key = (original.account_id, client_order_id)
        existing_id = self._client_ids.get(key)
        if existing_id is None:
            self._require_new_key(key, checked)
            return None
        return self._existing_order(
            existing_id, lambda found: _earlier_replacement(found, order_id, client_order_id)
        )

    def _check_replace(
        self, old: Order, quantity: Decimal | None, limit_price: Decimal | None
    ) -> tuple[Decimal, Decimal | None]:
        if quantity is None and limit_price is None:
            raise ValidationError("quantity", "give a new quantity and/or limit_price")
        instrument = self.instruments[old.symbol]
        if limit_price is not None:
            if not old.order_type.needs_limit_price:
                raise ValidationError("limit_price", "this order type has no limit price")
            instrument.check_price(limit_price, "limit_price")
        if quantity is not None:
            instrument.check_quantity(quantity, "quantity")
            if quantity <= old.cum_qty:
                raise FailedPreconditionError(
                    f"new quantity must exceed the filled quantity {old.cum_qty}",
                    reason="REPLACE_QUANTITY_TOO_LOW",
                )
        new_qty = quantity if quantity is not None else old.quantity
        new_price = limit_price if limit_price is not None else old.limit_price
        if new_qty == old.quantity and new_price == old.limit_price:
            raise ValidationError("quantity", "the replace changes nothing")
        return new_qty, new_price

    def _successor(self, old: Order, terms: _PendingReplace, now: int) -> Order:
        new = copy.copy(old)
        new.order_id = terms.new_order_id
        new.client_order_id = terms.client_order_id
        new.quantity = terms.quantity
        new.limit_price = terms.limit_price
        new.state = OrderState.NEW if old.cum_qty == ZERO else OrderState.PARTIALLY_FILLED
        new.replaces_order_id = old.order_id
        new.replaced_by_order_id = ""
        new.sender = terms.sender
        new.text = ""
        new.version = 0
        new.reroutes = 0
        new.created_ns = new.updated_ns = now
        new.extra = {}
        if terms.limit_price is not None and old.order_type.needs_limit_price:
            new.reserve_price = terms.limit_price
        self._client_ids.add((new.account_id, terms.client_order_id), new.order_id)
        self._orders[new.order_id] = new
        self._touch(new, is_new=True)
        return new

    def _apply_venue_reports(self, reports: list[VenueReport]) -> None:
        routing = self._routing()
        for report in reports:
            child = routing.children.get(report.child_order_id)
            parent_id = child.parent_order_id if child is not None else ""
            routing.apply(report)
            pending = self._pending_replaces.get(parent_id)
            parent = self._orders.get(parent_id)
            if pending is not None and parent is not None and not routing.live_children(parent):
                del self._pending_replaces[parent_id]
                if not parent.is_terminal:
                    self._complete_replace(parent, pending)

    def _routing(self) -> ParentRouting:
        if self.routing is None:
            raise UnavailableError("no venues are connected")
        return self.routing

    # -- helpers ------------------------------------------------------------------------

    def _working_for(self, order_id: str, principal: Principal) -> Order:
        order = self._orders.get(order_id)
        if order is None or not principal.can_act_for(order.account_id):
            finished = self._recent.get(order_id)
            if finished is not None and principal.can_act_for(finished.account_id):
                raise FailedPreconditionError(
                    f"order {order_id} is {finished.state.value}",
                    reason="ORDER_NOT_WORKING",
                )
            raise NotFoundError(f"order {order_id} not found", reason="ORDER_NOT_FOUND")
        return order

    def _existing_order(
        self, order_id: str, then: Callable[[Order], Order] = lambda order: order
    ) -> Order:
        """``then`` of a copy of the order, here or (by _call) once read from the store."""
        order = self._orders.get(order_id) or self._recent.get(order_id)
        if order is None:
            raise _NeedsStoreRead(order_id, then)
        return then(copy.copy(order))

    def _touch_child(self, child: ChildOrder, is_new: bool) -> None:
        _mark_dirty(self._pending.dirty_children, child.child_order_id, child, is_new)

    def _record_execution(self, report: VenueReport, parent_order_id: str) -> None:
        self._pending.batch.append("executions", execution_to_row(report, parent_order_id))

    def _after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current batch is durable, in the current trace."""
        if not tracing_enabled():
            self._pending.after_commit.append(callback)
            return
        trace_context = otel_context.get_current()

        def traced() -> None:
            token = otel_context.attach(trace_context)
            try:
                callback()
            finally:
                otel_context.detach(token)

        self._pending.after_commit.append(traced)

    def _touch(self, order: Order, *, is_new: bool = False) -> None:
        _mark_dirty(self._pending.dirty_orders, order.order_id, order, is_new)

    def _report(
        self,
        order: Order,
        exec_type: ExecType,
        *,
        last_qty: Decimal = ZERO,
        last_price: Decimal = ZERO,
        last_venue: str = "",
        text: str = "",
    ) -> ExecutionReport:
        """Append an event for the order's current state and mark the order dirty."""
        now = self._clock()
        sequence = self._sequences.get(order.account_id, 0) + 1
        self._sequences[order.account_id] = sequence
        order.version += 1
        order.updated_ns = now
        report = order.report(
            sequence,
            exec_type,
            now,
            last_qty=last_qty,
            last_price=last_price,
            last_venue=last_venue,
            text=text,
        )
        self._pending.batch.append("order_events", report_to_row(report))
        self._pending.reports.append(report)
        self._touch(order)
        self.accounts.refresh(order)
        return report

    def _on_fill(self, order: Order, qty: Decimal, price: Decimal, fee: Decimal) -> None:
        self.stats.fills += 1
        self.accounts.apply_fill(order, qty, price, fee, self._clock())

    def _write_row(self, table: str, key: Any, row: dict[str, Any], is_new: bool) -> None:
        self._pending.batch.upsert(table, key, row, is_new=is_new)

    def _reference_price(self, symbol: str) -> Decimal | None:
        """The consolidated mid (with venues) or the instrument's reference price.

        While one side of the consolidated book is empty (swept by takers, say) the last
        mid seen stands in; a symbol no venue ever quoted on both sides has none.
        """
        if self.routing is None:
            return self.instruments[symbol].reference_price
        mid = self.routing.consolidated_book(symbol).mid
        if mid is None:
            return self._last_mids.get(symbol)
        self._last_mids[symbol] = mid
        return mid

    def _new_order_id(self, now_ns: int) -> str:
        self._id_counter = (self._id_counter + 1) % 0x1000000
        return f"{now_ns:016x}{self._id_prefix}{self._id_counter:06x}"


def _mark_dirty(dirty: dict[str, tuple[Any, bool]], key: str, row: Any, is_new: bool) -> None:
    """Mark ``row`` for the next commit; a row new in this batch stays new."""
    previous = dirty.get(key)
    dirty[key] = (row, is_new or (previous is not None and previous[1]))


def _snapshot(account: Account) -> Account:
    """A copy of an account safe to read outside the writer task."""
    return copy.deepcopy(account)


def _largest_taker_fee_bps(venues: VenuePort | None) -> Decimal:
    """The fee a buy's reservation assumes: the dearest venue's (fees are static config)."""
    if venues is None:
        return ZERO
    return max((info.taker_fee_bps for info in venues.venue_infos().values()), default=ZERO)


@dataclass(frozen=True, slots=True)
class _KeyCheck:
    """The store held no order for ``key`` when ``evictions`` eviction passes had happened."""

    key: Key
    evictions: int


class _NeedsKeyLookup(OmsError):
    """An idempotency key is not among the recent keys and may be stored: ask the store."""

    reason = "INTERNAL_STORE_LOOKUP"

    def __init__(self, key: Key) -> None:
        super().__init__(f"client_order_id {key[1]!r} needs a store lookup")
        self.key = key


def _earlier_replacement(existing: Order, order_id: str, client_order_id: str) -> Order:
    """``existing`` if it replaced ``order_id`` (a retried replace); else ALREADY_EXISTS."""
    if existing.replaces_order_id == order_id:
        return existing
    raise AlreadyExistsError(
        f"client_order_id {client_order_id!r} is already used by order {existing.order_id}",
        reason="DUPLICATE_CLIENT_ORDER_ID",
    )


class _NeedsStoreRead(OmsError):
    """An idempotent retry refers to a stored order no longer in memory: _call reads it
    and answers with ``then(order)``, as the command would have."""

    reason = "INTERNAL_STORE_LOOKUP"

    def __init__(self, order_id: str, then: Callable[[Order], Order]) -> None:
        super().__init__(f"order {order_id} is in the store")
        self.order_id = order_id
        self.then = then
