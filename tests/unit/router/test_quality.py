"""Execution quality: achieved net price against arrival and the best single venue."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from oms_server.domain.enums import Side
from oms_server.domain.fills import Fill
from router.book import VenueInfo
from router.quality import (
    ExecutionQuality,
    SingleVenueOutcome,
    achieved_net_price,
    best_single_venue,
    improvement_bps,
    measure_execution,
)
from tests.support.routing import asks

# The three venues of the BEST_PRICE worked example (test_best_price.py).
BOOKS = {
    "A": asks("A", ("10.00", "300"), ("10.02", "500")),
    "B": asks("B", ("10.01", "400"), ("10.03", "400")),
    "C": asks("C", ("10.02", "200"), ("10.04", "1000")),
}
VENUES = {
    "A": VenueInfo("A", taker_fee_bps=D(30)),
    "B": VenueInfo("B", taker_fee_bps=D(10)),
    "C": VenueInfo("C", taker_fee_bps=D(0)),
}
FILLS = (
    Fill(D(200), D("10.02")),
    Fill(D(100), D("10.04")),
    Fill(D(400), D("10.01"), fee=D("4.004")),  # 10 bp of 4004
    Fill(D(300), D("10.00"), fee=D(9)),  # 30 bp of 3000
)


def test_swept_buy_against_arrival_and_the_best_single_venue() -> None:
    quality = measure_execution(Side.BUY, D("10.00"), FILLS, BOOKS, VENUES)

    # Achieved: (10012 + 13.004) / 1000. Only C can fill 1000 alone: 200 @ 10.02 +
    # 800 @ 10.04 = 10.036. Improvement: (10.036 - 10.025004) / 10.036 = 10.9566 bp.
    assert quality == ExecutionQuality(
        arrival_price=D("10.00"),
        filled_qty=D(1000),
        average_net_price=D("10.02500400"),
        best_single_venue=SingleVenueOutcome("C", D(1000), D("10.03600000")),
        improvement_bps=D("10.96"),
        arrival_bps=D("-25.00"),
    )


@pytest.mark.parametrize(
    ("side", "fills", "expected"),
    [
        (Side.BUY, [Fill(D(100), D(10), fee=D(1))], D("10.01")),
        (Side.SELL, [Fill(D(100), D(10), fee=D(1))], D("9.99")),
        (Side.BUY, [Fill(D(100), D(10), fee=D(-1))], D("9.99")),  # a maker rebate
        (Side.BUY, [Fill(D(1), D(1)), Fill(D(2), D(2))], D("1.66666667")),  # half-even, 8 dp
        (Side.BUY, [], None),
    ],
)
def test_achieved_net_price(side: Side, fills: list[Fill], expected: D | None) -> None:
    assert achieved_net_price(side, fills) == expected


def test_a_venue_that_fills_more_beats_a_cheaper_partial_one() -> None:
    books = {"A": asks("A", ("9.00", "500")), "B": asks("B", ("10.00", "1000"))}
    venues = {"A": VenueInfo("A"), "B": VenueInfo("B")}

    assert best_single_venue(Side.BUY, D(1000), books, venues) == SingleVenueOutcome(
        "B", D(1000), D("10.00000000")
    )


def test_partial_outcome_when_no_venue_fills_everything() -> None:
    outcome = best_single_venue(Side.BUY, D(5000), BOOKS, VENUES)

    assert (outcome.venue, outcome.quantity) == ("C", D(1200))


def test_limit_and_health_bound_the_single_venue_comparison() -> None:
    venues = {**VENUES, "C": VenueInfo("C", healthy=False)}

    outcome = best_single_venue(Side.BUY, D(1000), BOOKS, venues, limit_price=D("10.01"))

    # A: 300 @ 10.00 * 1.003 = 10.03; B: 400 @ 10.01 * 1.001 = 10.02001 fills more.
    assert outcome == SingleVenueOutcome("B", D(400), D("10.02001000"))


@pytest.mark.parametrize(
    ("side", "achieved", "reference", "expected"),
    [
        (Side.BUY, D("9.99"), D("10.00"), D("10.00")),
        (Side.BUY, D("10.01"), D("10.00"), D("-10.00")),
        (Side.SELL, D("10.01"), D("10.00"), D("10.00")),
        (Side.SELL, D("9.99"), D("10.00"), D("-10.00")),
        (Side.BUY, D("2.9999"), D("3"), D("0.33")),
    ],
)
def test_improvement_bps_is_positive_when_better(
    side: Side, achieved: D, reference: D, expected: D
) -> None:
    assert improvement_bps(side, achieved, reference) == expected


def test_nothing_filled_gives_no_figures() -> None:
    quality = measure_execution(Side.SELL, D("9.99"), [], BOOKS, VENUES)

    assert (quality.average_net_price, quality.improvement_bps, quality.arrival_bps) == (
        None,
        None,
        None,
    )
