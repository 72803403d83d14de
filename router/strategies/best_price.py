"""BEST_PRICE: sweep the consolidated book in order of net (fee-adjusted) price."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from oms_server.domain.enums import Side
from router.book import VenueBook, VenueInfo
from router.plan import ChildPlan, ParentSpec, RoutingPlan
from router.strategies.common import (
    NO_VENUE_REASON,
    Market,
    Slice,
    finish,
    is_dust,
    take_child,
    walk,
)

NAME = "best price"


def plan_best_price(
    parent: ParentSpec, books: Mapping[str, VenueBook], venues: Mapping[str, VenueInfo]
) -> RoutingPlan:
    """Take displayed size best net price first, one IOC child per venue, then rest or stop.

    A venue whose share would be dust (below the minimum child size) is left out and the
    sweep re-run without it, so the others may take its share at their next levels.
    """
    market = Market.of(books, venues)
    if not market.venues:
        return RoutingPlan.empty(parent.quantity, NO_VENUE_REASON)
    return finish(parent, sweep(parent, market), market, NAME)


def sweep(parent: ParentSpec, market: Market) -> list[ChildPlan]:
    """The taking children of a best-net-price sweep, in the order the sweep reached them."""
    excluded: set[str] = set()
    while True:
        takes = _sweep_once(parent, market, excluded)
        dust = {child.venue for child in takes if is_dust(child.quantity, parent)}
        if not dust:
            return takes
        excluded |= dust


def _sweep_once(parent: ParentSpec, market: Market, excluded: set[str]) -> list[ChildPlan]:
    per_venue = market.slices(parent, exclude=excluded)
    ordered = sorted(
        (piece for slices in per_venue.values() for piece in slices),
        key=lambda piece: _rank(piece, parent.side, market),
    )
    by_venue: dict[str, list[tuple[Slice, Decimal]]] = {}
    for piece, qty in walk(ordered, parent.quantity):
        by_venue.setdefault(piece.venue, []).append((piece, qty))
    return [take_child(venue, taken, parent.side) for venue, taken in by_venue.items()]


def _rank(piece: Slice, side: Side, market: Market) -> tuple[object, ...]:
    """Best net price first; ties by lower latency, then venue name."""
    net = piece.net_price if side is Side.BUY else -piece.net_price
    return (net, market.venues[piece.venue].latency_ms, piece.venue)
