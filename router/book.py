"""Book snapshots the router reads: one per venue, and the consolidated view across venues.

Everything is a frozen value: the engine hands the router a snapshot and the router never
sees it change. Prices and sizes are ``Decimal``; only latency, which is not money, is a float.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import Side

#: Divisor that turns a mid-point sum into the mid (exact in Decimal).
_TWO = Decimal(2)


@dataclass(frozen=True, slots=True)
class Level:
    """One price level of a book: the price and the displayed size there."""

    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class VenueBook:
    """A venue's book for one symbol; ``bids`` and ``asks`` are best first."""

    venue: str
    symbol: str
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()

    def levels_to_take(self, side: Side) -> tuple[Level, ...]:
        """The levels an order of ``side`` would take from: asks for buys, bids for sells."""
        return self.asks if side is Side.BUY else self.bids


class VenueCapability(StrEnum):
    """An order type a venue keeps itself, so the OMS need not manage it (issue 21)."""

    #: The venue shows a display quantity of a limit order at a time and refreshes it.
    ICEBERG = "iceberg"
    #: The venue prices a pegged order against its own book and re-prices it as it moves.
    PEG = "peg"


@dataclass(frozen=True, slots=True)
class VenueInfo:
    """What the router knows of a venue besides its book: fees, latency, health and the
    order types it keeps natively."""

    name: str
    taker_fee_bps: Decimal = ZERO
    maker_rebate_bps: Decimal = ZERO
    latency_ms: float = 0.0
    healthy: bool = True
    capabilities: frozenset[VenueCapability] = frozenset()


@dataclass(frozen=True, slots=True)
class Quote:
    """The best price on one side across venues, the total size there and who shows it."""

    price: Decimal
    size: Decimal
    venues: tuple[str, ...]


class ArrivalBasis(StrEnum):
    """Which price stands for the market when an order arrives."""

    #: The price the side would pay now: best ask for buys, best bid for sells.
    TOUCH = "TOUCH"
    #: The mid between best bid and best ask (falls back to the touch on a one-sided book).
    MID = "MID"


@dataclass(frozen=True, slots=True)
class ConsolidatedBook:
    """Best bid and offer across the books of routable venues (computed once, on building)."""

    books: tuple[VenueBook, ...]
    #: Highest bid across venues, or None when no venue shows a bid.
    best_bid: Quote | None = None
    #: Lowest ask across venues, or None when no venue shows an ask.
    best_ask: Quote | None = None

    @classmethod
    def of(
        cls,
        books: Mapping[str, VenueBook] | Iterable[VenueBook],
        venues: Mapping[str, VenueInfo] | None = None,
    ) -> ConsolidatedBook:
        """Consolidate ``books``; with ``venues``, keep only venues known and healthy."""
        values = books.values() if isinstance(books, Mapping) else books
        kept = tuple(b for b in values if venues is None or _is_healthy(venues, b.venue))
        return cls(
            kept,
            _best_quote(((b.venue, b.bids) for b in kept), higher_is_better=True),
            _best_quote(((b.venue, b.asks) for b in kept), higher_is_better=False),
        )

    def touch(self, side: Side) -> Quote | None:
        """The quote an order of ``side`` would take: best ask for buys, best bid for sells."""
        return self.best_ask if side is Side.BUY else self.best_bid

    @property
    def mid(self) -> Decimal | None:
        """Mid between best bid and best ask; None unless both sides are shown."""
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return None
        return (bid.price + ask.price) / _TWO

    def arrival_price(self, side: Side, basis: ArrivalBasis = ArrivalBasis.TOUCH) -> Decimal | None:
        """Benchmark price for execution quality; None when the needed side is empty."""
        if basis is ArrivalBasis.MID and self.mid is not None:
            return self.mid
        quote = self.touch(side)
        return None if quote is None else quote.price


def _is_healthy(venues: Mapping[str, VenueInfo], name: str) -> bool:
    info = venues.get(name)
    return info is not None and info.healthy


def _best_quote(
    sides: Iterable[tuple[str, tuple[Level, ...]]], *, higher_is_better: bool
) -> Quote | None:
    """Best top-of-book price across venues, summing the size of every venue showing it."""
    tops = [(venue, top) for venue, levels in sides if (top := _top(levels)) is not None]
    if not tops:
        return None
    prices = [level.price for _, level in tops]
    best = max(prices) if higher_is_better else min(prices)
    at_best = [(venue, level) for venue, level in tops if level.price == best]
    size = sum((level.size for _, level in at_best), ZERO)
    return Quote(best, size, tuple(sorted(venue for venue, _ in at_best)))


def _top(levels: tuple[Level, ...]) -> Level | None:
    """First level with a positive size (a snapshot may carry emptied levels)."""
    return next((level for level in levels if level.size > ZERO), None)
