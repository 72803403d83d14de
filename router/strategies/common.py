"""Pieces every strategy shares: routable venues, net prices, lot arithmetic, takes and rests.

Displayed sizes are used in whole lots: at each level a venue offers the lots that its
cumulative size up to that level adds (so 150 then 150 with a lot of 100 gives 100 at
the first level and 200 at the second). Every slice is then a whole number of lots.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from oms_server.domain.decimals import BPS_PER_UNIT, EXACT, ZERO, average_price, fmt
from oms_server.domain.enums import OrderType, Side, TimeInForce
from router.book import VenueBook, VenueInfo
from router.plan import ChildPlan, ParentSpec, Purpose, RoutingPlan

#: Reason of a FOK parent whose quantity is not all takeable within its limit.
FOK_REASON = "cannot be filled in full"
#: Reason of a plan made when no venue is healthy and known with a book.
NO_VENUE_REASON = "no healthy venue"
#: Reasons of a plan that can take nothing and rest nothing: a limit parent, a market one.
NO_LIQUIDITY_AT_LIMIT = "no liquidity at the limit"
NO_LIQUIDITY = "no liquidity"


@dataclass(frozen=True, slots=True)
class Slice:
    """Whole lots available at one price level of one venue, with the fee-adjusted price."""

    venue: str
    price: Decimal
    net_price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class Market:
    """The venues a strategy may use: healthy, known, with a book for the symbol."""

    books: Mapping[str, VenueBook]
    venues: Mapping[str, VenueInfo]

    @classmethod
    def of(cls, books: Mapping[str, VenueBook], venues: Mapping[str, VenueInfo]) -> Market:
        names = sorted(name for name in books if name in venues and venues[name].healthy)
        return cls({n: books[n] for n in names}, {n: venues[n] for n in names})

    def slices(self, parent: ParentSpec, exclude: Iterable[str] = ()) -> dict[str, list[Slice]]:
        """Per venue, the lot-rounded slices within the parent's limit, best first."""
        skip = set(exclude)
        by_venue = {
            name: venue_slices(book, self.venues[name], parent)
            for name, book in self.books.items()
            if name not in skip
        }
        return {name: slices for name, slices in by_venue.items() if slices}

    def rest_venue(self) -> str | None:
        """Venue best for resting: highest maker rebate, then lowest latency, then name."""
        ranked = sorted(
            self.venues.values(), key=lambda v: (-v.maker_rebate_bps, v.latency_ms, v.name)
        )
        return ranked[0].name if ranked else None


def net_price(price: Decimal, side: Side, taker_fee_bps: Decimal) -> Decimal:
    """Price after the taker fee: more for a buyer to pay, less for a seller to receive."""
    return EXACT.multiply(price, _fee_factor(side.sign, taker_fee_bps))


@functools.lru_cache(maxsize=256)
def _fee_factor(sign: int, taker_fee_bps: Decimal) -> Decimal:
    """1 plus (buy) or minus (sell) the fee as a fraction: venues have a handful of fees."""
    return EXACT.add(1, EXACT.divide(sign * taker_fee_bps, BPS_PER_UNIT))


def within_limit(price: Decimal, parent: ParentSpec) -> bool:
    """True when ``price`` is not worse than the parent's limit (always, without one)."""
    if not parent.is_limit or parent.limit_price is None:
        return True
    return price <= parent.limit_price if parent.side is Side.BUY else price >= parent.limit_price


def floor_to_lot(quantity: Decimal, lot: Decimal) -> Decimal:
    """Largest whole number of lots not above ``quantity`` (never negative)."""
    if quantity <= ZERO:
        return ZERO
    if lot <= ZERO:
        return quantity
    return EXACT.multiply(EXACT.divide_int(quantity, lot), lot)


def venue_slices(book: VenueBook, info: VenueInfo, parent: ParentSpec) -> list[Slice]:
    """The levels of ``book`` the parent may take, within its limit, in whole lots."""
    slices: list[Slice] = []
    cumulative = offered = ZERO
    for level in book.levels_to_take(parent.side):
        if not within_limit(level.price, parent):
            break
        cumulative += max(level.size, ZERO)
        lots = floor_to_lot(cumulative, parent.lot_size) - offered
        if lots > ZERO:
            net = net_price(level.price, parent.side, info.taker_fee_bps)
            slices.append(Slice(info.name, level.price, net, lots))
            offered += lots
    return slices


