"""The simulated order book: matching, priority, order types, cancel/replace, fees."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_server.domain.child import Liquidity
from oms_server.domain.enums import OrderType, PegType, Side, TimeInForce
from venues.sim.events import (
    Accepted,
    Canceled,
    CancelRejected,
    Expired,
    Filled,
    MatchResult,
    OrderStatus,
    Owner,
    Replaced,
    ReplaceRejected,
)
from venues.sim.order_book import NewOrder, OrderBook

D = Decimal
SYMBOL = "AAPL"
BUY, SELL = Side.BUY, Side.SELL


def order(
    order_id: str,
    side: Side,
    qty: str,
    price: str | None,
    tif: TimeInForce = TimeInForce.GTC,
    owner: Owner = Owner.OMS,
) -> NewOrder:
    order_type = OrderType.MARKET if price is None else OrderType.LIMIT
    return NewOrder(
        order_id, SYMBOL, side, order_type, tif, D(qty), None if price is None else D(price), owner
    )


def book_with(*orders: NewOrder, taker_bps: str = "0", rebate_bps: str = "0") -> OrderBook:
    book = OrderBook(SYMBOL, taker_fee_bps=D(taker_bps), maker_rebate_bps=D(rebate_bps))
    for new in orders:
        book.submit(new)
    return book


def standard_asks() -> OrderBook:
    """Asks 190.01 x 300 and 190.02 x 800, bids 189.99 x 500."""
    return book_with(
        order("a1", SELL, "300", "190.01"),
        order("a2", SELL, "800", "190.02"),
        order("b1", BUY, "500", "189.99"),
    )


def fills_of(result: MatchResult, order_id: str) -> list[tuple[Decimal, Decimal]]:
    return [
        (e.last_qty, e.last_price)
        for e in result.events
        if isinstance(e, Filled) and e.order_id == order_id
    ]


def test_limit_that_does_not_cross_rests_and_is_accepted() -> None:
    book = standard_asks()
    result = book.submit(order("b2", BUY, "100", "190.00"))
    assert [type(e) for e in result.events] == [Accepted]
    assert result.events[0].status is OrderStatus.NEW
    assert result.events[0].leaves_qty == D(100)
    assert book.best_bid() == D("190.00")
    assert book.depth(5).bids == [(D("190.00"), D(100)), (D("189.99"), D(500))]


def test_crossing_limit_trades_at_the_resting_price() -> None:
    book = standard_asks()
    result = book.submit(order("t", BUY, "100", "190.05"))
    assert [type(e) for e in result.events] == [Accepted, Filled, Filled]
    maker, taker = result.events[1], result.events[2]
    assert (maker.order_id, maker.liquidity, maker.status) == (
        "a1",
        Liquidity.MAKER,
        OrderStatus.PARTIALLY_FILLED,
    )
    assert (taker.order_id, taker.liquidity, taker.status) == (
        "t",
        Liquidity.TAKER,
        OrderStatus.FILLED,
    )
    assert taker.last_price == D("190.01")
    assert (maker.cum_qty, maker.leaves_qty) == (D(100), D(200))
    assert len(result.trades) == 1
    assert result.trades[0].maker_order_id == "a1"
    assert result.trades[0].taker_side is BUY


def test_partial_fills_across_several_levels_then_rest() -> None:
    book = standard_asks()
    result = book.submit(order("t", BUY, "1500", "190.02"))
    assert fills_of(result, "t") == [(D(300), D("190.01")), (D(800), D("190.02"))]
    last = result.events[-1]
    assert (last.status, last.cum_qty, last.leaves_qty) == (
        OrderStatus.PARTIALLY_FILLED,
        D(1100),
        D(400),
    )
    assert book.best_ask() is None
    assert book.best_bid() == D("190.02")
    assert book.status("a1").status is OrderStatus.FILLED
    assert book.status("a2").status is OrderStatus.FILLED


def test_sell_sweeps_bids_best_price_first() -> None:
    book = book_with(order("b1", BUY, "5", "10.00"), order("b2", BUY, "5", "10.02"))
    result = book.submit(order("s", SELL, "8", "9.00", TimeInForce.IOC))
    assert fills_of(result, "s") == [(D(5), D("10.02")), (D(3), D("10.00"))]


def test_same_price_fills_in_arrival_order() -> None:
    book = book_with(
        order("first", SELL, "100", "50.00"),
        order("second", SELL, "100", "50.00"),
        order("better", SELL, "100", "49.99"),
    )
    result = book.submit(order("t", BUY, "150", "50.00"))
    maker_fills = [(f.maker_order_id, f.qty) for f in result.trades]
    assert maker_fills == [("better", D(100)), ("first", D(50))]
    assert book.status("second").cum_qty == D(0)


@pytest.mark.parametrize("tif", [TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC])
def test_market_order_sweeps_and_never_rests(tif: TimeInForce) -> None:
    book = standard_asks()
    result = book.submit(order("m", BUY, "2000", None, tif))
    assert fills_of(result, "m") == [(D(300), D("190.01")), (D(800), D("190.02"))]
    last = result.events[-1]
    assert isinstance(last, Canceled)
    assert (last.status, last.cum_qty, last.leaves_qty) == (OrderStatus.CANCELED, D(1100), D(0))
    assert book.best_bid() == D("189.99")
    assert book.best_ask() is None


def test_market_order_on_empty_side_is_canceled() -> None:
    book = book_with()
    result = book.submit(order("m", SELL, "10", None, TimeInForce.DAY))
    assert [type(e) for e in result.events] == [Accepted, Canceled]
    assert book.status("m").status is OrderStatus.CANCELED


def test_ioc_fills_what_crosses_and_cancels_the_rest() -> None:
    book = standard_asks()
    result = book.submit(order("i", BUY, "500", "190.01", TimeInForce.IOC))
    assert fills_of(result, "i") == [(D(300), D("190.01"))]
    assert isinstance(result.events[-1], Canceled)
    assert book.status("i").cum_qty == D(300)
    assert book.best_bid() == D("189.99")


def test_fok_with_insufficient_liquidity_changes_nothing() -> None:
    book = standard_asks()
    before = book.depth(10)
    result = book.submit(order("f", BUY, "1101", "190.02", TimeInForce.FOK))
    assert [type(e) for e in result.events] == [Accepted, Canceled]
    assert result.trades == ()
    assert book.depth(10) == before
    assert book.status("a1").cum_qty == D(0)
    assert book.status("f").status is OrderStatus.CANCELED


def test_fok_ignores_liquidity_beyond_its_limit() -> None:
    book = standard_asks()
    result = book.submit(order("f", BUY, "400", "190.01", TimeInForce.FOK))
    assert result.trades == ()
    assert book.depth(10) == standard_asks().depth(10)


def test_fok_with_enough_liquidity_fills_in_full() -> None:
    book = standard_asks()
    result = book.submit(order("f", BUY, "1100", "190.02", TimeInForce.FOK))
    assert sum(f.qty for f in result.trades) == D(1100)
    assert result.events[-1].status is OrderStatus.FILLED


def test_cancel_removes_the_rest_and_a_second_cancel_is_refused() -> None:
    book = standard_asks()
    first = book.cancel("a1")
    assert isinstance(first.events[0], Canceled)
    assert first.events[0].leaves_qty == D(0)
    assert book.best_ask() == D("190.02")
    again = book.cancel("a1")
    assert isinstance(again.events[0], CancelRejected)
    assert again.events[0].status is OrderStatus.CANCELED
    assert "CANCELED" in again.events[0].text


def test_cancel_of_unknown_order_is_refused_as_unknown() -> None:
    result = book_with().cancel("nope")
    event = result.events[0]
    assert isinstance(event, CancelRejected)
    assert event.status is OrderStatus.UNKNOWN


def _priority_book() -> OrderBook:
    return book_with(order("x", SELL, "100", "50.00"), order("y", SELL, "100", "50.00"))


def _first_maker_after(book: OrderBook) -> str:
    return book.submit(order("t", BUY, "10", "50.00")).trades[0].maker_order_id


def test_quantity_decrease_keeps_time_priority() -> None:
    book = _priority_book()
    result = book.replace("x", quantity=D(60))
    assert isinstance(result.events[0], Replaced)
    assert result.events[0].leaves_qty == D(60)
    assert _first_maker_after(book) == "x"


@pytest.mark.parametrize(
    ("quantity", "price"), [(D(150), None), (None, D("50.01")), (D(50), D("50.01"))]
)
def test_quantity_increase_or_price_change_loses_time_priority(
    quantity: Decimal | None, price: Decimal | None
) -> None:
    book = _priority_book()
    book.replace("x", quantity=quantity, price=price)
    if price is not None:
        book.replace("x", price=D("50.00"))
    assert _first_maker_after(book) == "y"


@pytest.mark.parametrize("new_qty", ["40", "30"])
def test_replace_to_at_most_the_filled_quantity_is_refused(new_qty: str) -> None:
    book = book_with(order("x", SELL, "100", "50.00"), order("t", BUY, "40", "50.00"))
    result = book.replace("x", quantity=D(new_qty))
    event = result.events[0]
    assert isinstance(event, ReplaceRejected)
    assert "filled quantity 40" in event.text
    assert book.status("x").leaves_qty == D(60)


def test_replace_to_a_crossing_price_trades_at_once() -> None:
    book = standard_asks()
    result = book.replace("b1", price=D("190.01"))
    assert isinstance(result.events[0], Replaced)
    assert fills_of(result, "b1") == [(D(300), D("190.01"))]
    assert book.best_bid() == D("190.01")
    assert book.status("b1").leaves_qty == D(200)


@pytest.mark.parametrize("order_id", ["nope", "a1"])
def test_replace_of_unknown_or_done_order_is_refused(order_id: str) -> None:
    book = standard_asks()
    book.cancel("a1")
    result = book.replace(order_id, quantity=D(10))
    assert isinstance(result.events[0], ReplaceRejected)
    expected = OrderStatus.UNKNOWN if order_id == "nope" else OrderStatus.CANCELED
    assert result.events[0].status is expected


@pytest.mark.parametrize(
    ("price", "qty", "taker_bps", "rebate_bps", "taker_fee", "maker_fee"),
    [
        ("190.01", "7", "0.30", "0.20", "0.03990210", "-0.02660140"),
        ("1.23456789", "1", "1", "1", "0.00012346", "-0.00012346"),
        ("0.01", "1", "0.30", "0.20", "3E-7", "-2E-7"),
        ("100.00", "10", "0", "0", "0", "0"),
    ],
)
def test_fees_and_rebates_are_exact_to_eight_places(
    price: str, qty: str, taker_bps: str, rebate_bps: str, taker_fee: str, maker_fee: str
) -> None:
    book = book_with(order("m", SELL, qty, price), taker_bps=taker_bps, rebate_bps=rebate_bps)
    result = book.submit(order("t", BUY, qty, price))
    trade = result.trades[0]
    assert (trade.taker_fee, trade.maker_fee) == (D(taker_fee), D(maker_fee))
    assert trade.taker_fee.as_tuple().exponent >= -8
    by_id = {e.order_id: e for e in result.events if isinstance(e, Filled)}
    assert (by_id["t"].fee, by_id["m"].fee) == (D(taker_fee), D(maker_fee))


def test_resent_order_id_creates_nothing_and_returns_the_status() -> None:
    book = standard_asks()
    first = book.submit(order("t", BUY, "100", "190.01"))
    again = book.submit(order("t", BUY, "999", "190.02"))
    assert again.events == () and again.trades == ()
    assert again.duplicate is not None
    assert (again.duplicate.status, again.duplicate.cum_qty) == (OrderStatus.FILLED, D(100))
    assert again.duplicate.fills == tuple(e for e in first.events if e.order_id == "t")[1:]
    assert book.depth(10).asks == [(D("190.01"), D(200)), (D("190.02"), D(800))]


def test_status_after_fills_lists_every_fill() -> None:
    book = standard_asks()
    book.submit(order("t", BUY, "1200", "190.02"))
    status = book.status("t")
    assert (status.status, status.cum_qty, status.leaves_qty) == (
        OrderStatus.PARTIALLY_FILLED,
        D(1100),
        D(100),
    )
    assert [(f.last_qty, f.last_price) for f in status.fills] == [
        (D(300), D("190.01")),
        (D(800), D("190.02")),
    ]
    assert book.status("never").status is OrderStatus.UNKNOWN


def test_expire_day_orders_keeps_gtc() -> None:
    book = book_with(
        order("day", BUY, "10", "10.00", TimeInForce.DAY),
        order("gtc", BUY, "10", "10.00", TimeInForce.GTC),
    )
    result = book.expire_day_orders()
    assert [(type(e), e.order_id) for e in result.events] == [(Expired, "day")]
    assert book.depth(1).bids == [(D("10.00"), D(10))]


def test_market_maker_orders_are_not_reported_and_forgotten_when_done() -> None:
    book = book_with(order("mm1", SELL, "10", "10.00", owner=Owner.MM))
    result = book.submit(order("t", BUY, "10", "10.00"))
    assert {e.order_id for e in result.reports} == {"t"}
    assert {e.order_id for e in result.events} == {"t", "mm1"}
    assert book.status("mm1").status is OrderStatus.UNKNOWN


def test_event_ids_are_unique_and_increasing() -> None:
    book = standard_asks()
    events = [*book.submit(order("t", BUY, "1200", "190.02")).events, *book.cancel("t").events]
    ids = [e.event_id for e in events]
    assert ids == sorted(set(ids))


# -- property: the book never crosses and no order is overfilled -------------------------

TICK = D("0.01")


@dataclass(frozen=True)
class Op:
    """One random step: a new order, or a cancel/replace of an earlier one."""

    kind: str
    side: Side
    ticks: int
    qty: int
    tif: TimeInForce
    market: bool
    target: int


_ops = st.lists(
    st.builds(
        Op,
        kind=st.sampled_from(["new", "new", "new", "cancel", "replace"]),
        side=st.sampled_from([BUY, SELL]),
        ticks=st.integers(9_995, 10_005),  # prices 99.95 .. 100.05
        qty=st.integers(1, 50),
        tif=st.sampled_from(list(TimeInForce)),
        market=st.sampled_from([False, False, False, True]),
        target=st.integers(0, 40),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None, database=None)
@given(_ops)
def test_book_never_crosses_and_no_order_is_overfilled(ops: list[Op]) -> None:
    book = OrderBook(SYMBOL)
    quantities: dict[str, Decimal] = {}
    filled: dict[str, Decimal] = {}
    for op in ops:
        result = _apply(book, op, quantities)
        for event in result.events:
            if isinstance(event, Replaced):
                quantities[event.order_id] = event.quantity
        for trade in result.trades:
            for order_id in (trade.maker_order_id, trade.taker_order_id):
                filled[order_id] = filled.get(order_id, D(0)) + trade.qty
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is None or ask is None or bid < ask
        for order_id, qty in filled.items():
            assert qty <= quantities[order_id]
            assert book.status(order_id).cum_qty == qty


def _apply(book: OrderBook, op: Op, quantities: dict[str, Decimal]) -> MatchResult:
    if op.kind == "new":
        order_id = f"o{len(quantities)}"
        quantities[order_id] = D(op.qty)
        price = None if op.market else str(TICK * op.ticks)
        return book.submit(order(order_id, op.side, str(op.qty), price, op.tif))
    if not quantities:
        return MatchResult()
    target = list(quantities)[op.target % len(quantities)]
    if op.kind == "cancel":
        return book.cancel(target)
    return book.replace(target, quantity=D(op.qty), price=TICK * op.ticks)


# -- native icebergs ---------------------------------------------------------------------


def iceberg(order_id: str, side: Side, qty: str, price: str, display: str) -> NewOrder:
    return NewOrder(
        order_id,
        SYMBOL,
        side,
        OrderType.LIMIT,
        TimeInForce.GTC,
        D(qty),
        D(price),
        display_quantity=D(display),
    )


def test_native_iceberg_shows_only_its_slice_and_refreshes_at_the_back() -> None:
    book = book_with(iceberg("ice", BUY, "300", "190.00", "100"), order("b2", BUY, "50", "190.00"))
    assert book.depth(5).bids == [(D("190.00"), D(150))]  # 100 of the iceberg + 50

    first = book.submit(order("s1", SELL, "100", "190.00"))
    assert fills_of(first, "ice") == [(D(100), D("190.00"))]  # the iceberg was first
    assert book.depth(5).bids == [(D("190.00"), D(150))]  # next slice shown, b2 unchanged

    second = book.submit(order("s2", SELL, "60", "190.00"))
    # The refreshed slice lost its time priority: b2 trades first, then the iceberg.
    assert fills_of(second, "b2") == [(D(50), D("190.00"))]
    assert fills_of(second, "ice") == [(D(10), D("190.00"))]
    assert book.depth(5).bids == [(D("190.00"), D(90))]


def test_native_iceberg_trades_its_whole_quantity_against_one_large_taker() -> None:
    book = book_with(iceberg("ice", BUY, "300", "190.00", "100"))
    result = book.submit(order("s1", SELL, "350", "189.00", tif=TimeInForce.IOC))
    assert fills_of(result, "ice") == [(D(100), D("190.00"))] * 3
    assert book.status("ice").status is OrderStatus.FILLED
    assert book.depth(5).bids == []


def test_native_iceberg_that_takes_first_rests_with_a_whole_slice() -> None:
    book = book_with(order("a1", SELL, "150", "190.00"))
    book.submit(iceberg("ice", BUY, "300", "190.00", "100"))
    assert book.status("ice").cum_qty == D(150)
    assert book.depth(5).bids == [(D("190.00"), D(100))]


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(1, 40),
    display=st.integers(1, 40),
    takes=st.lists(st.integers(1, 30), max_size=12),
)
def test_native_iceberg_never_shows_more_than_its_display(
    total: int, display: int, takes: list[int]
) -> None:
    display = min(display, total)
    book = book_with(iceberg("ice", SELL, str(total), "190.00", str(display)))
    filled = 0
    for index, take in enumerate(takes):
        asks = book.depth(5).asks
        assert all(size <= display for _, size in asks)
        result = book.submit(order(f"t{index}", BUY, str(take), "190.00", tif=TimeInForce.IOC))
        filled += sum(int(q) for q, _ in fills_of(result, "ice"))
        assert filled == min(total, sum(takes[: index + 1]))
    shown = sum((size for _, size in book.depth(5).asks), D(0))
    assert shown == min(D(display - filled % display), D(total - filled))  # slice's rest


# -- native pegs -------------------------------------------------------------------------


def pegged(
    order_id: str, side: Side, qty: str, peg: PegType, offset: str, cap: str | None = None
) -> NewOrder:
    return NewOrder(
        order_id,
        SYMBOL,
        side,
        OrderType.LIMIT,
        TimeInForce.GTC,
        D(qty),
        None if cap is None else D(cap),
        peg_type=peg,
        peg_offset=D(offset),
    )


def mm(order_id: str, side: Side, price: str, qty: str = "300") -> NewOrder:
    return order(order_id, side, qty, price, owner=Owner.MM)


def test_a_native_primary_peg_follows_the_bid_both_ways_and_never_itself() -> None:
    book = book_with(mm("b1", BUY, "189.95"), mm("a1", SELL, "190.05"))
    book.submit(pegged("p", BUY, "100", PegType.PRIMARY, "0.01", cap="190.00"))
    assert book.depth(5).bids == [(D("189.95"), D(300)), (D("189.94"), D(100))]
    book.submit(pegged("q", BUY, "100", PegType.PRIMARY, "0"))  # at the bid, not at p
    assert book.depth(5).bids == [(D("189.95"), D(400)), (D("189.94"), D(100))]

    book.submit(mm("b2", BUY, "189.97"))
    assert book.depth(5).bids == [
        (D("189.97"), D(400)),
        (D("189.96"), D(100)),
        (D("189.95"), D(300)),
    ]
    book.cancel("b2")
    assert book.depth(5).bids == [(D("189.95"), D(400)), (D("189.94"), D(100))]
    book.submit(mm("b3", BUY, "190.02"))  # p is capped at 190.00
    assert book.depth(3).bids[:2] == [(D("190.02"), D(400)), (D("190.00"), D(100))]


def test_a_native_market_peg_rests_at_its_cap_and_fills_when_the_ask_comes_to_it() -> None:
    book = book_with(mm("b1", BUY, "189.95"), mm("a1", SELL, "190.05"))
    result = book.submit(pegged("p", BUY, "100", PegType.MARKET, "0", cap="190.00"))
    assert fills_of(result, "p") == []
    assert book.best_bid() == D("190.00")
    book.cancel("a1")
    moved = book.submit(mm("a2", SELL, "190.00"))
    assert fills_of(moved, "p") == [(D(100), D("190.00"))]
    assert book.status("p").status is OrderStatus.FILLED


def test_a_native_midpoint_peg_rests_at_the_mid_rounded_away_from_the_market() -> None:
    book = book_with(mm("b1", BUY, "189.95"), mm("a1", SELL, "190.04"))
    book.submit(pegged("p", BUY, "100", PegType.MIDPOINT, "0"))
    book.submit(pegged("s", SELL, "100", PegType.MIDPOINT, "0"))
    assert (book.best_bid(), book.best_ask()) == (D("189.99"), D("190.00"))


def test_a_native_peg_with_nothing_to_follow_is_canceled_saying_so() -> None:
    book = book_with(mm("a1", SELL, "190.05"))
    result = book.submit(pegged("p", BUY, "100", PegType.PRIMARY, "0"))
    assert isinstance(result.events[-1], Canceled)
    assert "no price to peg to" in result.events[-1].text
