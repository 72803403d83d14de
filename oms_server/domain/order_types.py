"""Order types as data: one row per OrderType, read by everyone who needs to know one.

Validation (which terms a request must and may carry, which times in force it takes),
risk (the price a buy reserves at), routing (whether the order waits for a trigger,
what it becomes then, the price it may cross at) and the edges (proto enum name, FIX
OrdType, CLI name) all read ``ORDER_TYPES``. A new order type is a row here plus the
behaviour that is truly new: a new ``Term`` for a new field, a new ``TriggerRule`` for a
new way to be released, a new ``PriceSource`` for a new way to be priced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from oms_server.domain.enums import OrderType, Side, TimeInForce
from oms_server.domain.errors import ValidationError

__all__ = [
    "DISTANCE_TERMS",
    "OFFSET_TERMS",
    "ORDER_TYPES",
    "PRICE_TERMS",
    "QUANTITY_TERMS",
    "OrderTypeRule",
    "PriceSource",
    "Term",
    "TriggerRule",
    "term_values",
    "trail",
]


class Term(StrEnum):
    """An optional term of an order request; the value names the request's field."""

    LIMIT_PRICE = "limit_price"
    STOP_PRICE = "stop_price"
    TRAILING_OFFSET = "trailing_offset"
    #: An iceberg's visible size: at most this much of the order rests at venues at once.
    DISPLAY_QUANTITY = "display_quantity"
    #: Which price of the book a pegged order follows (a PegType, not a Decimal).
    PEG_TYPE = "peg_type"
    #: A pegged order's distance from that price, on the passive side.
    PEG_OFFSET = "peg_offset"


#: The terms that are price levels (checked against the tick size and the collar), in order.
PRICE_TERMS: tuple[Term, ...] = (Term.LIMIT_PRICE, Term.STOP_PRICE)
#: The terms that are price distances (positive, on the tick; no collar applies).
DISTANCE_TERMS: tuple[Term, ...] = (Term.TRAILING_OFFSET,)
#: The terms that are price distances which may be zero (zero or positive, on the tick).
OFFSET_TERMS: tuple[Term, ...] = (Term.PEG_OFFSET,)
#: The terms that are quantities (positive, on the lot, at most the order's quantity).
QUANTITY_TERMS: tuple[Term, ...] = (Term.DISPLAY_QUANTITY,)


class PriceSource(StrEnum):
    """Where a price comes from: the order's own limit, or the market."""

    #: No price of its own: routing may cross at any price, risk reserves at the collar edge.
    MARKET = "MARKET"
    #: The order's ``limit_price``.
    LIMIT = "LIMIT"
    #: The book's price the order is pegged to (see ``domain.peg``), never beyond the
    #: order's optional ``limit_price``; a buy reserves at that cap, else the collar edge.
    PEG = "PEG"


class TriggerRule(StrEnum):
    """What releases a waiting order to the router at its trigger price: the order's
    ``stop_price``, or for TRAILING the price that follows the market (``trail``)."""

    #: The market is at or through the stop price against the order: a buy when the best
    #: ask is at or above it, a sell when the best bid is at or below it.
    STOP = "STOP"
    #: The market touches the stop price from the other side than a stop: a buy when the
    #: best ask is at or below it, a sell when the best bid is at or above it.
    TOUCHED = "TOUCHED"
    #: A stop whose trigger trails the market by ``trailing_offset``: it follows the best
    #: bid (sells) or ask (buys) in the order's favour only, and fires as STOP does.
    TRAILING = "TRAILING"

    @property
    def trails(self) -> bool:
        """True when the trigger price follows the market (see ``trail``)."""
        return self is TriggerRule.TRAILING

    def hit(
        self,
        side: Side,
        trigger_price: Decimal,
        best_bid: Decimal | None,
        best_ask: Decimal | None,
    ) -> bool:
        """True when the market (best bid and ask, None for an empty side) releases the order."""
        return _TRIGGER_TESTS[self](side, trigger_price, best_bid, best_ask)


