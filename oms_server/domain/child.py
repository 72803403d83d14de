"""Child orders (what the router sends to one venue) and the venue reports about them.

A child is the fold of its venue's reports. A report whose exec_id was already
applied is ignored here, once, for every caller; a fill that would overfill the
child is refused. A child is *done* only when the venue said it is finished and
every fill the venue counted has arrived, so a cancel seen before a late fill
never hides that fill.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum

from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import OrderType, PegType, Side, TimeInForce
from oms_server.domain.fills import Fill


class VenueExecType(StrEnum):
    NEW = "NEW"
    TRADE = "TRADE"
    CANCELED = "CANCELED"
    REPLACED = "REPLACED"
    REJECTED = "REJECTED"
    CANCEL_REJECTED = "CANCEL_REJECTED"
    REPLACE_REJECTED = "REPLACE_REJECTED"
    EXPIRED = "EXPIRED"


class ChildState(StrEnum):
    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        return self in _FINAL

    @property
    def rank(self) -> int:
        """Order of progress; a child's state never moves back to a lower rank."""
        return _RANK[self]


_FINAL = frozenset(
    {ChildState.FILLED, ChildState.CANCELED, ChildState.REJECTED, ChildState.EXPIRED}
)
_RANK = {
    ChildState.UNKNOWN: 0,
    ChildState.PENDING_NEW: 0,
    ChildState.NEW: 1,
    ChildState.PARTIALLY_FILLED: 2,
    ChildState.FILLED: 3,
    ChildState.CANCELED: 3,
    ChildState.REJECTED: 3,
    ChildState.EXPIRED: 3,
}


class Liquidity(StrEnum):
    NONE = ""
    MAKER = "MAKER"
    TAKER = "TAKER"


@dataclass(frozen=True, slots=True)
class VenueReport:
    """What a venue says about one child order."""

    venue: str
    exec_id: str
    child_order_id: str
    exec_type: VenueExecType
    status: ChildState
    last_qty: Decimal = ZERO
    last_price: Decimal = ZERO
    cum_qty: Decimal = ZERO
    leaves_qty: Decimal = ZERO
    fee: Decimal = ZERO
    liquidity: Liquidity = Liquidity.NONE
    text: str = ""
    transact_ns: int = 0
    venue_sequence: int = 0


@dataclass(frozen=True, slots=True)
class VenueOrderStatus:
    """What a venue says of one child it knows, when asked (reconciliation)."""

    child_order_id: str
    state: ChildState
    cum_qty: Decimal
    leaves_qty: Decimal
    #: The fills the venue made for the child, as execution reports.
    fills: tuple[VenueReport, ...] = ()


class ChildPurpose(StrEnum):
    """Why a child exists: to take displayed liquidity now, or to rest on a book."""

    TAKE = "take"
    REST = "rest"


@dataclass(slots=True)
class ChildOrder:
    """One order at one venue, on behalf of a parent."""

    child_order_id: str
    parent_order_id: str
    account_id: str
    venue: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    limit_price: Decimal | None
    purpose: ChildPurpose = ChildPurpose.TAKE
    state: ChildState = ChildState.PENDING_NEW
    cum_qty: Decimal = ZERO
    cum_notional: Decimal = ZERO
    fees: Decimal = ZERO
    venue_cum_qty: Decimal = ZERO
    venue_done: bool = False
    cancel_requested: bool = False
    text: str = ""
    created_ns: int = 0
    updated_ns: int = 0
    sent_ns: int = 0
    resends: int = 0
    exec_ids: set[str] = field(default_factory=set)
    #: A native iceberg child's shown size, kept by its venue (None: shows all of it).
    display_quantity: Decimal | None = None
    #: A native peg child's terms, kept by its venue (``limit_price`` is then its cap).
    peg_type: PegType | None = None
    peg_offset: Decimal | None = None

    def __copy__(self) -> ChildOrder:
        """The same shallow copy copy.copy makes, several times cheaper (reconciliation
        snapshots every open child it sweeps)."""
        return ChildOrder(*_child_values(self))

    @property
    def is_done(self) -> bool:
        """The venue finished it and every fill it counted is applied."""
        return self.venue_done and self.cum_qty >= self.venue_cum_qty

    @property
    def open_qty(self) -> Decimal:
        """Quantity that may still fill at the venue."""
        return ZERO if self.is_done else self.quantity - self.cum_qty

    def apply(self, report: VenueReport) -> Fill | None:
        """Apply a venue report once; return the new fill, if the report is one.

        Raises OverfillError for a fill beyond the child's quantity.
        """
        if report.exec_id in self.exec_ids:
            return None
        fill = self._fill_of(report)
        self.exec_ids.add(report.exec_id)
        self.venue_cum_qty = max(self.venue_cum_qty, report.cum_qty, self.cum_qty)
        if fill is not None:
            self.cum_qty += fill.quantity
            self.cum_notional += fill.quantity * fill.price
            self.fees += fill.fee
        self._advance(report)
        return fill

    def mark_unknown_to_venue(self, reason: str) -> None:
        """The venue never saw the child and will not: it ends rejected."""
        self.state = ChildState.REJECTED
        self.venue_done = True
        self.text = reason

    def _fill_of(self, report: VenueReport) -> Fill | None:
        if report.exec_type is not VenueExecType.TRADE or report.last_qty <= ZERO:
            return None
        if self.cum_qty + report.last_qty > self.quantity:
            raise OverfillError(
                f"fill {report.exec_id} of {report.last_qty} would overfill child "
                f"{self.child_order_id} ({self.cum_qty} of {self.quantity} filled)"
            )
        return Fill(report.last_qty, report.last_price, report.fee)

    def _advance(self, report: VenueReport) -> None:
        if report.text and report.exec_type is not VenueExecType.TRADE:
            self.text = report.text
        if report.status.is_final:
            self.venue_done = True
        target = report.status
        if self.cum_qty >= self.quantity:
            target = ChildState.FILLED
        if target.rank >= self.state.rank and not self.state.is_final:
            self.state = target


_child_values = operator.attrgetter(*(f.name for f in fields(ChildOrder)))


class OverfillError(ValueError):
    """A venue report that would fill a child beyond its quantity."""
