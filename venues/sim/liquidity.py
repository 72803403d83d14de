"""Synthetic liquidity: a seeded market maker quoting around a random-walk mid.

Each ``step()`` moves every symbol's mid by a random whole number of ticks, cancels the
maker's resting quotes and places fresh ones a few levels deep on each side, on the
tick and lot grid. New quotes go through normal matching, so a quote that crosses a
resting OMS order fills it. The same seed gives the same sequence of quotes and events.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from oms_server.domain.enums import OrderType, Side, TimeInForce
from oms_server.domain.instruments import Instrument
from venues.sim.events import MatchResult, Owner
from venues.sim.matching import MatchingEngine
from venues.sim.order_book import NewOrder

#: Price levels quoted on each side.
DEFAULT_LEVELS = 3
#: Largest move of the mid per step, in ticks (either direction).
DEFAULT_MAX_STEP_TICKS = 2
#: Largest distance from the mid to the best quote, in ticks (the smallest is one).
DEFAULT_MAX_HALF_SPREAD_TICKS = 3
#: Size range of one quoted level, in lots.
DEFAULT_MIN_LEVEL_LOTS = 100
DEFAULT_MAX_LEVEL_LOTS = 1000
#: Prefix of the market maker's order ids.
MM_ORDER_PREFIX = "mm"
REQUOTE_TEXT = "market maker requote"


@dataclass(frozen=True, slots=True)
class MarketMakerConfig:
    """How the market maker quotes; all distances in ticks, sizes in lots."""

    levels: int = DEFAULT_LEVELS
    max_step_ticks: int = DEFAULT_MAX_STEP_TICKS
    max_half_spread_ticks: int = DEFAULT_MAX_HALF_SPREAD_TICKS
    min_level_lots: int = DEFAULT_MIN_LEVEL_LOTS
    max_level_lots: int = DEFAULT_MAX_LEVEL_LOTS


class MarketMaker:
    """Moves the books of one ``MatchingEngine`` with seeded synthetic quotes."""

    def __init__(
        self,
        engine: MatchingEngine,
        seed: int,
        config: MarketMakerConfig | None = None,
        *,
        shared_mid_seed: int | None = None,
    ) -> None:
        """``shared_mid_seed`` gives several venues one fair-value walk (from the reference
        price), so their books stay aligned; spreads and sizes still come from ``seed``."""
        self._engine = engine
        self._rng = random.Random(seed)
        self._shared_mid = shared_mid_seed is not None
        self._mid_rng = random.Random(shared_mid_seed) if self._shared_mid else self._rng
        self._config = config or MarketMakerConfig()
        self._mids: dict[str, Decimal] = {}
        self._next_order = 1

    def mid(self, symbol: str) -> Decimal | None:
        """The current mid of ``symbol``, or None before its first step."""
        return self._mids.get(symbol)

    def step(self) -> MatchResult:
        """Move each mid and re-quote every book; return all the events caused."""
        return MatchResult.combine(
            self._requote(instrument) for instrument in self._engine.instruments
        )

    def _requote(self, instrument: Instrument) -> MatchResult:
        mid = self._move_mid(instrument)
        canceled = self._engine.cancel_all(instrument.symbol, Owner.MM, REQUOTE_TEXT)
        placed = [self._engine.submit(order) for order in self._quotes(instrument, mid)]
        return MatchResult.combine([canceled, *placed])

    def _move_mid(self, instrument: Instrument) -> Decimal:
        tick = instrument.tick_size
        mid = self._mids.get(instrument.symbol)
        if mid is None:
            mid = self._starting_mid(instrument)
        step = self._config.max_step_ticks
        mid += tick * self._mid_rng.randint(-step, step)
        mid = max(mid, self._lowest_mid(tick))
        self._mids[instrument.symbol] = mid
        return mid

    def _starting_mid(self, instrument: Instrument) -> Decimal:
        """The book's mid when both sides quote, else the reference price, on the tick."""
        top = self._engine.top_of_book(instrument.symbol, 1)
        if top.bids and top.asks and not self._shared_mid:
            return _round_to_tick((top.bids[0][0] + top.asks[0][0]) / 2, instrument.tick_size)
        return _round_to_tick(instrument.reference_price, instrument.tick_size)

    def _lowest_mid(self, tick: Decimal) -> Decimal:
        """The lowest mid whose deepest bid is still a positive price."""
        return tick * (self._config.max_half_spread_ticks + self._config.levels)

    def _quotes(self, instrument: Instrument, mid: Decimal) -> Iterator[NewOrder]:
        """Bid and ask quotes, best level first, alternating sides."""
        tick = instrument.tick_size
        half_spread = tick * self._rng.randint(1, self._config.max_half_spread_ticks)
        for level in range(self._config.levels):
            offset = half_spread + tick * level
            yield self._quote(instrument, Side.BUY, mid - offset)
            yield self._quote(instrument, Side.SELL, mid + offset)

    def _quote(self, instrument: Instrument, side: Side, price: Decimal) -> NewOrder:
        lots = self._rng.randint(self._config.min_level_lots, self._config.max_level_lots)
        order_id = f"{MM_ORDER_PREFIX}-{instrument.symbol}-{self._next_order}"
        self._next_order += 1
        return NewOrder(
            order_id,
            instrument.symbol,
            side,
            OrderType.LIMIT,
            TimeInForce.GTC,
            instrument.lot_size * lots,
            price,
            Owner.MM,
        )


def _round_to_tick(price: Decimal, tick: Decimal) -> Decimal:
    """``price`` rounded half-even to a whole number of ticks."""
    return (price / tick).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * tick
