"""Routing strategies: pure functions from a parent, book snapshots and venue facts to a plan.

``plan_route`` is the one entry point; it dispatches on ``ParentSpec.strategy``. No
strategy does I/O or imports grpc, nats, sqlalchemy or generated protobuf code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import RoutingStrategy
from router.book import VenueBook, VenueInfo
from router.plan import ParentSpec, RoutingPlan
from router.strategies.best_price import plan_best_price
from router.strategies.common import plan_rest
from router.strategies.direct import plan_direct
from router.strategies.liquidity import plan_liquidity

Strategy = Callable[[ParentSpec, Mapping[str, VenueBook], Mapping[str, VenueInfo]], RoutingPlan]

STRATEGIES: Mapping[RoutingStrategy, Strategy] = {
    RoutingStrategy.BEST_PRICE: plan_best_price,
    RoutingStrategy.LIQUIDITY: plan_liquidity,
    RoutingStrategy.DIRECT: plan_direct,
}


def plan_route(
    parent: ParentSpec, books: Mapping[str, VenueBook], venues: Mapping[str, VenueInfo]
) -> RoutingPlan:
    """Plan the children of ``parent`` against ``books`` (per venue) and ``venues``.

    A venue is used only when it is in ``venues`` and healthy (and, except for DIRECT,
    has a book in ``books``). Children are whole lots, never exceed ``parent.quantity``,
    never cross the parent's limit, and none is below ``parent.min_child`` unless it is
    the whole quantity. What the plan does not send is ``unrouted_qty``.
    """
    if parent.quantity <= ZERO:
        return RoutingPlan.empty(ZERO, "nothing to route")
    if parent.rest_only and parent.strategy is not RoutingStrategy.DIRECT:
        return plan_rest(parent, books, venues)
    return STRATEGIES[parent.strategy](parent, books, venues)


__all__ = ["STRATEGIES", "Strategy", "plan_route"]
