"""The venue matching engine: validation, routing by order id, status queries, seeding."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from oms_server.domain.child import Liquidity
from oms_server.domain.enums import ExecType, OrderType, PegType, Side, TimeInForce
from oms_server.domain.errors import NotFoundError, ValidationError
from oms_server.domain.instruments import Instrument
from venues.sim.events import (
    Accepted,
    Canceled,
    CancelRejected,
    Filled,
    OrderStatus,
    Owner,
    Rejected,
    Replaced,
    ReplaceRejected,
)
from venues.sim.matching import MatchingEngine
from venues.sim.order_book import NewOrder

D = Decimal
AAPL = Instrument("AAPL", D("0.01"), D("1"), D("190.00"))
BTC = Instrument("BTC", D("0.5"), D("0.001"), D("60000"))


def engine(taker_bps: str = "0.30", rebate_bps: str = "0.20") -> MatchingEngine:
    return MatchingEngine([AAPL, BTC], taker_fee_bps=D(taker_bps), maker_rebate_bps=D(rebate_bps))


def limit(
    order_id: str,
    side: Side,
    qty: str,
    price: str,
    symbol: str = "AAPL",
    tif: TimeInForce = TimeInForce.GTC,
    owner: Owner = Owner.OMS,
) -> NewOrder:
    return NewOrder(order_id, symbol, side, OrderType.LIMIT, tif, D(qty), D(price), owner)


def seeded() -> MatchingEngine:
    venue = engine()
    venue.seed_book(
        "AAPL",
        bids=[["189.99", "500"], ["189.98", "1000"]],
        asks=[["190.01", "300"], ["190.02", "800"]],
    )
    return venue


@pytest.mark.parametrize(
    ("new", "words"),
    [
        (limit("o", Side.BUY, "10", "1.00", symbol="MSFT"), "unknown symbol 'MSFT'"),
        (limit("o", Side.BUY, "10", "190.005"), "limit_price: 190.005 is not a multiple"),
        (limit("o", Side.BUY, "1.5", "190.00"), "quantity: 1.5 is not a multiple of the lot"),
        (limit("o", Side.BUY, "0", "190.00"), "quantity: must be greater than zero"),
        (limit("o", Side.BUY, "1", "-1"), "limit_price: must be greater than zero"),
        (
            NewOrder("o", "AAPL", Side.BUY, OrderType.LIMIT, TimeInForce.DAY, D(1)),
            "limit_price: is required",
        ),
        (
            NewOrder("o", "AAPL", Side.BUY, OrderType.MARKET, TimeInForce.IOC, D(1), D(1)),
            "limit_price: must be empty",
        ),
        (
            NewOrder("o", "AAPL", Side.BUY, OrderType.STOP, TimeInForce.DAY, D(1)),
            "order_type: STOP is not supported",
        ),
        (
            replace(limit("o", Side.BUY, "10", "190.00"), display_quantity=D(11)),
            "display_quantity: must be positive and at most the quantity",
        ),
        (
            replace(limit("o", Side.BUY, "10", "190.00"), display_quantity=D("2.5")),
            "display_quantity: 2.5 is not a multiple of the lot",
        ),
        (
            NewOrder(
                "o",
                "AAPL",
                Side.BUY,
                OrderType.MARKET,
                TimeInForce.IOC,
                D(10),
                None,
                display_quantity=D(5),
            ),
            "display_quantity: only a limit order",
        ),
        (
            replace(
                limit("o", Side.BUY, "10", "190.00", tif=TimeInForce.IOC), peg_type=PegType.PRIMARY
            ),
            "peg_type: only a DAY or GTC limit order may be pegged",
        ),
        (
            replace(
                limit("o", Side.BUY, "10", "190.00"),
                peg_type=PegType.PRIMARY,
                peg_offset=D("0.005"),
            ),
            "peg_offset: 0.005 is not a multiple of the tick size",
        ),
    ],
)
def test_bad_new_orders_are_rejected_with_a_reason(new: NewOrder, words: str) -> None:
    venue = engine()
    result = venue.submit(new)
    event = result.events[0]
    assert isinstance(event, Rejected)
    assert event.exec_type is ExecType.REJECTED
    assert words in event.text
    assert venue.status("o").status is OrderStatus.REJECTED
    assert venue.submit(new).duplicate is not None


def test_orders_route_to_their_symbol_book_by_id() -> None:
    venue = engine()
    venue.submit(limit("a", Side.BUY, "10", "190.00"))
    venue.submit(limit("b", Side.SELL, "0.25", "60000.5", symbol="BTC"))
    assert isinstance(venue.cancel("b").events[0], Canceled)
    replaced = venue.replace("a", quantity=D(5))
    assert isinstance(replaced.events[0], Replaced)
    assert venue.top_of_book("AAPL", 1).bids == [(D("190.00"), D(5))]
    assert venue.top_of_book("BTC", 1).asks == []


def test_resend_with_a_known_id_to_another_symbol_is_a_duplicate() -> None:
    venue = engine()
    venue.submit(limit("a", Side.BUY, "10", "190.00"))
    again = venue.submit(limit("a", Side.BUY, "1", "60000", symbol="BTC"))
    assert again.events == ()
    assert again.duplicate is not None and again.duplicate.status is OrderStatus.NEW


@pytest.mark.parametrize(
    ("quantity", "price", "words"),
    [(D("2.5"), None, "lot size"), (None, D("190.001"), "tick size")],
)
def test_replace_off_the_grid_is_refused_and_changes_nothing(
    quantity: Decimal | None, price: Decimal | None, words: str
) -> None:
    venue = engine()
    venue.submit(limit("a", Side.BUY, "10", "190.00"))
    event = venue.replace("a", quantity=quantity, price=price).events[0]
    assert isinstance(event, ReplaceRejected)
    assert words in event.text
    assert event.status is OrderStatus.NEW
    assert venue.top_of_book("AAPL", 1).bids == [(D("190.00"), D(10))]


@pytest.mark.parametrize("action", ["cancel", "replace"])
def test_cancel_or_replace_of_unknown_id_is_refused(action: str) -> None:
    venue = engine()
    result = venue.cancel("x") if action == "cancel" else venue.replace("x", quantity=D(1))
    event = result.events[0]
    assert isinstance(event, CancelRejected if action == "cancel" else ReplaceRejected)
    assert event.status is OrderStatus.UNKNOWN
    assert event.reported


def test_status_of_unknown_id_is_unknown() -> None:
    status = engine().status("never-seen")
    assert (status.status, status.cum_qty, status.leaves_qty, status.fills) == (
        OrderStatus.UNKNOWN,
        D(0),
        D(0),
        (),
    )


def test_status_after_fills_has_every_fill_as_reported() -> None:
    venue = seeded()
    result = venue.submit(limit("c1", Side.BUY, "400", "190.02", tif=TimeInForce.IOC))
    status = venue.status("c1")
    assert (status.status, status.cum_qty, status.leaves_qty) == (
        OrderStatus.FILLED,
        D(400),
        D(0),
    )
    assert status.fills == tuple(e for e in result.reports if isinstance(e, Filled))
    assert [(f.last_qty, f.last_price, f.fee) for f in status.fills] == [
        (D(300), D("190.01"), D("1.71009")),
        (D(100), D("190.02"), D("0.57006")),
    ]


def test_fills_against_market_maker_report_only_the_oms_side() -> None:
    venue = seeded()
    result = venue.submit(limit("c1", Side.SELL, "600", "189.98", tif=TimeInForce.DAY))
    assert {e.order_id for e in result.reports} == {"c1"}
    assert [type(e) for e in result.reports] == [Accepted, Filled, Filled]
    assert all(e.liquidity is Liquidity.TAKER for e in result.reports[1:])
    assert len(result.trades) == 2
    assert venue.top_of_book("AAPL", 1).bids == [(D("189.98"), D(900))]


def test_oms_maker_earns_the_rebate() -> None:
    venue = engine()
    venue.submit(limit("maker", Side.SELL, "100", "190.00"))
    result = venue.submit(limit("taker", Side.BUY, "100", "190.00"))
    fees = {e.order_id: (e.fee, e.liquidity) for e in result.events if isinstance(e, Filled)}
    assert fees == {
        "maker": (D("-0.38000000"), Liquidity.MAKER),
        "taker": (D("0.57000000"), Liquidity.TAKER),
    }


def test_top_of_book_aggregates_levels_best_first_to_the_depth() -> None:
    venue = seeded()
    venue.submit(limit("c1", Side.BUY, "20", "189.99"))
    top = venue.top_of_book("AAPL", 1)
    assert (top.bids, top.asks) == ([(D("189.99"), D(520))], [(D("190.01"), D(300))])
    deep = venue.top_of_book("AAPL", 10)
    assert [p for p, _ in deep.bids] == [D("189.99"), D("189.98")]
    assert [p for p, _ in deep.asks] == [D("190.01"), D("190.02")]


def test_top_of_book_of_unknown_symbol_raises() -> None:
    with pytest.raises(NotFoundError):
        engine().top_of_book("MSFT", 1)


def test_seed_book_places_market_maker_orders() -> None:
    venue = engine()
    result = venue.seed_book("AAPL", bids=[["189.99", "500"]], asks=[[D("190.01"), D(300)]])
    assert result.reports == ()
    assert {e.owner for e in result.events} == {Owner.MM}
    assert venue.top_of_book("AAPL", 5).bids == [(D("189.99"), D(500))]
    assert venue.top_of_book("AAPL", 5).asks == [(D("190.01"), D(300))]


@pytest.mark.parametrize(
    ("bids", "field"),
    [
        ([["189.995", "1"]], "bids[0].price"),
        ([["189.99", "1.5"]], "bids[0].size"),
        ([["189.99", "abc"]], "bids[0].size"),
        ([["189.99"]], "bids[0]"),
    ],
)
def test_seed_book_refuses_bad_levels_naming_them(bids: list[list[str]], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        engine().seed_book("AAPL", bids=bids, asks=[])
    assert caught.value.field == field


def test_seed_book_of_unknown_symbol_raises() -> None:
    with pytest.raises(NotFoundError):
        engine().seed_book("MSFT", bids=[], asks=[])


def test_statuses_cover_every_known_oms_order() -> None:
    venue = seeded()
    venue.submit(limit("c1", Side.BUY, "10", "189.00"))
    venue.submit(limit("bad", Side.BUY, "10", "189.001"))
    venue.submit(limit("c2", Side.BUY, "10", "1000", symbol="BTC"))
    by_id = {s.order_id: s.status for s in venue.statuses()}
    assert by_id == {"bad": OrderStatus.REJECTED, "c1": OrderStatus.NEW, "c2": OrderStatus.NEW}
    asked = venue.statuses(["c1", "zzz"])
    assert [s.status for s in asked] == [OrderStatus.NEW, OrderStatus.UNKNOWN]


def test_event_ids_are_unique_across_symbols() -> None:
    venue = engine()
    first = venue.submit(limit("a", Side.BUY, "10", "190.00"))
    second = venue.submit(limit("b", Side.BUY, "1", "60000", symbol="BTC"))
    assert first.events[0].event_id != second.events[0].event_id


def test_expire_day_orders_covers_every_book() -> None:
    venue = engine()
    venue.submit(limit("a", Side.BUY, "10", "190.00", tif=TimeInForce.DAY))
    venue.submit(limit("b", Side.BUY, "1", "60000", symbol="BTC", tif=TimeInForce.DAY))
    result = venue.expire_day_orders()
    assert {e.order_id for e in result.reports} == {"a", "b"}
    assert venue.status("a").status is OrderStatus.EXPIRED


def test_the_matching_core_imports_no_io_library() -> None:
    code = (
        "import sys, venues.sim.liquidity, venues.sim.matching;"
        "print(sorted(m for m in ('grpc', 'nats', 'sqlalchemy', 'asyncio') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "[]"