def trail(
    side: Side,
    offset: Decimal,
    trigger_price: Decimal | None,
    best_bid: Decimal | None,
    best_ask: Decimal | None,
) -> Decimal | None:
    """The trailing trigger after a market move: the followed side (bid for a sell, ask
    for a buy) less (sell) or plus (buy) ``offset``, kept only when it moves in the
    order's favour (up for a sell, down for a buy); ``trigger_price`` (None: not set
    yet) while the followed side is empty or moved against the order."""
    followed = best_bid if side is Side.SELL else best_ask
    if followed is None:
        return trigger_price
    candidate = followed - offset if side is Side.SELL else followed + offset
    if trigger_price is None:
        return candidate
    return max(trigger_price, candidate) if side is Side.SELL else min(trigger_price, candidate)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderTypeRule:
    """Everything the OMS knows of one order type (see the module docstring)."""

    order_type: OrderType
    #: Terms a request of this type must carry.
    requires: frozenset[Term]
    #: Terms it may carry (every required term among them); any other must be empty.
    allows: frozenset[Term]
    #: Times in force it may have.
    time_in_force: frozenset[TimeInForce]
    #: What releases it to the router; None: it is routed as soon as it is accepted.
    trigger: TriggerRule | None
    #: The type it is routed as once triggered (None for a type routed as it is).
    becomes: OrderType | None
    #: The price its children may cross at (MARKET: any price).
    routes_at: PriceSource
    #: The price a buy reserves buying power at (MARKET: the collar edge).
    reserves_at: PriceSource
    #: FIX 4.4 OrdType (tag 40); None when FIX 4.4 has no OrdType of its own for it.
    fix_ord_type: str | None
    #: Suffix of the ORDER_TYPE_* value in the oms.v1 (and venue.v1) proto enum.
    proto_suffix: str

    def __post_init__(self) -> None:
        if not self.requires <= self.allows:
            raise ValueError(f"{self.order_type}: every required term must be allowed")
        if (self.trigger is None) != (self.becomes is None):
            raise ValueError(f"{self.order_type}: a trigger and what it becomes go together")
        priced_at_limit = PriceSource.LIMIT in (self.routes_at, self.reserves_at)
        if priced_at_limit and Term.LIMIT_PRICE not in self.requires:
            raise ValueError(f"{self.order_type}: priced at its limit, so it needs limit_price")

    @property
    def proto_name(self) -> str:
        """The proto enum value's name, e.g. ORDER_TYPE_STOP_LIMIT."""
        return f"ORDER_TYPE_{self.proto_suffix}"

    @property
    def cli_name(self) -> str:
        """The name omsctl takes, e.g. stop_limit (omsctl derives it from the proto name)."""
        return self.proto_suffix.lower()

    @property
    def routed_as(self) -> OrderType:
        """The type its children are sent as the parent would have: MARKET or LIMIT."""
        if self.routes_at is PriceSource.PEG:
            return OrderType.LIMIT  # each child rests at the peg price of its moment
        return self.becomes if self.becomes is not None else self.order_type

    @property
    def waits_for_trigger(self) -> bool:
        """True when an accepted order of this type is routed only once triggered."""
        return self.trigger is not None

    def check_terms(self, given: Mapping[Term, object]) -> None:
        """Refuse a required term that is missing or a term this type does not take."""
        for term in Term:
            present = given.get(term) is not None
            if term in self.requires and not present:
                raise ValidationError(term.value, "is required for this order type")
            if present and term not in self.allows:
                raise ValidationError(term.value, "must be empty for this order type")

    def check_time_in_force(self, time_in_force: TimeInForce) -> None:
        """Refuse a time in force this type does not take."""
        if time_in_force not in self.time_in_force:
            raise ValidationError(
                "time_in_force", f"a {self.cli_name} order cannot be {time_in_force.value}"
            )


def term_values(request: object) -> dict[Term, Any]:
    """Each term's value on ``request`` (an object with the terms as attributes): a
    Decimal, a PegType for ``peg_type``, or None when absent."""
    return {term: getattr(request, term.value, None) for term in Term}


_EVERY_TIF = frozenset(TimeInForce)
_NO_TERMS: frozenset[Term] = frozenset()
_LIMIT = frozenset({Term.LIMIT_PRICE})
#: A limit may be an iceberg: it shows only ``display_quantity`` at a time.
_LIMIT_OR_ICEBERG = _LIMIT | {Term.DISPLAY_QUANTITY}
_STOP = frozenset({Term.STOP_PRICE})
_STOP_LIMIT = frozenset({Term.LIMIT_PRICE, Term.STOP_PRICE})
_TRAILING = frozenset({Term.TRAILING_OFFSET})
_PEG = frozenset({Term.PEG_TYPE})
#: A pegged order may sit away from its peg by ``peg_offset`` and be capped by a limit.
_PEG_TERMS = _PEG | {Term.PEG_OFFSET, Term.LIMIT_PRICE}
#: A pegged order rests on a book, so only the times in force that rest.
_RESTING_TIF = frozenset(tif for tif in TimeInForce if tif.rests)


def _rows(*rows: OrderTypeRule) -> Mapping[OrderType, OrderTypeRule]:
    return MappingProxyType({row.order_type: row for row in rows})


