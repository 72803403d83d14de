"""DIRECT: the whole quantity to one named venue."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from oms_server.domain.enums import OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.instruments import Instrument
from router.book import Level, VenueBook, VenueInfo
from router.plan import ChildPlan, ParentSpec, Purpose
from router.strategies import plan_route

LOT_1 = Instrument("XYZ", tick_size=D("0.01"), lot_size=D(1), reference_price=D(10))
BOOKS = {"A": VenueBook("A", "XYZ", asks=(Level(D("10.00"), D(30)), Level(D("10.05"), D(30))))}
VENUES = {"A": VenueInfo("A"), "B": VenueInfo("B"), "Z": VenueInfo("Z", healthy=False)}


def direct(venue: str, **overrides) -> ParentSpec:
    fields = dict(
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        quantity=D(50),
        limit_price=D("10.02"),
        instrument=LOT_1,
        strategy=RoutingStrategy.DIRECT,
        venue=venue,
    )
    fields.update(overrides)
    return ParentSpec(**fields)


def test_limit_goes_whole_to_the_venue_as_the_parent_is() -> None:
    plan = plan_route(direct("A"), BOOKS, VENUES)

    # 30 of it is marketable at 10.00; the rest would rest at 10.02.
    assert plan.children == (
        ChildPlan(
            "A", D(50), D("10.02"), TimeInForce.DAY, OrderType.LIMIT, D("10.00"), Purpose.TAKE
        ),
    )
    assert plan.unrouted_qty == 0


def test_market_fok_keeps_type_and_tif() -> None:
    spec = direct("A", order_type=OrderType.MARKET, limit_price=None, time_in_force=TimeInForce.FOK)

    (child,) = plan_route(spec, BOOKS, VENUES).children

    assert (child.order_type, child.time_in_force, child.limit_price) == (
        OrderType.MARKET,
        TimeInForce.FOK,
        None,
    )
    assert child.expected_price == D("10.02")  # 30 @ 10.00 + 20 @ 10.05


def test_venue_without_a_book_gets_a_resting_child() -> None:
    (child,) = plan_route(direct("B"), BOOKS, VENUES).children

    assert (child.venue, child.purpose, child.expected_price) == ("B", Purpose.REST, D("10.02"))


@pytest.mark.parametrize(
    ("venue", "reason"),
    [("Z", "venue Z is unhealthy"), ("Q", "unknown venue Q"), ("", "direct routing needs a venue")],
)
def test_unusable_venue_gives_an_empty_plan(venue: str, reason: str) -> None:
    plan = plan_route(direct(venue), BOOKS, VENUES)

    assert (plan.children, plan.unrouted_qty, plan.reason) == ((), D(50), reason)
