"""Execution quality of a parent: what it achieved against arrival and the best single venue.

Rounding: the achieved and single-venue prices are net of fees and rounded half-even to
8 places (``AVG_PRICE_PLACES``); the basis-point figures are computed from those rounded
prices and rounded half-even to 0.01 bp (``BPS_PLACES``). Positive bps always means
better for the parent: paid less on a buy, received more on a sell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from oms_server.domain.decimals import BPS_PER_UNIT, EXACT, ZERO, average_price
from oms_server.domain.enums import Side
from oms_server.domain.fills import Fill
from router.book import VenueBook, VenueInfo
from router.strategies.common import net_price

#: Places of the basis-point figures.
BPS_PLACES = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class SingleVenueOutcome:
    """What one venue's book alone would have given: quantity and net average price."""

    venue: str
    quantity: Decimal
    net_price: Decimal


@dataclass(frozen=True, slots=True)
class ExecutionQuality:
    """Execution-quality figures of one parent; None where there is nothing to compare."""

    arrival_price: Decimal | None
    filled_qty: Decimal
    average_net_price: Decimal | None
    best_single_venue: SingleVenueOutcome | None
    improvement_bps: Decimal | None
    arrival_bps: Decimal | None


def measure_execution(
    side: Side,
    arrival_price: Decimal | None,
    fills: Iterable[Fill],
    books: Mapping[str, VenueBook],
    venues: Mapping[str, VenueInfo],
    *,
    limit_price: Decimal | None = None,
) -> ExecutionQuality:
    """Execution quality of a parent from its fills and the books at routing time.

    ``arrival_price`` is the consolidated price the side would pay on arrival (see
    ``ConsolidatedBook.arrival_price``). ``improvement_bps`` compares the achieved net
    price with the best single healthy venue for the same quantity; ``arrival_bps``
    compares it with the arrival price.
    """
    fills = tuple(fills)
    filled = sum((f.quantity for f in fills), ZERO)
    achieved = achieved_net_price(side, fills)
    single = best_single_venue(side, filled, books, venues, limit_price=limit_price)
    return ExecutionQuality(
        arrival_price=arrival_price,
        filled_qty=filled,
        average_net_price=achieved,
        best_single_venue=single,
        improvement_bps=_bps_or_none(side, achieved, single.net_price if single else None),
        arrival_bps=_bps_or_none(side, achieved, arrival_price),
    )


def achieved_net_price(side: Side, fills: Iterable[Fill]) -> Decimal | None:
    """Average price net of fees: (notional + fees) / qty for buys, (notional - fees) for sells."""
    fills = tuple(fills)
    quantity = sum((f.quantity for f in fills), ZERO)
    if quantity <= ZERO:
        return None
    notional = sum((f.quantity * f.price for f in fills), ZERO)
    fees = sum((f.fee for f in fills), ZERO)
    return average_price(notional + side.sign * fees, quantity)


def best_single_venue(
    side: Side,
    quantity: Decimal,
    books: Mapping[str, VenueBook],
    venues: Mapping[str, VenueInfo],
    *,
    limit_price: Decimal | None = None,
) -> SingleVenueOutcome | None:
    """The best outcome of sending ``quantity`` to one healthy venue alone, net of its fee.

    Each venue's book is walked (within ``limit_price`` when given); the venue filling the
    most wins, ties going to the better net price, then the venue name. None when no
    healthy venue shows anything to take.
    """
    outcomes = [
        outcome
        for name, book in books.items()
        if (info := venues.get(name)) is not None and info.healthy
        if (outcome := single_venue_outcome(side, quantity, book, info, limit_price)) is not None
    ]
    if not outcomes:
        return None
    return min(outcomes, key=lambda o: (-o.quantity, side.sign * o.net_price, o.venue))


def single_venue_outcome(
    side: Side,
    quantity: Decimal,
    book: VenueBook,
    info: VenueInfo,
    limit_price: Decimal | None = None,
) -> SingleVenueOutcome | None:
    """Walk one venue's book for ``quantity``; None when it has nothing to take."""
    remaining, taken, notional = quantity, ZERO, ZERO
    for level in book.levels_to_take(side):
        if remaining <= ZERO or not _within(level.price, side, limit_price):
            break
        qty = min(max(level.size, ZERO), remaining)
        taken, notional, remaining = taken + qty, notional + qty * level.price, remaining - qty
    if taken <= ZERO:
        return None
    net_notional = net_price(notional, side, info.taker_fee_bps)  # the fee is linear
    return SingleVenueOutcome(info.name, taken, average_price(net_notional, taken))


def improvement_bps(side: Side, achieved: Decimal, reference: Decimal) -> Decimal:
    """How much better ``achieved`` is than ``reference``, in bp of the reference."""
    with localcontext(EXACT):
        better_by = (reference - achieved) * side.sign
        return (better_by / reference * BPS_PER_UNIT).quantize(BPS_PLACES, ROUND_HALF_EVEN)


def _bps_or_none(side: Side, achieved: Decimal | None, reference: Decimal | None) -> Decimal | None:
    if achieved is None or reference is None or reference == ZERO:
        return None
    return improvement_bps(side, achieved, reference)


def _within(price: Decimal, side: Side, limit: Decimal | None) -> bool:
    if limit is None:
        return True
    return price <= limit if side is Side.BUY else price >= limit
