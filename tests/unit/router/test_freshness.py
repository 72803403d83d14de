"""The staleness rule: a book older than the allowed age is left out, and says why."""

from __future__ import annotations

from decimal import Decimal

import pytest

from router.book import Level, VenueBook
from router.freshness import (
    DEFAULT_QUOTE_MAX_AGE_S,
    NS_PER_S,
    ExcludedVenue,
    PublishedBook,
    QuoteFreshness,
    QuoteSources,
)

MS = NS_PER_S // 1000
ONE_SECOND = QuoteFreshness.of_seconds(1.0)


def test_the_default_is_three_seconds() -> None:
    assert DEFAULT_QUOTE_MAX_AGE_S == 3.0
    assert QuoteFreshness().max_age_ns == 3 * NS_PER_S


@pytest.mark.parametrize(
    ("age_ms", "stale"), [(-5, False), (0, False), (999, False), (1000, False), (1001, True)]
)
def test_a_book_is_stale_only_once_older_than_the_max_age(age_ms: int, stale: bool) -> None:
    now = 50 * NS_PER_S
    assert ONE_SECOND.is_stale(now - age_ms * MS, now) is stale


@pytest.mark.parametrize(
    ("max_age_s", "age_ms", "reason"),
    [
        (1.0, 2400, "book is 2.4 s old (max 1.0 s)"),
        (0.25, 300, "book is 0.30 s old (max 0.25 s)"),
        (3.0, 61_049, "book is 61.0 s old (max 3.0 s)"),
    ],
)
def test_the_reason_gives_the_age_and_the_max(max_age_s: float, age_ms: int, reason: str) -> None:
    now = 100 * NS_PER_S
    assert QuoteFreshness.of_seconds(max_age_s).stale_reason(now - age_ms * MS, now) == reason


def test_a_fresh_book_has_no_reason() -> None:
    assert ONE_SECOND.stale_reason(5 * NS_PER_S, 5 * NS_PER_S + 10 * MS) is None


@pytest.mark.parametrize("max_age_s", [0.0, -1.0])
def test_the_max_age_must_be_positive(max_age_s: float) -> None:
    with pytest.raises(ValueError):
        QuoteFreshness.of_seconds(max_age_s)


def test_the_consolidated_quote_uses_only_the_books_used() -> None:
    def book(venue: str, bid: str) -> PublishedBook:
        return PublishedBook(VenueBook(venue, "AAPL", bids=(Level(Decimal(bid), Decimal(1)),)), 1)

    sources = QuoteSources.of(
        [book("A", "10.00"), book("B", "10.01")], [ExcludedVenue("C", "book is 9.0 s old")]
    )
    best = sources.consolidated().best_bid
    assert best is not None and (best.price, best.venues) == (Decimal("10.01"), ("B",))
    assert QuoteSources().consolidated().best_bid is None
