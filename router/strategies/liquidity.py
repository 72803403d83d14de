"""LIQUIDITY: split the quantity across venues in proportion to their displayed depth."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext

from oms_server.domain.decimals import EXACT, ZERO
from router.book import VenueBook, VenueInfo
from router.plan import ChildPlan, ParentSpec, RoutingPlan
from router.strategies.common import (
    NO_VENUE_REASON,
    Market,
    Slice,
    finish,
    floor_to_lot,
    is_dust,
    take_child,
    walk,
)

NAME = "liquidity"


def plan_liquidity(
    parent: ParentSpec, books: Mapping[str, VenueBook], venues: Mapping[str, VenueInfo]
) -> RoutingPlan:
    """IOC children sized by each venue's depth within the limit, then rest or stop.

    Shares are rounded down to lots and the lots left over go one at a time to the
    deepest venues. A venue whose share would be dust is dropped (smallest share first)
    and the split redone. Each child is limited at the worst price within the parent's
    limit at its venue; its expected price is that of the levels its share would take.
    """
    market = Market.of(books, venues)
    if not market.venues:
        return RoutingPlan.empty(parent.quantity, NO_VENUE_REASON)
    return finish(parent, split(parent, market), market, NAME)


def split(parent: ParentSpec, market: Market) -> list[ChildPlan]:
    """The taking children of a depth-weighted split, deepest venue first."""
    excluded: set[str] = set()
    while True:
        per_venue = market.slices(parent, exclude=excluded)
        shares = _shares(parent, per_venue)
        dust = sorted((qty, venue) for venue, qty in shares.items() if is_dust(qty, parent))
        if not dust:
            return [_child(parent, per_venue[venue], qty) for venue, qty in shares.items()]
        excluded.add(dust[0][1])


def allocate(target: Decimal, depth: Mapping[str, Decimal], lot: Decimal) -> dict[str, Decimal]:
    """Split ``target`` over venues in proportion to ``depth``, in whole lots, deepest first.

    ``target`` must be a whole number of lots not above the total depth, and each depth a
    whole number of lots; no venue gets more than its depth.
    """
    total = sum(depth.values(), ZERO)
    deepest = sorted(depth, key=lambda venue: (-depth[venue], venue))
    if target <= ZERO or total <= ZERO:
        return {}
    with localcontext(EXACT):
        shares = {v: floor_to_lot(target * depth[v] / total, lot) for v in deepest}
    leftover = target - sum(shares.values(), ZERO)
    while leftover > ZERO and _hand_out_lots(shares, depth, deepest, lot, leftover) > ZERO:
        leftover = target - sum(shares.values(), ZERO)
    return {venue: qty for venue, qty in shares.items() if qty > ZERO}


def _hand_out_lots(
    shares: dict[str, Decimal],
    depth: Mapping[str, Decimal],
    deepest: list[str],
    lot: Decimal,
    leftover: Decimal,
) -> Decimal:
    """One pass giving a lot to each venue with room, deepest first; returns what was given."""
    given = ZERO
    for venue in deepest:
        if given + lot > leftover:
            break
        if shares[venue] + lot <= depth[venue]:
            shares[venue] += lot
            given += lot
    return given


def _shares(parent: ParentSpec, per_venue: Mapping[str, list[Slice]]) -> dict[str, Decimal]:
    depth = {venue: sum((s.quantity for s in slices), ZERO) for venue, slices in per_venue.items()}
    target = floor_to_lot(min(parent.quantity, sum(depth.values(), ZERO)), parent.lot_size)
    return allocate(target, depth, parent.lot_size)


def _child(parent: ParentSpec, slices: list[Slice], quantity: Decimal) -> ChildPlan:
    worst_within_limit = slices[-1].price
    return take_child(slices[0].venue, walk(slices, quantity), parent.side, worst_within_limit)
