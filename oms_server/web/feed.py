"""The operator page's live feed: every visible account's reports on one event stream.

One Server-Sent Events stream carries the execution reports of every account the caller
may see (a trader: its token's accounts; an admin: every account, new ones included), each
account replayed and followed by ``report_batches`` like StreamExecutionReports. The event
id is a cursor, the last sequence seen of each account (``ACC1:12,ACC2:7``), so a browser
that reconnects with ``Last-Event-ID`` resumes every account where it left off. Between
reports, snapshots that are not journaled (accounts with positions and P&L, venues with
their breakers and quote ages) come every ``snapshot_interval_s``, without an id.
"""

from __future__ import annotations

import asyncio
import json
import time
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote, unquote

from sse_starlette import ServerSentEvent

from oms_server.domain.access import Principal
from oms_server.domain.enums import ExecType
from oms_server.domain.errors import OmsError
from oms_server.domain.instruments import Instrument
from oms_server.domain.reports import ExecutionReport
from oms_server.engine.engine import OrderEngine
from oms_server.engine.hub import ReportHub
from oms_server.engine.ports import OrderHistory, VenueDirectory
from oms_server.engine.report_stream import report_batches

#: Reports a page gets of each account when it first connects (no Last-Event-ID): the
#: latest ones, enough for today's blotter, not the whole journal.
INITIAL_REPORTS = 2000
#: Most accounts one page follows (an admin's: the first ones by id); the page says so.
MAX_PAGE_ACCOUNTS = 100
#: Most reports in one event.
MAX_EVENT_BATCH = 500
#: Batches waiting for the browser, across accounts, before the producers wait.
QUEUED_BATCHES = 64
#: Milliseconds a browser waits before it reconnects (the SSE ``retry`` field).
RETRY_MS = 1000
NS_PER_S = 1_000_000_000


def format_cursor(sequences: Mapping[str, int]) -> str:
    """The event id of a stream position: ``ACC1:12,ACC2:7`` (account ids URL-quoted)."""
    return ",".join(f"{quote(a, safe='')}:{n}" for a, n in sorted(sequences.items()))


def parse_cursor(text: str) -> dict[str, int]:
    """The per-account sequences of an event id; ValueError if it is not one."""
    sequences: dict[str, int] = {}
    for part in filter(None, text.strip().split(",")):
        account, sep, number = part.rpartition(":")
        if not sep or not account or not number.isdigit():
            raise ValueError(f"not a feed position: {text!r}")
        sequences[unquote(account)] = int(number)
    return sequences


@dataclass(frozen=True, slots=True)
class FeedSources:
    """What the feed reads: the engine, the journal, the report hub and the venues."""

    engine: OrderEngine
    history: OrderHistory
    hub: ReportHub
    venues: VenueDirectory
    instruments: Mapping[str, Instrument]


