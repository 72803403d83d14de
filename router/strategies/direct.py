"""DIRECT: the whole quantity to one named venue, sent as the parent is."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from oms_server.domain.decimals import ZERO, average_price
from router.book import VenueBook, VenueInfo
from router.plan import ChildPlan, ParentSpec, Purpose, RoutingPlan
from router.strategies.common import floor_to_lot, venue_slices, walk


def plan_direct(
    parent: ParentSpec, books: Mapping[str, VenueBook], venues: Mapping[str, VenueInfo]
) -> RoutingPlan:
    """One child for the whole quantity at ``parent.venue`` with the parent's type and TIF.

    The venue need not have a book snapshot, only be known and healthy. The child takes
    (purpose "take") when any of it is marketable against the snapshot, else it rests.
    """
    info = venues.get(parent.venue)
    if not parent.venue:
        return RoutingPlan.empty(parent.quantity, "direct routing needs a venue")
    if info is None:
        return RoutingPlan.empty(parent.quantity, f"unknown venue {parent.venue}")
    if not info.healthy:
        return RoutingPlan.empty(parent.quantity, f"venue {parent.venue} is unhealthy")
    quantity = floor_to_lot(parent.quantity, parent.lot_size)
    if quantity <= ZERO:
        return RoutingPlan.empty(parent.quantity, "nothing to route")
    child = _child(parent, books.get(parent.venue), info, quantity)
    return RoutingPlan((child,), parent.quantity - quantity, f"direct to {parent.venue}")


def _child(
    parent: ParentSpec, book: VenueBook | None, info: VenueInfo, quantity: Decimal
) -> ChildPlan:
    taken = walk(venue_slices(book, info, parent), quantity) if book is not None else []
    taken_qty = sum((qty for _, qty in taken), ZERO)
    notional = sum((piece.price * qty for piece, qty in taken), ZERO)
    expected = average_price(notional, taken_qty) if taken else parent.limit_price
    return ChildPlan(
        venue=info.name,
        quantity=quantity,
        limit_price=parent.limit_price if parent.is_limit else None,
        time_in_force=parent.time_in_force,
        order_type=parent.child_order_type,
        expected_price=expected,
        purpose=Purpose.TAKE if taken else Purpose.REST,
    )
