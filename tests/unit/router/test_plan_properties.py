"""Properties every routing plan keeps, on any book (hypothesis)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from oms_server.domain.decimals import average_price, is_multiple_of
from oms_server.domain.enums import OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.instruments import Instrument
from router.book import Level, VenueBook, VenueInfo
from router.plan import ChildPlan, ParentSpec, Purpose, RoutingPlan
from router.strategies import plan_route

MAX_EXAMPLES = 200
NAMES = ("A", "B", "C", "D")
CENT = D("0.01")
LOTS = (D(1), D(100), D("0.5"))
MOSTLY_TRUE = st.sampled_from((True, True, True, False))


@st.composite
def levels(draw, lot: D, *, whole_lots: bool, asks: bool) -> tuple[Level, ...]:
    """Up to 5 levels best first, in cents: asks rising from ~100.00, bids falling from it."""
    count = draw(st.integers(0, 5))
    price = draw(st.integers(10_000, 10_010) if asks else st.integers(9_990, 9_999))
    out = []
    for _ in range(count):
        if whole_lots:
            size = lot * draw(st.integers(1, 20))
        else:
            size = D(draw(st.integers(1, 2_000))) * lot / 7
        out.append(Level(price * CENT, size))
        price += draw(st.integers(1, 5)) * (1 if asks else -1)
    return tuple(out)


@st.composite
def markets(draw, lot: D, *, whole_lots: bool):
    names = draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=4, unique=True))
    venues = {
        n: VenueInfo(
            n,
            taker_fee_bps=D(draw(st.integers(0, 50))) / 10,  # as wide as a few ticks
            maker_rebate_bps=D(draw(st.integers(0, 30))),
            latency_ms=draw(st.floats(0, 10)),
            healthy=draw(MOSTLY_TRUE),
        )
        for n in names
    }
    with_book = [n for n in names if draw(MOSTLY_TRUE)]
    books = {
        n: VenueBook(
            n,
            "XYZ",
            asks=draw(levels(lot, whole_lots=whole_lots, asks=True)),
            bids=draw(levels(lot, whole_lots=whole_lots, asks=False)),
        )
        for n in with_book
    }
    return books, venues


@st.composite
def parents(draw, lot: D, strategy=None, min_lots=None) -> ParentSpec:
    side = draw(st.sampled_from(Side))
    order_type = draw(st.sampled_from([OrderType.MARKET, OrderType.LIMIT]))
    # Limits mostly marketable: up to 0.30 through the touch, sometimes short of it.
    offset = draw(st.integers(-5, 30)) * side.sign
    limit = (D(10_000 if side is Side.BUY else 9_999) + offset) * CENT
    return ParentSpec(
        side=side,
        order_type=order_type,
        time_in_force=draw(st.sampled_from(TimeInForce)),
        quantity=lot * draw(st.integers(1, 80)),
        limit_price=limit if order_type is OrderType.LIMIT else None,
        instrument=Instrument("XYZ", CENT, lot, D(100)),
        strategy=strategy or draw(st.sampled_from(RoutingStrategy)),
        venue=draw(st.sampled_from((*NAMES, "Q", ""))),
        min_child_qty=lot * (min_lots or draw(st.integers(1, 5))),
    )


@st.composite
def cases(draw, *, whole_lots: bool = False, strategy=None, min_lots=None):
    lot = draw(st.sampled_from(LOTS))
    books, venues = draw(markets(lot, whole_lots=whole_lots))
    return draw(parents(lot, strategy, min_lots)), books, venues


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(cases())
def test_every_plan_keeps_the_routing_invariants(case) -> None:
    parent, books, venues = case
    plan = plan_route(parent, books, venues)

    assert plan.routed_qty <= parent.quantity
    assert plan.unrouted_qty == parent.quantity - plan.routed_qty
    for child in plan.children:
        assert venues[child.venue].healthy
        assert child.quantity > 0
        assert is_multiple_of(child.quantity, parent.lot_size)
        assert child.quantity >= parent.min_child or child.quantity == parent.quantity
        assert not _beyond_limit(child.limit_price, parent)
    if parent.strategy is not RoutingStrategy.DIRECT:
        _check_swept_plan(parent, plan, books)


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(cases(whole_lots=True, strategy=RoutingStrategy.BEST_PRICE, min_lots=1))
def test_best_price_is_never_worse_than_the_best_single_venue(case) -> None:
    """On the quantity venue v alone could fill, the sweep's cheapest units cost no more.

    The sweep takes the globally cheapest net units (up to the parent's quantity, within
    the limit), so its cheapest q units cost no more than any q units, in particular the
    q a single venue would fill. With whole-lot sizes and a one-lot minimum, it is exact.
    A FOK that cannot be filled whole sends nothing, by design, and is left out.
    """
    parent, books, venues = case
    plan = plan_route(parent, books, venues)
    if parent.time_in_force is TimeInForce.FOK and plan.is_empty:
        return
    units = sorted(
        u
        for c in plan.children
        if c.purpose is Purpose.TAKE
        for u in _units(c, parent, books, venues)
    )

    for name, book in books.items():
        if not venues[name].healthy:
            continue
        single = _walk_units(book, venues[name], parent, parent.quantity)
        q = sum(qty for _, qty in single)
        assert _cheapest_cost(units, q) <= _cheapest_cost(single, q)


def _check_swept_plan(parent: ParentSpec, plan: RoutingPlan, books) -> None:
    """BEST_PRICE, LIQUIDITY: IOC takes within displayed size; rests only when allowed."""
    if parent.time_in_force is TimeInForce.FOK:
        assert plan.is_empty or plan.routed_qty == parent.quantity
    may_rest = parent.order_type is OrderType.LIMIT and parent.time_in_force.rests
    rests = [c for c in plan.children if c.purpose is Purpose.REST]
    assert len(rests) <= (1 if may_rest else 0)
    for child in plan.children:
        assert child.venue in books
        if child.purpose is Purpose.TAKE:
            assert (child.order_type, child.time_in_force) == (OrderType.LIMIT, TimeInForce.IOC)
            shown = sum(
                (
                    lvl.size
                    for lvl in books[child.venue].levels_to_take(parent.side)
                    if not _beyond(lvl.price, child.limit_price, parent.side)
                ),
                D(0),
            )
            assert child.quantity <= shown
    takes = [c.venue for c in plan.children if c.purpose is Purpose.TAKE]
    assert len(takes) == len(set(takes))


def _beyond_limit(price: D | None, parent: ParentSpec) -> bool:
    if parent.limit_price is None:
        return False
    return price is None or _beyond(price, parent.limit_price, parent.side)


def _beyond(price: D, limit: D, side: Side) -> bool:
    return price > limit if side is Side.BUY else price < limit


def _units(child: ChildPlan, parent: ParentSpec, books, venues) -> list[tuple[D, D]]:
    """The (signed net price, qty) pieces a take child takes; checks its expected price."""
    book = books[child.venue]
    pieces = _walk_units(book, venues[child.venue], parent, child.quantity)
    raw = _walk_raw(book.levels_to_take(parent.side), child.quantity)
    assert sum(q for _, q in pieces) == child.quantity
    assert child.expected_price == average_price(raw, child.quantity)
    return pieces


def _walk_units(book: VenueBook, info: VenueInfo, parent: ParentSpec, quantity: D):
    """(signed net price, qty) pieces of walking ``book`` within the parent's limit."""
    remaining = quantity
    out = []
    for lvl in book.levels_to_take(parent.side):
        if remaining <= 0 or _beyond_limit(lvl.price, parent):
            break
        qty = min(lvl.size, remaining)
        net = lvl.price * (1 + parent.side.sign * info.taker_fee_bps / 10_000)
        out.append((parent.side.sign * net, qty))
        remaining -= qty
    return out


def _walk_raw(levels, quantity: D) -> D:
    notional, remaining = D(0), quantity
    for lvl in levels:
        qty = min(lvl.size, remaining)
        notional, remaining = notional + qty * lvl.price, remaining - qty
    return notional


def _cheapest_cost(units, quantity: D) -> D:
    """Signed net cost of the cheapest ``quantity`` among ``units`` (lower is better)."""
    cost, remaining = D(0), quantity
    for signed_net, qty in sorted(units):
        take = min(qty, remaining)
        cost, remaining = cost + take * signed_net, remaining - take
    assert remaining == 0
    return cost
