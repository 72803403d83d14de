"""LIQUIDITY: depth-weighted split across venues."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from oms_server.domain.enums import OrderType, RoutingStrategy, TimeInForce
from router.book import VenueInfo
from router.plan import ChildPlan, ParentSpec, Purpose
from router.strategies import plan_route
from router.strategies.common import FOK_REASON
from router.strategies.liquidity import allocate
from tests.support.routing import asks, take
from tests.support.routing import parent as routing_parent

IOC, DAY, FOK = TimeInForce.IOC, TimeInForce.DAY, TimeInForce.FOK
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET


def parent(**overrides) -> ParentSpec:
    return routing_parent(RoutingStrategy.LIQUIDITY, **overrides)


# Depth: A 800, B 400, C 300 (1500 in all).
BOOKS = {
    "A": asks("A", ("10.00", "500"), ("10.01", "300")),
    "B": asks("B", ("10.01", "400")),
    "C": asks("C", ("10.02", "300")),
}
VENUES = {
    "A": VenueInfo("A", taker_fee_bps=D(30), maker_rebate_bps=D(2)),
    "B": VenueInfo("B", taker_fee_bps=D(10), maker_rebate_bps=D(5)),
    "C": VenueInfo("C", taker_fee_bps=D(0)),
}


def test_split_is_proportional_to_depth_with_leftover_lots_to_the_deepest() -> None:
    plan = plan_route(parent(), BOOKS, VENUES)

    # 1000 * 800/1500 = 533 -> 500, * 400/1500 = 266 -> 200, * 300/1500 = 200; the
    # 100 left over goes to A, the deepest. A's 600 take 500 @ 10.00 + 100 @ 10.01.
    assert plan.children == (
        take("A", "600", "10.01", "10.00166667"),
        take("B", "200", "10.01", "10.01"),
        take("C", "200", "10.02", "10.02"),
    )
    assert plan.unrouted_qty == 0


def test_limit_bounds_depth_and_the_remainder_rests_at_the_best_rebate_venue() -> None:
    spec = parent(order_type=LIMIT, limit_price=D("10.01"), time_in_force=DAY, quantity=D(1500))

    plan = plan_route(spec, BOOKS, VENUES)

    assert plan.children == (
        take("A", "800", "10.01", "10.00375"),
        take("B", "400", "10.01", "10.01"),
        ChildPlan("B", D(300), D("10.01"), DAY, LIMIT, D("10.01"), Purpose.REST),
    )


def test_dust_shares_are_dropped_smallest_first_and_the_split_redone() -> None:
    plan = plan_route(parent(min_child_qty=D(300)), BOOKS, VENUES)

    # B (200) goes first; then A 800 / C 200 leaves C as dust; A alone shows 800.
    assert plan.children == (take("A", "800", "10.01", "10.00375"),)
    assert plan.unrouted_qty == 200


def test_fok_beyond_the_depth_within_the_limit_is_refused() -> None:
    spec = parent(order_type=LIMIT, limit_price=D("10.01"), time_in_force=FOK, quantity=D(1300))

    plan = plan_route(spec, BOOKS, VENUES)

    assert plan.children == ()
    assert plan.reason == FOK_REASON


def test_unhealthy_venue_gets_no_share() -> None:
    venues = {**VENUES, "A": VenueInfo("A", healthy=False)}

    plan = plan_route(parent(quantity=D(700)), BOOKS, venues)

    assert [(c.venue, c.quantity) for c in plan.children] == [("B", D(400)), ("C", D(300))]


@pytest.mark.parametrize(
    ("target", "depth", "expected"),
    [
        (D(1000), {"A": D(800), "B": D(400), "C": D(300)}, {"A": 600, "B": 200, "C": 200}),
        (D(300), {"A": D(100), "B": D(100), "C": D(100)}, {"A": 100, "B": 100, "C": 100}),
        (D(200), {"B": D(100), "A": D(100), "C": D(100)}, {"A": 100, "B": 100}),
        (D(500), {"A": D(100), "B": D(900)}, {"B": 500}),  # A: 50 -> 0 lots
        (D(0), {"A": D(100)}, {}),
        (D(100), {}, {}),
    ],
)
def test_allocate(target: D, depth: dict[str, D], expected: dict[str, int]) -> None:
    assert allocate(target, depth, D(100)) == {v: D(q) for v, q in expected.items()}