def walk(slices: Iterable[Slice], quantity: Decimal) -> list[tuple[Slice, Decimal]]:
    """Take from ``slices`` in the order given until ``quantity`` is covered."""
    taken: list[tuple[Slice, Decimal]] = []
    remaining = quantity
    for piece in slices:
        if remaining <= ZERO:
            break
        qty = min(piece.quantity, remaining)
        taken.append((piece, qty))
        remaining -= qty
    return taken


def take_child(
    venue: str,
    taken: list[tuple[Slice, Decimal]],
    side: Side,
    limit_price: Decimal | None = None,
) -> ChildPlan:
    """One IOC limit child for everything taken at ``venue``, limited at ``limit_price``
    (by default the worst price taken)."""
    quantity = sum((qty for _, qty in taken), ZERO)
    notional = sum((piece.price * qty for piece, qty in taken), ZERO)
    if limit_price is None:
        prices = [piece.price for piece, _ in taken]
        limit_price = max(prices) if side is Side.BUY else min(prices)
    return ChildPlan(
        venue=venue,
        quantity=quantity,
        limit_price=limit_price,
        time_in_force=TimeInForce.IOC,
        order_type=OrderType.LIMIT,
        expected_price=average_price(notional, quantity),
        purpose=Purpose.TAKE,
    )


def is_dust(quantity: Decimal, parent: ParentSpec) -> bool:
    """True for a positive child below the minimum size that is not the whole quantity."""
    return ZERO < quantity < parent.min_child and quantity != parent.quantity


def finish(parent: ParentSpec, takes: list[ChildPlan], market: Market, what: str) -> RoutingPlan:
    """Complete a plan from its taking children: FOK check, then rest or leave the remainder."""
    taken = sum((child.quantity for child in takes), ZERO)
    remaining = parent.quantity - taken
    if parent.time_in_force is TimeInForce.FOK and remaining > ZERO:
        return RoutingPlan.empty(parent.quantity, FOK_REASON)
    rest = _rest_child(parent, floor_to_lot(remaining, parent.lot_size), market)
    children = (*takes, rest) if rest is not None else tuple(takes)
    unrouted = parent.quantity - taken - (rest.quantity if rest is not None else ZERO)
    if not children:
        return RoutingPlan.empty(unrouted, _no_liquidity(parent))
    return RoutingPlan(children, unrouted, _reason(what, takes, rest, unrouted))


def plan_rest(
    parent: ParentSpec, books: Mapping[str, VenueBook], venues: Mapping[str, VenueInfo]
) -> RoutingPlan:
    """Rest the whole quantity at the best venue for resting, taking nothing first (a
    limit that crosses takes at that venue on arrival and rests the rest)."""
    market = Market.of(books, venues)
    if not market.venues:
        return RoutingPlan.empty(parent.quantity, NO_VENUE_REASON)
    return finish(parent, [], market, "rest")


def _rest_child(parent: ParentSpec, quantity: Decimal, market: Market) -> ChildPlan | None:
    """A resting child for a DAY/GTC limit remainder at the best venue for resting."""
    rests = parent.is_limit and parent.time_in_force.rests
    if not rests or quantity <= ZERO or is_dust(quantity, parent):
        return None
    venue = market.rest_venue()
    if venue is None:
        return None
    return ChildPlan(
        venue=venue,
        quantity=quantity,
        limit_price=parent.limit_price,
        time_in_force=parent.time_in_force,
        order_type=OrderType.LIMIT,
        expected_price=parent.limit_price,
        purpose=Purpose.REST,
    )


def _no_liquidity(parent: ParentSpec) -> str:
    return NO_LIQUIDITY_AT_LIMIT if parent.is_limit else NO_LIQUIDITY


def _reason(what: str, takes: list[ChildPlan], rest: ChildPlan | None, unrouted: Decimal) -> str:
    parts = [f"{what}: take at {len(takes)} venue(s)"]
    if rest is not None:
        parts.append(f"rest at {rest.venue}")
    if unrouted > ZERO:
        parts.append(f"{fmt(unrouted)} unrouted")
    return "; ".join(parts)
