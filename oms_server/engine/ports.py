"""The engine's ports: what it needs from adapters, and what it offers them.

Adapters (the NATS venue connector, the store, the gRPC services) implement or call
these protocols; the engine imports no adapter. Everything here is plain domain values.

- ``VenuePort``: what the engine needs from the venue side (books, venue health, the
  outbound order path).
- ``VenueDirectory``: what the API reads about venues (health, books, book updates).
- ``OrderStore``: the journal the engine commits to and rebuilds from.
- ``ExecutionSink``: what the engine offers the venue side (reports in, reconciliation).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, TypeVar

from oms_server.domain.accounts import Account
from oms_server.domain.child import ChildOrder, VenueOrderStatus, VenueReport
from oms_server.domain.enums import OrderState
from oms_server.domain.executions import Execution
from oms_server.domain.order import Order
from oms_server.domain.reports import ExecutionReport
from router.book import VenueBook, VenueInfo
from router.circuit_breaker import BreakerState
from router.freshness import QuoteSources

# -- needed from the venue side ----------------------------------------------------------


class VenuePort(Protocol):
    """Market data, venue health and the outbound order path."""

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        """The latest book of ``symbol`` at every venue that published one."""
        ...

    @property
    def publishes_books(self) -> bool:
        """Whether any of these venues publishes market data (FIX venues do not)."""
        ...

    def venue_infos(self) -> Mapping[str, VenueInfo]:
        """Every venue with its fees, latency and routability (circuit breaker)."""
        ...

    def send_new(self, child: ChildOrder) -> None:
        """Send a new child order; called only after the child is stored."""
        ...

    def send_cancel(self, child: ChildOrder) -> None:
        """Ask the venue to cancel a child's rest."""
        ...


@dataclass(frozen=True, slots=True)
class VenueStatus:
    """One venue as operators see it."""

    name: str
    breaker: BreakerState
    consecutive_failures: int
    taker_fee_bps: Decimal
    maker_rebate_bps: Decimal


class VenueDirectory(Protocol):
    """What the API serves about venues: health, books and book updates."""

    def venue_statuses(self) -> Sequence[VenueStatus]:
        """Every configured venue with its circuit-breaker state."""
        ...

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        """The latest book of ``symbol`` at every venue that published one."""
        ...

    def quote_sources(self, symbol: str) -> QuoteSources:
        """The books of ``symbol`` a quote uses now (with their times), and the venues
        left out and why (a book too old, a circuit breaker not closed)."""
        ...

    def add_book_listener(self, listener: Callable[[VenueBook], None]) -> None:
        """Call ``listener(book)`` for every book update, and when a book is left out."""
        ...


class NoVenueDirectory:
    """The directory of an OMS without venues: nothing to list, no books."""

    def venue_statuses(self) -> Sequence[VenueStatus]:
        return ()

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        return {}

    def quote_sources(self, symbol: str) -> QuoteSources:
        return QuoteSources()

    def add_book_listener(self, listener: Callable[[VenueBook], None]) -> None:
        return None


# -- needed from the store ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Halt:
    """A halted scope (an account id, or every account) and why."""

    scope: str
    reason: str
    halted_by: str
    halted_ns: int


@dataclass(frozen=True, slots=True)
class AppliedReport:
    """A venue report the engine applied, for the journal (the dedupe key of venue
    reports, and the fills ledger)."""

    report: VenueReport
    parent_order_id: str
    #: For a fill: the exec id of the parent's TRADE report it made ('' otherwise).
    fill_exec_id: str = ""


@dataclass(slots=True)
class ChangeSet:
    """Everything one batch of commands changed, as domain values, for one commit.

    Each dirty value is held with whether it is new to the store (insert, not update).
    """

    orders: dict[str, tuple[Order, bool]] = field(default_factory=dict)
    children: dict[str, tuple[ChildOrder, bool]] = field(default_factory=dict)
    events: list[ExecutionReport] = field(default_factory=list)
    #: Venue reports applied.
    executions: list[AppliedReport] = field(default_factory=list)
    accounts: dict[str, tuple[Account, bool, int]] = field(default_factory=dict)
    #: (account id, symbol) -> (account, is new): the position is read from the account.
    positions: dict[tuple[str, str], tuple[Account, bool]] = field(default_factory=dict)
    #: Halts set, with is-new; written after the deletes of ``resumed``.
    halts: dict[str, tuple[Halt, bool]] = field(default_factory=dict)
    #: Scopes resumed (their stored halt deleted) before the halts above were set.
    resumed: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(
            self.orders
            or self.children
            or self.events
            or self.executions
            or self.accounts
            or self.positions
            or self.halts
            or self.resumed
        )


