"""Building router inputs in unit tests: an instrument in lots of 100, books, parents, takes."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from oms_server.domain.enums import OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.instruments import Instrument
from router.book import Level, VenueBook
from router.plan import ChildPlan, ParentSpec, Purpose

LOT_100 = Instrument("XYZ", tick_size=D("0.01"), lot_size=D(100), reference_price=D(10))


def book(venue: str, asks: Any = (), bids: Any = ()) -> VenueBook:
    """A book of XYZ from (price, size) string pairs, best first."""
    return VenueBook(
        venue,
        "XYZ",
        bids=tuple(Level(D(p), D(s)) for p, s in bids),
        asks=tuple(Level(D(p), D(s)) for p, s in asks),
    )


def asks(venue: str, *levels: tuple[str, str]) -> VenueBook:
    """A book with asks only."""
    return book(venue, asks=levels)


def parent(strategy: RoutingStrategy, **overrides: Any) -> ParentSpec:
    """A market IOC buy of 1,000 XYZ, with ``overrides``."""
    fields: dict[str, Any] = dict(
        side=Side.BUY,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.IOC,
        quantity=D(1000),
        instrument=LOT_100,
        strategy=strategy,
    )
    fields.update(overrides)
    return ParentSpec(**fields)


def take(venue: str, qty: str, limit_price: str, expected: str) -> ChildPlan:
    """An IOC limit child that takes ``qty`` up to ``limit_price``, expected net ``expected``."""
    return ChildPlan(
        venue, D(qty), D(limit_price), TimeInForce.IOC, OrderType.LIMIT, D(expected), Purpose.TAKE
    )
