"""The order engine: the async facade over the single writer and the command handlers.

gRPC handlers and the venue connector call it; it queues each command on the single
writer (``writer.SingleWriter``), which runs the synchronous handler
(``commands.OrderCommands``), commits the batch, and only then answers. On start-up it
rebuilds live state from the store. It implements the ``ExecutionSink`` port that
venue connectors feed.

Timers (expiry, the session's open) run on the engine's clock: the commands say when
they are next due (``OrderCommands.run_timers``) and a task of the facade waits until
then, at most ``TIMER_MAX_WAIT_S`` at a time, and sooner when a nearer deadline appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from oms_server.domain.access import Principal
from oms_server.domain.accounts import Account, RiskLimits
from oms_server.domain.child import ChildOrder, VenueOrderStatus, VenueReport
from oms_server.domain.duplicates import retried_submit
from oms_server.domain.enums import Side
from oms_server.domain.errors import AlreadyExistsError, FailedPreconditionError, NotFoundError
from oms_server.domain.instruments import Instrument
from oms_server.domain.lists import ContingencyType
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.session import NS_PER_S, TradingSession
from oms_server.engine.client_ids import ClientOrderIds, Key
from oms_server.engine.commands import CommandStats, OrderCommands
from oms_server.engine.fair_share import FairShare
from oms_server.engine.hub import ReportHub
from oms_server.engine.idempotency import (
    KeyCheck,
    NeedsKeyLookup,
    NeedsStoreRead,
    earlier_replacement,
)
from oms_server.engine.ports import OrderStore, VenuePort
from oms_server.engine.reconciliation import ReconcilePolicy
from oms_server.engine.routing import Routing
from oms_server.engine.writer import DEFAULT_MAX_BATCH, DEFAULT_QUEUE_SIZE, SingleWriter
from router.book import VenueBook

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Longest the timer task waits before it asks the commands again, in seconds.
TIMER_MAX_WAIT_S = 1.0


class OrderEngine:
    """Owns working orders, per-account sequences and idempotency keys."""

    def __init__(
        self,
        store: OrderStore[Any],
        instruments: Mapping[str, Instrument],
        hub: ReportHub,
        *,
        venues: VenuePort | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        clock: Callable[[], int] = time.time_ns,
        policy: ReconcilePolicy | None = None,
        session: TradingSession | None = None,
        order_id_prefix: str | None = None,
        fair_share: FairShare | None = None,
    ) -> None:
        self.store = store
        #: Bounds and shares out the orders waiting for the writer (cancels pass freely).
        self.fair_share = fair_share or FairShare()
        self.hub = hub
        self.clock = clock
        self.commands = OrderCommands(
            instruments,
            hub,
            venues=venues,
            clock=clock,
            policy=policy,
            session=session,
            order_id_prefix=order_id_prefix,
        )
        self.writer = SingleWriter(
            store,
            self.commands.seal,
            self.commands.committed,
            max_batch=max_batch,
            queue_size=queue_size,
        )
        self._background: set[asyncio.Task[object]] = set()
        self._timer: asyncio.Task[None] | None = None
        self._timer_wake = asyncio.Event()
        #: Set by stop(): the timer task ends at its next look, even if Python 3.11's
        #: wait_for swallowed the cancel (it does when its wait ends at the same moment).
        self._timers_stopping = False
        self.commands.expiry.on_sooner = self._timer_wake.set
        self.commands.routing.on_sooner = self._timer_wake.set  # a held-back re-peg's time

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild live state from the store and start the writer task."""
        commands = self.commands
        for order in await self.store.load_working_orders():
            commands.live.add(order)
        await self._load_lists()
        async for keys in self.store.client_order_ids():
            commands.keys.keys.load(keys)
        sequences = await self.store.load_last_sequences()
        commands.recorder.sequences.update(sequences)
        self.hub.seed(sequences)
        commands.risk.load(await self.store.load_halts())
        commands.accounts.load(await self.store.load_accounts())
        commands.accounts.rebuild_reservations(commands.live)
        children = await self.store.load_open_children()
        counts = await self.store.child_counts(list(commands.live.working))
        commands.routing.load(children, counts)
        commands.expiry.load(commands.routing)
        self.writer.start()
        await self.run_timers()  # what expired while the OMS was down
        self._timer = asyncio.create_task(self._run_timers_when_due(), name="engine-timers")
        log.info(
            "order engine started: %d working orders, %d accounts",
            len(commands.live.working),
            len(sequences),
        )

    async def stop(self) -> None:
        """Finish the queued commands, commit them, and stop."""
        if self._timer is not None:
            self._timers_stopping = True
            self._timer_wake.set()
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await self.writer.stop()
        await asyncio.gather(*self._background, return_exceptions=True)

    @property
    def healthy(self) -> bool:
        return self.writer.running

    async def wait_stopped(self) -> BaseException | None:
        """Wait until the writer task ends; returns why it failed, or None after stop()."""
        return await self.writer.wait_stopped()

    # -- orders -------------------------------------------------------------------------

    async def submit(self, request: OrderRequest, principal: Principal) -> Order:
        """Accept a validated order, or return the original for a known client_order_id
        with the same terms (other terms: DuplicateClientOrderIdError, nothing changes)."""
        submit = functools.partial(self.commands.submit, request, principal)
        with self.fair_share.admit(request.account_id):
            return await self._checking_keys(submit, lambda found: retried_submit(found, request))

    async def submit_list(
        self,
        contingency: ContingencyType,
        list_client_id: str,
        requests: list[OrderRequest],
        principal: Principal,
    ) -> list[Order]:
        """Accept a contingent list; a retry (the same client_order_ids) returns the
        orders made first, from memory or the store."""
        checks: dict[Key, KeyCheck] = {}
        submit = self.commands.submit_list
        with self.fair_share.admit(requests[0].account_id if requests else principal.subject):
            while True:
                action = functools.partial(
                    submit, contingency, list_client_id, requests, principal, dict(checks)
                )
                try:
                    result: list[Order] = await self.writer.call(action)
                    return result
                except NeedsKeyLookup as needed:
                    check, existing = await self._look_up_key(needed.key)
                    if existing is not None:
                        return await self._stored_list(existing, requests)
                    checks[needed.key] = check
                except NeedsStoreRead as missing:
                    stored = await self.store.get_order(missing.order_id)
                    if stored is None:  # pragma: no cover - the key is only known once stored
                        raise NotFoundError(f"order {missing.order_id} not found") from None
                    return await self._stored_list(stored, requests)

    async def _stored_list(self, existing: Order, requests: list[OrderRequest]) -> list[Order]:
        """The members of the stored list ``existing`` belongs to, for a retried list."""
        members = await self.store.list_members([existing.list_id]) if existing.list_id else []
        by_key = {m.client_order_id: m for m in members}
        wanted = [by_key.get(r.client_order_id) for r in requests]
        if any(m is None for m in wanted):
            raise AlreadyExistsError(
                f"client_order_id {existing.client_order_id!r} is already used by order "
                f"{existing.order_id}",
                reason="DUPLICATE_CLIENT_ORDER_ID",
            )
        found = [await self.get_order(m.order_id) or m for m in wanted if m is not None]
        return [retried_submit(o, r) for o, r in zip(found, requests, strict=True)]

    async def _load_lists(self) -> None:
        """Members of every list with a working order (finished ones from the store)."""
        live = self.commands.live
        list_ids = sorted({o.list_id for o in live.working.values() if o.list_id})
        if not list_ids:
            return
        members = [live.get(m.order_id) or m for m in await self.store.list_members(list_ids)]
        self.commands.lists.load(members)

    async def cancel(self, order_id: str, principal: Principal) -> Order:
        """Ask for the unfilled rest of an order to be cancelled."""
        return await self._call(functools.partial(self.commands.cancel, order_id, principal))

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
            self.commands.replace, order_id, principal, quantity, limit_price, client_order_id
        )
        working = self.commands.live.get(order_id)
        try:
            with self.fair_share.admit(working.account_id if working else principal.subject):
                return await self._checking_keys(
                    replace, lambda found: earlier_replacement(found, order_id, client_order_id)
                )
        except (NotFoundError, FailedPreconditionError):
            if not client_order_id:
                raise
            done = await self._stored_replacement(order_id, principal, client_order_id)
            if done is None:
                raise
            return done

    async def get_order(self, order_id: str) -> Order | None:
        """The order as far as it is durable: never a state whose commit is still pending.

        The snapshot is taken in the writer task and handed out once its batch (and so
        every change before it) is committed; an order not in memory comes from the store.
        """
        snapshot = await self._call(functools.partial(self.commands.live.snapshot, order_id))
        return snapshot or await self.store.get_order(order_id)

    def cached_order(self, order_id: str) -> Order | None:
        """A snapshot of a working or recently finished order, if in memory."""
        return self.commands.live.snapshot(order_id)

    def working_orders(self) -> list[Order]:
        return [copy.copy(o) for o in self.commands.live]

    def working_states(self) -> dict[str, int]:
        """Number of working orders per state."""
        return self.commands.live.states()

    # -- accounts and the kill switch ---------------------------------------------------

    async def create_account(self, account_id: str) -> Account:
        return await self._call(functools.partial(self.commands.create_account, account_id))

    async def deposit(self, account_id: str, amount: Decimal) -> Account:
        return await self._call(functools.partial(self.commands.deposit, account_id, amount))

    async def set_risk_limits(
        self, account_id: str, limits: RiskLimits, names: frozenset[str] = frozenset()
    ) -> Account:
        """Change the limits ``names`` names to their values in ``limits`` (none: all)."""
        return await self._call(
            functools.partial(self.commands.set_risk_limits, account_id, limits, names)
        )

    def account(self, account_id: str) -> Account:
        """A snapshot of an account (NotFoundError if there is none)."""
        return self.commands.account(account_id)

    def find_account(self, account_id: str) -> Account | None:
        return self.commands.accounts.find(account_id)

    def account_count(self) -> int:
        return self.commands.accounts.count

    def account_ids(self) -> list[str]:
        """Every account's id, sorted."""
        return self.commands.accounts.ids()

    async def halt(self, account_id: str | None, principal: Principal, reason: str) -> int:
        """Refuse new orders of ``account_id`` (all when None) and cancel its working ones."""
        canceled = await self._call(
            functools.partial(self.commands.halt, account_id, principal, reason)
        )
        log.warning(
            "trading halted for %s by %s: %d orders canceled",
            account_id or "every account",
            principal.subject,
            canceled,
            extra={"account_id": account_id or ""},
        )
        return int(canceled)

    async def cancel_all(
        self, account_id: str, principal: Principal, symbol: str = "", side: Side | None = None
    ) -> int:
        """Mass cancel the working orders of ``account_id`` (of ``symbol``/``side`` if
        given); answers how many a cancel was started for."""
        canceled = await self._call(
            functools.partial(self.commands.cancel_all, account_id, principal, symbol, side)
        )
        log.info(
            "mass cancel of %s by %s: %d orders",
            account_id,
            principal.subject,
            canceled,
            extra={"account_id": account_id},
        )
        return int(canceled)

    async def resume(self, account_id: str | None, principal: Principal) -> None:
        """Allow trading again after a halt."""
        await self._call(functools.partial(self.commands.resume, account_id))
        log.warning(
            "trading resumed for %s by %s",
            account_id or "every account",
            principal.subject,
            extra={"account_id": account_id or ""},
        )

    def halted(self, account_id: str) -> str | None:
        """Why ``account_id`` may not trade, or None."""
        return self.commands.risk.halted(account_id)

    def marks(self, symbols: Iterable[str]) -> dict[str, Decimal | None]:
        """The price each symbol's positions are marked at: the consolidated mid (the
        risk checks' reference price), None when there is none."""
        routing, known = self.commands.routing, self.commands.instruments
        return {s: routing.reference_price(s) if s in known else None for s in symbols}

    # -- ExecutionSink: what venue connectors feed --------------------------------------

    async def apply_venue_reports(self, reports: list[VenueReport]) -> None:
        """Apply venue execution reports; returns once their effects are stored."""
        await self.writer.call(
            functools.partial(self.commands.apply_venue_reports, reports), wait_for_room=True
        )

    async def reconcile(self, venue: str, statuses: Mapping[str, VenueOrderStatus | None]) -> None:
        """Settle children with what their venue says of them (None: it did not know)."""
        await self.writer.call(
            functools.partial(self.commands.reconcile, venue, statuses), wait_for_room=True
        )

    def stale_children(self) -> list[ChildOrder]:
        """Snapshots of open children unanswered for longer than the ack timeout."""
        return self.commands.stale_children()

    def open_children(self) -> list[ChildOrder]:
        """Snapshots of every open child."""
        return self.commands.open_children()

    def sweep_slice(self, limit: int) -> list[ChildOrder]:
        """Snapshots of the next ``limit`` open children of a sweep that visits each in
        turn (see ParentRouting.sweep_slice)."""
        return self.commands.sweep_slice(limit)

    def working_children(self, venue: str) -> int:
        return self.commands.routing.working_children(venue)

    def on_book(self, book: VenueBook) -> None:
        """A venue's book changed: route the stop orders it triggers."""
        if self.commands.routing.has_stops(book.symbol) and self.writer.running:
            self._spawn(self.trigger_stops(book.symbol), f"stops-{book.symbol}")

    async def trigger_stops(self, symbol: str) -> int:
        """Route the stop orders of ``symbol`` whose stop price traded."""
        return int(await self._call(functools.partial(self.commands.trigger_stops, symbol)))

    # -- timers --------------------------------------------------------------------------

    async def run_timers(self) -> int | None:
        """Expire what is due and route what waited for the open; returns when this is
        next due on the engine's clock (ns), or None."""
        due: int | None = await self._call(self.commands.run_timers)
        return due

    async def _run_timers_when_due(self) -> None:
        """Run the timers whenever they are due, for as long as the writer runs."""
        while self.writer.running and not self._timers_stopping:
            self._timer_wake.clear()  # before the run: a deadline it adds wakes the wait
            try:
                due = await self.run_timers()
            except Exception:  # one failed run must not end expiry for good
                if not self.writer.running:
                    return  # the writer ended: its owner reports why, once
                log.exception("engine timers failed; trying again")
                due = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wake.wait(), self._wait_s(due))

    def _wait_s(self, due_ns: int | None) -> float:
        """Seconds until ``due_ns`` on the engine's clock, at most TIMER_MAX_WAIT_S."""
        if due_ns is None:
            return TIMER_MAX_WAIT_S
        return min(max(due_ns - self.clock(), 0) / NS_PER_S, TIMER_MAX_WAIT_S)

    # -- reads for metrics ---------------------------------------------------------------

    @property
    def stats(self) -> CommandStats:
        return self.commands.stats

    @property
    def refused(self) -> dict[str, int]:
        return self.writer.stats.refused

    @property
    def commits(self) -> int:
        return self.writer.stats.commits

    @property
    def routing(self) -> Routing:
        return self.commands.routing

    @property
    def client_ids(self) -> ClientOrderIds:
        """The idempotency-key index (read-only use: metrics)."""
        return self.commands.keys.keys

    def _spawn(self, coro: Coroutine[object, object, object], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- store look-ups around commands --------------------------------------------------

    async def _call(self, action: Callable[[], _T]) -> _T:
        """Run ``action`` on the writer; a stored order it needs is read here first."""
        try:
            result: _T = await self.writer.call(action)
            return result
        except NeedsStoreRead as missing:
            order = await self.store.get_order(missing.order_id)
            if order is None:  # pragma: no cover - the key is only known once stored
                raise NotFoundError(f"order {missing.order_id} not found") from None
            return missing.then(order)  # type: ignore[return-value]  # then() answers as the command would

    async def _checking_keys(
        self,
        command: Callable[[KeyCheck | None], Order],
        stored: Callable[[Order], Order],
    ) -> Order:
        """Run ``command``; while it needs an idempotency key looked up, look it up in the
        store and run it again. An order the store holds for the key goes to ``stored``."""
        checked: KeyCheck | None = None
        while True:
            try:
                return await self._call(functools.partial(command, checked))
            except NeedsKeyLookup as needed:
                checked, existing = await self._look_up_key(needed.key)
                if existing is not None:
                    return stored(existing)

    async def _look_up_key(self, key: Key) -> tuple[KeyCheck, Order | None]:
        """Ask the store for the order of an idempotency key no longer held in memory.

        The eviction count is read first: if keys were evicted after it, the answer may
        be stale, and the command that receives the check asks again.
        """
        evictions = self.client_ids.evictions
        self.stats.key_lookups += 1
        order_id = await self.store.order_id_for_client_id(*key)
        order = await self.get_order(order_id) if order_id is not None else None
        return KeyCheck(key, evictions), order

    async def _stored_replacement(
        self, order_id: str, principal: Principal, client_order_id: str
    ) -> Order | None:
        """A replacement made earlier with this client_order_id, even if only in the store."""
        original = await self.get_order(order_id)
        if original is None or not principal.can_act_for(original.account_id):
            return None
        key = (original.account_id, client_order_id)
        existing_id = self.client_ids.get(key)
        if existing_id is not None:
            existing = await self.get_order(existing_id)
        elif self.client_ids.may_be_older(key):
            _, existing = await self._look_up_key(key)
        else:
            return None
        if existing is not None and existing.replaces_order_id == order_id:
            return existing
        return None
