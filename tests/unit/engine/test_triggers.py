"""Waiting orders on a moving book: if-touched triggers and trailing stops (issue 21)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from decimal import Decimal

import pytest

from oms_server.domain.enums import ExecType, OrderType, Side
from oms_server.domain.errors import ValidationError
from oms_server.domain.order import Order
from oms_server.engine.commands import OrderCommands
from router.book import Level, VenueBook
from tests.unit.engine.stubs import (
    ADMIN,
    INSTRUMENTS,
    ManualClock,
    ScriptedVenues,
    commands,
    reports_of,
    request,
    settle,
)

SIZE = Decimal(300)


class MovingVenues(ScriptedVenues):
    """Every venue quotes one bid and one ask, moved by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.bid = Decimal("99.99")
        self.ask = Decimal("100.01")

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        bids, asks = (Level(self.bid, SIZE),), (Level(self.ask, SIZE),)
        return {v: VenueBook(v, symbol, bids, asks) for v in self.names}

    def move(self, bid: str, ask: str) -> None:
        self.bid, self.ask = Decimal(bid), Decimal(ask)


@pytest.fixture
def venues() -> MovingVenues:
    return MovingVenues()


@pytest.fixture
def engine(venues: MovingVenues) -> OrderCommands:
    return commands(venues, ManualClock())


def trailing_sell(engine: OrderCommands, offset: str = "0.50") -> Order:
    wanted = dataclasses.replace(
        request("t1", side=Side.SELL, order_type=OrderType.TRAILING_STOP, limit_price=None),
        trailing_offset=Decimal(offset),
    )
    return engine.submit(wanted, ADMIN)


def tick(engine: OrderCommands, venues: MovingVenues, bid: str, ask: str) -> int:
    venues.move(bid, ask)
    return engine.trigger_stops("AAPL")


def test_a_trailing_sell_follows_the_bid_up_only_and_fires_a_market_order(
    engine: OrderCommands, venues: MovingVenues
) -> None:
    placed = trailing_sell(engine)
    live = engine.live.get(placed.order_id)
    assert live is not None and live.trigger_price == Decimal("99.49")
    settle(engine)

    assert tick(engine, venues, "100.49", "100.51") == 0  # up 0.50: trigger 99.99
    assert tick(engine, venues, "100.20", "100.22") == 0  # down: the trigger stays
    assert live.trigger_price == Decimal("99.99")
    moves = settle(engine)
    assert reports_of(moves, placed.order_id) == []  # a trigger move is no report
    stored, _ = moves.changes.orders[live.order_id]
    assert stored.trigger_price == Decimal("99.99")  # but it is stored

    assert tick(engine, venues, "99.99", "100.01") == 1  # back to 99.99: it fires
    (fired,) = reports_of(settle(engine), placed.order_id)[:1]
    assert fired.exec_type is ExecType.TRIGGERED
    assert fired.text == "triggered at 99.99: best bid 99.99"
    (sent,) = venues.sent  # the router takes the bid as for any market sell
    assert sent.side is Side.SELL and sent.quantity == Decimal(100)


def test_a_trailing_stop_resumes_from_its_stored_trigger_after_a_restart(
    venues: MovingVenues,
) -> None:
    first = commands(venues, ManualClock())
    placed = trailing_sell(first)
    tick(first, venues, "101.00", "101.02")
    stored = copy.copy(first.live.get(placed.order_id))
    assert stored is not None and stored.trigger_price == Decimal("100.50")

    venues.move("100.80", "100.82")  # fell while the OMS was down, not through 100.50
    again = commands(venues, ManualClock())
    again.live.add(stored)
    again.routing.load([], {})
    assert again.trigger_stops("AAPL") == 0
    assert stored.trigger_price == Decimal("100.50")  # not restarted from 100.80 - 0.50
    assert tick(again, venues, "100.50", "100.52") == 1


def test_a_buy_market_if_touched_fires_when_the_ask_falls_to_its_price(
    engine: OrderCommands, venues: MovingVenues
) -> None:
    wanted = request(
        "m1", order_type=OrderType.MARKET_IF_TOUCHED, limit_price=None, stop_price=Decimal("99.50")
    )
    placed = engine.submit(wanted, ADMIN)
    settle(engine)
    assert tick(engine, venues, "99.60", "99.62") == 0
    assert tick(engine, venues, "99.48", "99.50") == 1
    (fired,) = reports_of(settle(engine), placed.order_id)[:1]
    assert fired.text == "triggered at 99.5: best ask 99.5"


def test_a_sell_limit_if_touched_fires_when_the_bid_rises_to_its_price(
    engine: OrderCommands, venues: MovingVenues
) -> None:
    wanted = request(
        "l1",
        side=Side.SELL,
        order_type=OrderType.LIMIT_IF_TOUCHED,
        limit_price=Decimal("100.40"),
        stop_price=Decimal("100.50"),
    )
    engine.submit(wanted, ADMIN)
    settle(engine)
    assert tick(engine, venues, "100.40", "100.42") == 0
    assert tick(engine, venues, "100.50", "100.52") == 1
    settle(engine)
    (sent,) = venues.sent  # it takes the 100.50 bid, at or above its 100.40 limit
    assert sent.side is Side.SELL and sent.limit_price == Decimal("100.50")


@pytest.mark.parametrize(
    ("offset", "why"),
    [
        (None, "is required"),
        ("0", "greater than zero"),
        ("-0.01", "greater than zero"),
        ("0.005", "tick size"),
    ],
)
def test_a_bad_trailing_offset_is_refused_naming_the_field(offset: str | None, why: str) -> None:
    wanted = dataclasses.replace(
        request("t1", side=Side.SELL, order_type=OrderType.TRAILING_STOP, limit_price=None),
        trailing_offset=None if offset is None else Decimal(offset),
    )
    with pytest.raises(ValidationError) as refused:
        wanted.check(INSTRUMENTS["AAPL"])  # the API checks every request so, before the engine
    assert refused.value.field == "trailing_offset" and why in str(refused.value)