#: The order-type table: one row per OrderType.
ORDER_TYPES: Mapping[OrderType, OrderTypeRule] = _rows(
    OrderTypeRule(
        order_type=OrderType.MARKET,
        requires=_NO_TERMS,
        allows=_NO_TERMS,
        time_in_force=_EVERY_TIF - {TimeInForce.GTC, TimeInForce.GTD},
        trigger=None,
        becomes=None,
        routes_at=PriceSource.MARKET,
        reserves_at=PriceSource.MARKET,
        fix_ord_type="1",
        proto_suffix="MARKET",
    ),
    OrderTypeRule(
        order_type=OrderType.LIMIT,
        requires=_LIMIT,
        allows=_LIMIT_OR_ICEBERG,
        time_in_force=_EVERY_TIF,
        trigger=None,
        becomes=None,
        routes_at=PriceSource.LIMIT,
        reserves_at=PriceSource.LIMIT,
        fix_ord_type="2",
        proto_suffix="LIMIT",
    ),
    OrderTypeRule(
        order_type=OrderType.STOP,
        requires=_STOP,
        allows=_STOP,
        time_in_force=_EVERY_TIF,
        trigger=TriggerRule.STOP,
        becomes=OrderType.MARKET,
        routes_at=PriceSource.MARKET,
        reserves_at=PriceSource.MARKET,
        fix_ord_type="3",
        proto_suffix="STOP",
    ),
    OrderTypeRule(
        order_type=OrderType.STOP_LIMIT,
        requires=_STOP_LIMIT,
        allows=_STOP_LIMIT,
        time_in_force=_EVERY_TIF,
        trigger=TriggerRule.STOP,
        becomes=OrderType.LIMIT,
        routes_at=PriceSource.LIMIT,
        reserves_at=PriceSource.LIMIT,
        fix_ord_type="4",
        proto_suffix="STOP_LIMIT",
    ),
    OrderTypeRule(
        order_type=OrderType.TRAILING_STOP,
        requires=_TRAILING,
        allows=_TRAILING,
        time_in_force=_EVERY_TIF,
        trigger=TriggerRule.TRAILING,
        becomes=OrderType.MARKET,
        routes_at=PriceSource.MARKET,
        reserves_at=PriceSource.MARKET,
        fix_ord_type=None,
        proto_suffix="TRAILING_STOP",
    ),
    OrderTypeRule(
        order_type=OrderType.MARKET_IF_TOUCHED,
        requires=_STOP,
        allows=_STOP,
        time_in_force=_EVERY_TIF,
        trigger=TriggerRule.TOUCHED,
        becomes=OrderType.MARKET,
        routes_at=PriceSource.MARKET,
        reserves_at=PriceSource.MARKET,
        fix_ord_type="J",
        proto_suffix="MARKET_IF_TOUCHED",
    ),
    OrderTypeRule(
        order_type=OrderType.LIMIT_IF_TOUCHED,
        requires=_STOP_LIMIT,
        allows=_STOP_LIMIT,
        time_in_force=_EVERY_TIF,
        trigger=TriggerRule.TOUCHED,
        becomes=OrderType.LIMIT,
        routes_at=PriceSource.LIMIT,
        reserves_at=PriceSource.LIMIT,
        fix_ord_type=None,
        proto_suffix="LIMIT_IF_TOUCHED",
    ),
    OrderTypeRule(
        order_type=OrderType.PEGGED,
        requires=_PEG,
        allows=_PEG_TERMS,
        time_in_force=_RESTING_TIF,
        trigger=None,
        becomes=None,
        routes_at=PriceSource.PEG,
        reserves_at=PriceSource.PEG,
        fix_ord_type="P",
        proto_suffix="PEGGED",
    ),
)


def _stop_hit(
    side: Side, stop_price: Decimal, best_bid: Decimal | None, best_ask: Decimal | None
) -> bool:
    if side is Side.BUY:
        return best_ask is not None and best_ask >= stop_price
    return best_bid is not None and best_bid <= stop_price


def _touched(
    side: Side, stop_price: Decimal, best_bid: Decimal | None, best_ask: Decimal | None
) -> bool:
    if side is Side.BUY:
        return best_ask is not None and best_ask <= stop_price
    return best_bid is not None and best_bid >= stop_price


_TRIGGER_TESTS: dict[
    TriggerRule, Callable[[Side, Decimal, Decimal | None, Decimal | None], bool]
] = {TriggerRule.STOP: _stop_hit, TriggerRule.TOUCHED: _touched, TriggerRule.TRAILING: _stop_hit}
