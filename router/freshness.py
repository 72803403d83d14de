"""Honest market data: a venue's book counts only while it is recent and its venue healthy.

A book older than the allowed age (its venue stopped publishing: killed, dark, cut off)
and every book of a venue whose circuit breaker is not closed are left out of the
consolidated quote and of routing. ``ExcludedVenue`` says which venues and why, in words a
user reads. Pure: the clock is passed in, in Unix nanoseconds (the time venues stamp their
books with).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from router.book import ConsolidatedBook, VenueBook

#: Books older than this are left out of quotes and routing (``OMS_QUOTE_MAX_AGE_MS``).
DEFAULT_QUOTE_MAX_AGE_S = 3.0
NS_PER_S = 1_000_000_000
#: Ages below this many seconds are written with two decimals, others with one.
_FINE_AGE_S = 1.0


@dataclass(frozen=True, slots=True)
class QuoteFreshness:
    """How old a venue's book may be and still count."""

    max_age_ns: int = int(DEFAULT_QUOTE_MAX_AGE_S * NS_PER_S)

    @classmethod
    def of_seconds(cls, max_age_s: float) -> QuoteFreshness:
        if max_age_s <= 0:
            raise ValueError("the quote max age must be positive")
        return cls(round(max_age_s * NS_PER_S))

    @property
    def max_age_s(self) -> float:
        return self.max_age_ns / NS_PER_S

    def is_stale(self, published_ns: int, now_ns: int) -> bool:
        """True when a book published at ``published_ns`` is too old at ``now_ns``."""
        return now_ns - published_ns > self.max_age_ns

    def stale_reason(self, published_ns: int, now_ns: int) -> str | None:
        """Why a book is left out ("book is 2.4 s old (max 1.0 s)"), or None while fresh."""
        if not self.is_stale(published_ns, now_ns):
            return None
        age_s = (now_ns - published_ns) / NS_PER_S
        return f"book is {_seconds(age_s)} old (max {_seconds(self.max_age_s)})"


@dataclass(frozen=True, slots=True)
class PublishedBook:
    """A venue's book with the time the venue published it (Unix nanoseconds)."""

    book: VenueBook
    published_ns: int


@dataclass(frozen=True, slots=True)
class ExcludedVenue:
    """A venue left out of a consolidated quote and of routing, and why."""

    venue: str
    reason: str


@dataclass(frozen=True, slots=True)
class QuoteSources:
    """What one symbol's consolidated quote is made of at one moment, and what is not."""

    used: tuple[PublishedBook, ...] = ()
    excluded: tuple[ExcludedVenue, ...] = ()

    @classmethod
    def of(cls, used: Iterable[PublishedBook], excluded: Iterable[ExcludedVenue]) -> QuoteSources:
        return cls(tuple(used), tuple(excluded))

    def consolidated(self) -> ConsolidatedBook:
        """Best bid and offer across the books used."""
        return ConsolidatedBook.of(published.book for published in self.used)


def _seconds(value_s: float) -> str:
    return f"{value_s:.2f} s" if value_s < _FINE_AGE_S else f"{value_s:.1f} s"