class OperatorFeed:
    """The event stream of one page: reports of the caller's accounts, then snapshots.

    It ends at ``until`` (Unix seconds: when the caller's token expires), on ``close``,
    or when an account's replay fails (a subscriber too slow): the browser reconnects.
    """

    def __init__(
        self,
        sources: FeedSources,
        principal: Principal,
        resume_from: Mapping[str, int] | None,
        *,
        until: float = float("inf"),
        snapshot_interval_s: float = 1.0,
    ) -> None:
        self._sources = sources
        self._principal = principal
        self._resume_from = resume_from
        self._interval_s = snapshot_interval_s
        self._cursor: dict[str, int] = {}
        self._queue: asyncio.Queue[tuple[str, list[ExecutionReport]] | BaseException] = (
            asyncio.Queue(QUEUED_BATCHES)
        )
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._closed = asyncio.Event()
        self._until = until

    def close(self) -> None:
        """End the stream (the browser reconnects and resumes): server stop, or a drop."""
        self._closed.set()

    def accounts(self) -> list[str]:
        """The accounts this page shows (an admin's grow as accounts are opened)."""
        engine = self._sources.engine
        if self._principal.is_admin:
            return engine.account_ids()[:MAX_PAGE_ACCOUNTS]
        mine = sorted(a for a in self._principal.accounts if engine.find_account(a) is not None)
        return mine[:MAX_PAGE_ACCOUNTS]

    def accounts_total(self) -> int:
        """How many accounts the caller may see (more than shown past MAX_PAGE_ACCOUNTS)."""
        engine = self._sources.engine
        if self._principal.is_admin:
            return engine.account_count()
        return sum(1 for a in self._principal.accounts if engine.find_account(a) is not None)

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        """The stream: hello, then reports as they commit and snapshots every interval."""
        try:
            self._follow_new_accounts()
            yield self._hello()
            next_snapshot = 0.0
            while True:
                now = time.monotonic()
                if now >= next_snapshot:
                    self._follow_new_accounts()
                    yield self._accounts_event()
                    yield self._venues_event()
                    next_snapshot = now + self._interval_s
                item = await self._next(next_snapshot - now)
                if item is None:
                    if self._closed.is_set() or time.time() >= self._until:
                        return  # the browser reconnects (and a stale token is refused)
                    continue
                if isinstance(item, BaseException):
                    # the browser reconnects with its last id and resumes (e.g. SLOW_CONSUMER)
                    yield _error_event(item)
                    return
                account, batch = item
                self._cursor[account] = batch[-1].sequence
                yield ServerSentEvent(
                    json.dumps([self._report(r) for r in batch]),
                    event="reports",
                    id=format_cursor(self._cursor),
                )
        finally:
            for task in self._followers.values():
                task.cancel()
            await asyncio.gather(*self._followers.values(), return_exceptions=True)

    async def _next(
        self, timeout_s: float
    ) -> tuple[str, list[ExecutionReport]] | BaseException | None:
        """The next queued batch, or None after ``timeout_s`` or once closed."""
        if self._closed.is_set():
            return None
        getting = asyncio.ensure_future(self._queue.get())
        closing = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait(
                (getting, closing), timeout=max(timeout_s, 0), return_when=FIRST_COMPLETED
            )
        finally:
            closing.cancel()
            if not getting.done():
                getting.cancel()
        return getting.result() if getting.done() and not getting.cancelled() else None

    # -- reports --------------------------------------------------------------------------

    def _follow_new_accounts(self) -> None:
        for account in self.accounts():
            if account not in self._followers:
                after = self._start_after(account)
                self._cursor[account] = after
                self._followers[account] = asyncio.create_task(
                    self._follow(account, after), name=f"operator-feed-{account}"
                )

    def _start_after(self, account: str) -> int:
        head = self._sources.hub.last_sequence(account)
        if self._resume_from is None:
            return max(0, head - INITIAL_REPORTS)
        # an account missing from a resumed cursor is new since: all of it
        return min(self._resume_from.get(account, 0), head)

    async def _follow(self, account: str, after: int) -> None:
        s = self._sources
        try:
            async for batch in report_batches(s.hub, s.history, account, after, MAX_EVENT_BATCH):
                await self._queue.put((account, batch))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._queue.put(exc)

    def _report(self, r: ExecutionReport) -> dict[str, object]:
        instrument = self._sources.instruments.get(r.symbol)
        return {
            "account_id": r.account_id,
            "sequence": r.sequence,
            "order_id": r.order_id,
            "client_order_id": r.client_order_id,
            "symbol": r.symbol,
            "side": r.side.value,
            "exec_type": r.exec_type.value,
            "state": r.order_state.value,
            "fill": r.exec_type is ExecType.TRADE,
            "last_qty": _qty(r.last_qty, instrument),
            "last_price": _price(r.last_price, instrument) if r.last_qty else "",
            "venue": r.last_venue,
            "quantity": _qty(r.cum_qty + r.leaves_qty, instrument),
            "cum_qty": _qty(r.cum_qty, instrument),
            "leaves_qty": _qty(r.leaves_qty, instrument),
            "avg_price": _avg_price(r.avg_price, instrument) if r.cum_qty else "",
            "text": r.text,
            "time": _clock(r.transact_ns),
        }

    # -- snapshots ------------------------------------------------------------------------

    def _hello(self) -> ServerSentEvent:
        p = self._principal
        data = {
            "subject": p.subject,
            "role": p.role.value,
            "admin": p.is_admin,
            "accounts_shown": len(self.accounts()),
            "accounts_total": self.accounts_total(),
        }
        return ServerSentEvent(json.dumps(data), event="hello", retry=RETRY_MS)

    def _accounts_event(self) -> ServerSentEvent:
        engine = self._sources.engine
        rows = []
        for account_id in self.accounts():
            account = engine.find_account(account_id)
            if account is None:
                continue
            marks = engine.marks(account.positions)
            positions = []
            for symbol, position in sorted(account.positions.items()):
                if position.quantity == 0 and position.realized_pnl == 0:
                    continue
                instrument = self._sources.instruments.get(symbol)
                mark = marks.get(symbol)
                unrealized = position.unrealized_pnl(mark)
                positions.append(
                    {
                        "symbol": symbol,
                        "quantity": _qty(position.quantity, instrument),
                        "average_cost": _avg_price(position.average_cost, instrument),
                        "mark": "" if mark is None else _price(mark, instrument),
                        "realized_pnl": _money(position.realized_pnl),
                        "unrealized_pnl": "" if unrealized is None else _money(unrealized),
                    }
                )
            rows.append(
                {
                    "account_id": account_id,
                    "cash": _money(account.cash),
                    "buying_power": _money(account.buying_power),
                    "halted": engine.halted(account_id) or "",
                    "positions": positions,
                }
            )
        return ServerSentEvent(json.dumps(rows), event="accounts")

    def _venues_event(self) -> ServerSentEvent:
        s = self._sources
        now_ns = time.time_ns()
        published: dict[str, int] = {}
        excluded: dict[str, str] = {}
        for symbol in s.instruments:
            sources = s.venues.quote_sources(symbol)
            for book in sources.used:
                venue = book.book.venue
                published[venue] = max(published.get(venue, 0), book.published_ns)
            for left_out in sources.excluded:
                excluded.setdefault(left_out.venue, left_out.reason)
        rows = []
        for status in s.venues.venue_statuses():
            newest = published.get(status.name)
            rows.append(
                {
                    "name": status.name,
                    "breaker": status.breaker.value,
                    "failures": status.consecutive_failures,
                    "working": s.engine.working_children(status.name),
                    "quote_age_ms": "" if newest is None else str((now_ns - newest) // 1_000_000),
                    "note": "" if newest is not None else excluded.get(status.name, "no book"),
                }
            )
        return ServerSentEvent(json.dumps(rows), event="venues")


def _error_event(exc: BaseException) -> ServerSentEvent:
    message = exc.message if isinstance(exc, OmsError) else "the feed stopped; reconnecting"
    return ServerSentEvent(json.dumps({"message": message}), event="feed-error")


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _fixed(value: Decimal, places: int) -> str:
    return f"{value:,.{places}f}"


def _price(value: Decimal, instrument: Instrument | None) -> str:
    return _fixed(value, _places(instrument.tick_size) if instrument else 2)


def _avg_price(value: Decimal, instrument: Instrument | None) -> str:
    return _fixed(value, (_places(instrument.tick_size) if instrument else 2) + 2)


def _qty(value: Decimal, instrument: Instrument | None) -> str:
    return _fixed(value, _places(instrument.lot_size) if instrument else 0)


def _money(value: Decimal) -> str:
    return _fixed(value, 2)


def _clock(ns: int) -> str:
    """HH:MM:SS.mmm UTC of a Unix-nanosecond time."""
    seconds, rest = divmod(ns, NS_PER_S)
    return time.strftime("%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1_000_000:03d}"
