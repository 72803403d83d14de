"""BEST_PRICE: the fee-aware sweep, worked by hand."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from oms_server.domain.enums import OrderType, RoutingStrategy, Side, TimeInForce
from router.book import VenueInfo
from router.plan import ChildPlan, ParentSpec, Purpose
from router.strategies import plan_route
from router.strategies.common import FOK_REASON, NO_LIQUIDITY, NO_LIQUIDITY_AT_LIMIT
from tests.support.routing import book, take
from tests.support.routing import parent as routing_parent

IOC, DAY, GTC, FOK = TimeInForce.IOC, TimeInForce.DAY, TimeInForce.GTC, TimeInForce.FOK
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET


def parent(**overrides) -> ParentSpec:
    return routing_parent(RoutingStrategy.BEST_PRICE, **overrides)


def limit(price: str, tif: TimeInForce = DAY, **overrides) -> ParentSpec:
    return parent(order_type=LIMIT, limit_price=D(price), time_in_force=tif, **overrides)


def rest(venue: str, qty: str, price: str, tif: TimeInForce = DAY) -> ChildPlan:
    return ChildPlan(venue, D(qty), D(price), tif, LIMIT, D(price), Purpose.REST)


# Three venues. Net (fee-adjusted) ask prices, best first:
#   C 10.02 (no fee) x200, B 10.01*1.001 = 10.02001 x400, A 10.00*1.003 = 10.03 x300,
#   C 10.04 x1000, B 10.03*1.001 = 10.04003 x400, A 10.02*1.003 = 10.05006 x500.
# A shows the best raw price but its 30 bp fee puts it third.
BOOKS = {
    "A": book("A", asks=[("10.00", "300"), ("10.02", "500")]),
    "B": book("B", asks=[("10.01", "400"), ("10.03", "400")]),
    "C": book("C", asks=[("10.02", "200"), ("10.04", "1000")]),
}
VENUES = {
    "A": VenueInfo("A", taker_fee_bps=D(30), maker_rebate_bps=D(20), latency_ms=1.0),
    "B": VenueInfo("B", taker_fee_bps=D(10), maker_rebate_bps=D(5), latency_ms=2.0),
    "C": VenueInfo("C", taker_fee_bps=D(0), maker_rebate_bps=D(0), latency_ms=3.0),
}


def net_cost(children: tuple[ChildPlan, ...]) -> D:
    """Sum of qty * expected price * (1 + taker fee) over the taking children."""
    return sum(
        c.quantity * c.expected_price * (1 + VENUES[c.venue].taker_fee_bps / 10_000)
        for c in children
        if c.purpose is Purpose.TAKE
    )


def test_buy_1000_sweeps_by_net_price_across_three_venues() -> None:
    plan = plan_route(parent(), BOOKS, VENUES)

    assert plan.children == (
        take("C", "300", "10.04", "10.02666667"),  # 200 @ 10.02 + 100 @ 10.04
        take("B", "400", "10.01", "10.01"),
        take("A", "300", "10.00", "10.00"),
    )
    assert plan.unrouted_qty == 0
    # Net of fees: (200*10.02 + 100*10.04 + 400*10.02001 + 300*10.03) / 1000.
    c_notional = D(200) * D("10.02") + D(100) * D("10.04")
    b_a_net = net_cost(plan.children[1:])
    assert (c_notional + b_a_net) / 1000 == D("10.025004")
    # The best single venue (C alone: 200 @ 10.02 + 800 @ 10.04) would pay 10.036.
    assert (c_notional + b_a_net) / 1000 < D("10.036")


def test_day_limit_takes_within_limit_and_rests_remainder_at_best_rebate_venue() -> None:
    plan = plan_route(limit("10.01"), BOOKS, VENUES)

    assert plan.children == (
        take("B", "400", "10.01", "10.01"),
        take("A", "300", "10.00", "10.00"),
        rest("A", "300", "10.01"),  # A pays the highest maker rebate
    )
    assert plan.unrouted_qty == 0


def test_gtc_remainder_rests_with_the_parents_tif() -> None:
    plan = plan_route(limit("10.01", GTC), BOOKS, VENUES)

    assert plan.children[-1] == rest("A", "300", "10.01", GTC)


def test_limit_between_levels_takes_only_levels_at_or_better_than_it() -> None:
    plan = plan_route(limit("10.03", IOC, quantity=D(1300)), BOOKS, VENUES)

    # Within 10.03: C 10.02 x200, B 10.01 x400, A 10.00 x300, B 10.03 x400, A 10.02 x500.
    assert plan.children == (
        take("C", "200", "10.02", "10.02"),
        take("B", "800", "10.03", "10.02"),
        take("A", "300", "10.00", "10.00"),
    )
    assert plan.unrouted_qty == 0


def test_ioc_limit_leaves_the_remainder_unrouted() -> None:
    plan = plan_route(limit("10.01", IOC), BOOKS, VENUES)

    assert [c.purpose for c in plan.children] == [Purpose.TAKE, Purpose.TAKE]
    assert plan.unrouted_qty == 300


def test_market_order_never_rests() -> None:
    plan = plan_route(parent(quantity=D(5000), time_in_force=DAY), BOOKS, VENUES)

    assert all(c.purpose is Purpose.TAKE and c.time_in_force is IOC for c in plan.children)
    assert plan.routed_qty == 2800  # all displayed: A 800, B 800, C 1200
    assert plan.unrouted_qty == 2200


def test_fok_that_cannot_be_filled_gives_an_empty_plan() -> None:
    plan = plan_route(limit("10.01", FOK), BOOKS, VENUES)

    assert plan.children == ()
    assert plan.unrouted_qty == 1000
    assert plan.reason == FOK_REASON


def test_fok_that_can_be_filled_sends_ioc_children_for_all_of_it() -> None:
    plan = plan_route(limit("10.02", FOK, quantity=D(900)), BOOKS, VENUES)

    assert plan.routed_qty == 900
    assert all(c.time_in_force is IOC for c in plan.children)


def test_unhealthy_and_unknown_venues_are_never_used() -> None:
    venues = {**VENUES, "C": VenueInfo("C", healthy=False)}
    books = {**BOOKS, "D": book("D", asks=[("9.00", "5000")])}  # D has no VenueInfo

    plan = plan_route(parent(), books, venues)

    assert {c.venue for c in plan.children} == {"A", "B"}
    assert plan.routed_qty == 1000


def test_no_healthy_venue_gives_an_empty_plan() -> None:
    venues = {name: VenueInfo(name, healthy=False) for name in VENUES}

    plan = plan_route(limit("10.05"), BOOKS, venues)

    assert plan.children == ()
    assert plan.unrouted_qty == 1000
    assert plan.reason == "no healthy venue"


def test_sell_sweeps_bids_by_net_price_received() -> None:
    books = {
        "A": book("A", bids=[("10.00", "300")]),  # net 10.00 * 0.997 = 9.97
        "B": book("B", bids=[("9.99", "300")]),  # net 9.99 * 0.999 = 9.98001
    }
    plan = plan_route(parent(side=Side.SELL, quantity=D(400)), books, VENUES)

    assert plan.children == (
        take("B", "300", "9.99", "9.99"),
        take("A", "100", "10.00", "10.00"),
    )


def test_dust_venues_are_left_out_and_the_sweep_rerun() -> None:
    # With a minimum child of 400, C (300) and A (300) would be dust; B alone shows 800.
    plan = plan_route(parent(min_child_qty=D(400)), BOOKS, VENUES)

    assert plan.children == (take("B", "800", "10.03", "10.02"),)
    assert plan.unrouted_qty == 200


def test_a_dust_remainder_does_not_rest() -> None:
    # B 400, then A would take 100 (< 200): A is dropped; the 100 left is dust too.
    plan = plan_route(limit("10.01", quantity=D(500), min_child_qty=D(200)), BOOKS, VENUES)

    assert plan.children == (take("B", "400", "10.01", "10.01"),)
    assert plan.unrouted_qty == 100


def test_a_child_below_the_minimum_is_allowed_when_it_is_the_whole_quantity() -> None:
    plan = plan_route(parent(quantity=D(100), min_child_qty=D(500)), BOOKS, VENUES)

    assert plan.children == (take("C", "100", "10.02", "10.02"),)


def test_displayed_sizes_are_used_in_whole_lots() -> None:
    books = {"A": book("A", asks=[("10.00", "150"), ("10.01", "150"), ("10.02", "50")])}

    plan = plan_route(parent(quantity=D(1000)), books, VENUES)

    # 150 then 300 cumulative: 100 at 10.00, 200 more at 10.01; the last 50 is not a lot.
    assert plan.children == (take("A", "300", "10.01", "10.00666667"),)
    assert plan.unrouted_qty == 700


@pytest.mark.parametrize(("fast", "slow"), [("A", "B"), ("B", "A")])
def test_equal_net_prices_go_to_the_lower_latency_venue_first(fast: str, slow: str) -> None:
    books = {v: book(v, asks=[("10.00", "100")]) for v in ("A", "B")}
    venues = {
        fast: VenueInfo(fast, latency_ms=1.0),
        slow: VenueInfo(slow, latency_ms=9.0),
    }

    plan = plan_route(parent(quantity=D(100)), books, venues)

    assert [c.venue for c in plan.children] == [fast]


def test_nothing_left_to_route_gives_an_empty_plan() -> None:
    plan = plan_route(parent(quantity=D(0)), BOOKS, VENUES)

    assert (plan.children, plan.unrouted_qty, plan.reason) == ((), D(0), "nothing to route")


def test_a_limit_parent_needs_a_limit_price() -> None:
    with pytest.raises(ValueError, match="limit price"):
        parent(order_type=LIMIT, limit_price=None)


def test_an_ioc_limit_below_every_offer_plans_nothing_for_want_of_liquidity() -> None:
    plan = plan_route(limit("9.99", IOC), BOOKS, VENUES)

    assert (plan.children, plan.unrouted_qty) == ((), 1000)
    assert plan.reason == NO_LIQUIDITY_AT_LIMIT


def test_a_market_order_with_no_offers_plans_nothing_for_want_of_liquidity() -> None:
    empty = {name: book(name) for name in BOOKS}
    plan = plan_route(parent(), empty, VENUES)

    assert (plan.children, plan.reason) == ((), NO_LIQUIDITY)


@pytest.mark.parametrize("strategy", [RoutingStrategy.BEST_PRICE, RoutingStrategy.LIQUIDITY])
def test_rest_only_rests_everything_at_the_best_venue_for_resting(
    strategy: RoutingStrategy,
) -> None:
    marketable = routing_parent(
        strategy,
        order_type=LIMIT,
        limit_price=D("10.05"),
        time_in_force=DAY,
        rest_only=True,
    )
    plan = plan_route(marketable, BOOKS, VENUES)

    assert plan.children == (rest("A", "1000", "10.05"),)  # A pays the largest rebate
    assert plan.unrouted_qty == 0
