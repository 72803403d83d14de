"""Pegged orders: the price a pegged order rests at, and how often it may move (issue 21).

A PEGGED order follows one price of the consolidated book (its ``peg_type``):
PRIMARY the best price on its own side, MARKET the best price on the other side,
MIDPOINT the middle of the two. It rests ``peg_offset`` away from that price on the
passive side (below it for a buy, above it for a sell) and never beyond its optional
``limit_price``. FIX 4.4's PegOffsetValue (211) is a signed amount added to the peg
price; here the offset is a distance whose direction the side gives, so a positive
offset can never make an order more aggressive than its peg.

The OMS manages the order: routing rests a LIMIT child at the peg price and, as the book
moves, cancels it and rests a new one at the new price (a re-peg). ``RepegPacer`` keeps
the re-pegs of one order to at most a number per second, whatever the book does; a
re-peg held back goes at its due time at the price of that moment (the latest wins).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import PegType, Side

__all__ = ["DEFAULT_MAX_REPEGS_PER_S", "RepegPacer", "peg_price"]

#: Re-pegs one order may make per second by default.
DEFAULT_MAX_REPEGS_PER_S = 5
_NS_PER_S = 1_000_000_000
_TWO = Decimal(2)


def peg_price(
    peg_type: PegType,
    side: Side,
    offset: Decimal | None,
    limit_price: Decimal | None,
    best_bid: Decimal | None,
    best_ask: Decimal | None,
    tick_size: Decimal,
) -> Decimal | None:
    """The price a pegged order rests at now; None while the book lacks the side (or
    sides) the peg follows, or when the offset takes the price to zero or below."""
    reference = _reference(peg_type, side, best_bid, best_ask, tick_size)
    if reference is None:
        return None
    distance = offset if offset is not None else ZERO
    price = reference - distance if side is Side.BUY else reference + distance
    if limit_price is not None:
        price = min(price, limit_price) if side is Side.BUY else max(price, limit_price)
    return price if price > ZERO else None


def _reference(
    peg_type: PegType,
    side: Side,
    best_bid: Decimal | None,
    best_ask: Decimal | None,
    tick_size: Decimal,
) -> Decimal | None:
    own, other = (best_bid, best_ask) if side is Side.BUY else (best_ask, best_bid)
    if peg_type is PegType.PRIMARY:
        return own
    if peg_type is PegType.MARKET:
        return other
    if best_bid is None or best_ask is None:
        return None
    ticks = (best_bid + best_ask) / _TWO / tick_size
    rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING  # away from the market
    return ticks.to_integral_value(rounding=rounding) * tick_size


class RepegPacer:
    """At most ``max_per_s`` re-pegs per order per second: two re-pegs of one order are
    at least 1/``max_per_s`` s apart on the engine's clock."""

    def __init__(self, max_per_s: int = DEFAULT_MAX_REPEGS_PER_S) -> None:
        if max_per_s <= 0:
            raise ValueError("max_per_s must be positive")
        self.interval_ns = _NS_PER_S // max_per_s
        self._last_ns: dict[str, int] = {}

    def due_ns(self, order_id: str, now_ns: int) -> int:
        """When ``order_id`` may re-peg next: ``now_ns`` or later."""
        last = self._last_ns.get(order_id)
        return now_ns if last is None else max(now_ns, last + self.interval_ns)

    def note(self, order_id: str, now_ns: int) -> None:
        """``order_id`` re-pegged at ``now_ns``."""
        self._last_ns[order_id] = now_ns

    def forget(self, order_id: str) -> None:
        """``order_id`` is pegged no more."""
        self._last_ns.pop(order_id, None)
