"""The consolidated book: best bid and offer across venues, and arrival prices."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from oms_server.domain.enums import Side
from router.book import ArrivalBasis, ConsolidatedBook, Level, Quote, VenueBook, VenueInfo


def venue_book(venue: str, bid: tuple[str, str] | None, ask: tuple[str, str] | None) -> VenueBook:
    return VenueBook(
        venue,
        "XYZ",
        bids=(Level(D(bid[0]), D(bid[1])),) if bid else (),
        asks=(Level(D(ask[0]), D(ask[1])),) if ask else (),
    )


BOOKS = {
    "A": venue_book("A", ("9.98", "100"), ("10.02", "300")),
    "B": venue_book("B", ("9.99", "200"), ("10.02", "100")),
    "C": venue_book("C", ("9.99", "50"), ("10.05", "900")),
}


def test_best_bid_and_offer_sum_the_size_of_every_venue_at_the_best_price() -> None:
    book = ConsolidatedBook.of(BOOKS)

    assert book.best_bid == Quote(D("9.99"), D(250), ("B", "C"))
    assert book.best_ask == Quote(D("10.02"), D(400), ("A", "B"))
    assert book.mid == D("10.005")


def test_unhealthy_and_unknown_venues_are_left_out() -> None:
    venues = {"A": VenueInfo("A"), "B": VenueInfo("B", healthy=False)}

    book = ConsolidatedBook.of(BOOKS, venues)

    assert book.best_bid == Quote(D("9.98"), D(100), ("A",))
    assert book.best_ask == Quote(D("10.02"), D(300), ("A",))


@pytest.mark.parametrize(
    ("side", "basis", "expected"),
    [
        (Side.BUY, ArrivalBasis.TOUCH, D("10.02")),
        (Side.SELL, ArrivalBasis.TOUCH, D("9.99")),
        (Side.BUY, ArrivalBasis.MID, D("10.005")),
        (Side.SELL, ArrivalBasis.MID, D("10.005")),
    ],
)
def test_arrival_price(side: Side, basis: ArrivalBasis, expected: D) -> None:
    assert ConsolidatedBook.of(BOOKS).arrival_price(side, basis) == expected


def test_one_sided_book_has_no_mid_and_falls_back_to_the_touch() -> None:
    book = ConsolidatedBook.of([venue_book("A", None, ("10.02", "300"))])

    assert book.mid is None
    assert book.best_bid is None
    assert book.arrival_price(Side.BUY, ArrivalBasis.MID) == D("10.02")
    assert book.arrival_price(Side.SELL, ArrivalBasis.MID) is None


def test_emptied_top_levels_are_skipped() -> None:
    book = VenueBook("A", "XYZ", asks=(Level(D("10.00"), D(0)), Level(D("10.01"), D(5))))

    assert ConsolidatedBook.of([book]).best_ask == Quote(D("10.01"), D(5), ("A",))