class SealedChanges(Protocol):
    """A change set the store has encoded (its rows fixed), ready to commit."""

    def __bool__(self) -> bool: ...


Sealed = TypeVar("Sealed", bound=SealedChanges)


class OrderStore(Protocol[Sealed]):
    """The journal: the engine commits to it and rebuilds its live state from it.

    ``Sealed`` is the store's own encoding of a change set (its rows).
    """

    def seal(self, changes: ChangeSet) -> Sealed:
        """Encode ``changes`` now, before later commands change the same objects."""
        ...

    async def commit(self, sealed: Sealed) -> None:
        """Write a sealed change set in one transaction."""
        ...

    async def load_working_orders(self) -> list[Order]: ...

    async def list_members(self, list_ids: Sequence[str]) -> list[Order]:
        """Every order of the contingent lists ``list_ids``, finished ones too."""
        ...

    def client_order_ids(self) -> AsyncIterator[list[tuple[str, str, str]]]:
        """(account id, client order id, order id) of every order, oldest first, in chunks."""
        ...

    async def order_id_for_client_id(self, account_id: str, client_order_id: str) -> str | None: ...

    async def load_last_sequences(self) -> dict[str, int]: ...

    async def load_halts(self) -> list[Halt]: ...

    async def load_accounts(self) -> list[Account]:
        """Every account with its positions (reservations are rebuilt from orders)."""
        ...

    async def load_open_children(self) -> list[ChildOrder]: ...

    async def child_counts(self, parent_ids: Sequence[str]) -> dict[str, int]: ...

    async def get_order(self, order_id: str) -> Order | None: ...


class OrderHistory(Protocol):
    """The reads the API serves from the journal (orders and events no longer in memory)."""

    async def get_order(self, order_id: str) -> Order | None: ...

    async def list_orders(
        self,
        account_id: str,
        *,
        states: Sequence[OrderState] = (),
        symbol: str = "",
        limit: int,
        before: tuple[int, str] | None = None,
    ) -> list[Order]:
        """An account's orders, newest first, before the (created_ns, order_id) cursor."""
        ...

    async def order_events(self, order_id: str) -> list[ExecutionReport]: ...

    async def list_executions(
        self,
        account_id: str,
        *,
        order_id: str = "",
        symbol: str = "",
        limit: int,
        before: int | None = None,
    ) -> list[Execution]:
        """An account's fills, newest first, with report sequence below ``before``."""
        ...

    async def reports_after(
        self, account_id: str, after: int, *, limit: int, up_to: int | None = None
    ) -> list[ExecutionReport]:
        """An account's stored reports with sequence in (after, up_to], oldest first."""
        ...


# -- offered to the venue side -----------------------------------------------------------


class ExecutionSink(Protocol):
    """What the engine offers a venue connector: reports in, and reconciliation.

    The connector carries messages; what an unanswered child means (resend, give up,
    a lost cancel) is decided on the engine's side of this port.
    """

    async def apply_venue_reports(self, reports: list[VenueReport]) -> None:
        """Apply venue execution reports; returns once their effects are stored."""
        ...

    async def reconcile(self, venue: str, statuses: Mapping[str, VenueOrderStatus | None]) -> None:
        """Settle children with what their venue says of them (None: it did not know)."""
        ...

    def stale_children(self) -> list[ChildOrder]:
        """Snapshots of open children unanswered for longer than the ack timeout."""
        ...

    def open_children(self) -> list[ChildOrder]:
        """Snapshots of every open child."""
        ...

    def sweep_slice(self, limit: int) -> list[ChildOrder]:
        """Snapshots of the next ``limit`` open children of a sweep over all of them."""
        ...

    def working_children(self, venue: str) -> int:
        """How many open children ``venue`` holds."""
        ...

    def on_book(self, book: VenueBook) -> None:
        """A venue's book changed (stop triggers are checked)."""
        ...
