"""One symbol's limit order book with strict price-time priority.

Pure Python and Decimal only. The book trusts its input to suit the instrument (tick,
lot, price present for limits): ``MatchingEngine`` checks that before calling it.

An incoming order trades against the best opposite level first, oldest order first,
always at the resting order's price. What is left rests (DAY/GTC limits) or is
cancelled (market, IOC). A FOK order first checks that the crossing liquidity covers
it in full, and otherwise is cancelled without touching the book.

A native iceberg (``display_quantity`` set) shows at most that much in the book's depth;
all of it trades. When its shown part is used up the next part is shown at the back of
its price level, as a new order would be (real venues give a refreshed slice no time
priority).

A native pegged order (``peg_type`` set; its ``price`` is then its cap, or None) is
priced by the book itself: the peg price against the best bid and ask of the orders that
are not pegged, ``peg_offset`` away on the passive side, and re-priced (to the back of its
new level, trading if it crosses) whenever a command leaves the book elsewhere.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, insort
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from oms_server.domain.child import Liquidity
from oms_server.domain.decimals import ZERO, bps_of, fmt
from oms_server.domain.enums import OrderType, PegType, Side, TimeInForce
from oms_server.domain.peg import peg_price
from venues.sim.events import (
    Accepted,
    Canceled,
    CancelRejected,
    Expired,
    Filled,
    MatchResult,
    OrderEvent,
    OrderStatus,
    OrderStatusReport,
    Owner,
    Replaced,
    ReplaceRejected,
    Trade,
)

#: One price level of a book: (price, size), the size being the open quantity there.
PriceLevel = tuple[Decimal, Decimal]

CANCELED_ON_REQUEST_TEXT = "canceled on request"
UNKNOWN_ORDER_TEXT = "unknown order id"
FOK_UNFILLED_TEXT = "FOK order could not be filled in full"
IOC_REMAINDER_TEXT = "IOC remainder canceled"
MARKET_REMAINDER_TEXT = "market order remainder canceled: no more liquidity"
EXPIRED_TEXT = "DAY order expired"
UNPRICED_PEG_TEXT = "pegged order canceled: the book has no price to peg to"
#: Re-pricing passes after one command (a re-priced peg that trades moves the others).
MAX_REPRICE_PASSES = 4

E = TypeVar("E", bound=OrderEvent)


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A new order sent to a venue; ``price`` is None for market orders."""

    order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    price: Decimal | None = None
    owner: Owner = Owner.OMS
    #: A native iceberg's shown size; None shows the whole order.
    display_quantity: Decimal | None = None
    #: A native peg: what it follows, and how far on the passive side (``price``: cap).
    peg_type: PegType | None = None
    peg_offset: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class BookDepth:
    """Aggregated levels of one book, best first on each side."""

    symbol: str
    bids: list[PriceLevel]
    asks: list[PriceLevel]


@dataclass(slots=True, eq=False)
class SimOrder:
    """An order as the book keeps it; only the book changes it."""

    order_id: str
    owner: Owner
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    price: Decimal | None
    status: OrderStatus = OrderStatus.NEW
    cum_qty: Decimal = ZERO
    fills: list[Filled] = field(default_factory=list)
    #: A native iceberg's shown size (None: all shown), and the filled quantity when
    #: its current slice was shown.
    display_quantity: Decimal | None = None
    slice_base: Decimal = ZERO
    #: A native peg's terms; ``price`` is then where it rests now.
    peg_type: PegType | None = None
    peg_offset: Decimal = ZERO
    cap: Decimal | None = None

    @classmethod
    def from_new(cls, order: NewOrder) -> SimOrder:
        """A NEW order for the request ``order``."""
        return cls(
            order_id=order.order_id,
            owner=order.owner,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            time_in_force=order.time_in_force,
            quantity=order.quantity,
            price=order.price,
            display_quantity=order.display_quantity,
            peg_type=order.peg_type,
            peg_offset=order.peg_offset,
            cap=order.price if order.peg_type is not None else None,
        )

    @property
    def open_qty(self) -> Decimal:
        """Quantity not filled yet, whatever the status."""
        return self.quantity - self.cum_qty

    @property
    def shown_qty(self) -> Decimal:
        """What the book shows of the order: all that is open, or what is left of an
        iceberg's current slice."""
        if self.display_quantity is None:
            return self.open_qty
        return min(self.open_qty, self.display_quantity - (self.cum_qty - self.slice_base))

    @property
    def leaves_qty(self) -> Decimal:
        """Quantity still working: zero once the order is done."""
        return self.open_qty if self.status.is_live else ZERO

    @property
    def may_rest(self) -> bool:
        """True when an unfilled remainder rests on the book (DAY/GTC limits)."""
        return self.order_type is OrderType.LIMIT and self.time_in_force.rests

    def report(self) -> OrderStatusReport:
        """The order's status with all its fills."""
        return OrderStatusReport(
            self.order_id, self.status, self.cum_qty, self.leaves_qty, tuple(self.fills)
        )


def unknown_order_refusal(cls: type[E], order_id: str, event_id: int) -> E:
    """A CancelRejected/ReplaceRejected for an order id the venue never saw."""
    return cls(
        event_id=event_id,
        order_id=order_id,
        owner=Owner.OMS,
        symbol="",
        status=OrderStatus.UNKNOWN,
        cum_qty=ZERO,
        leaves_qty=ZERO,
        text=UNKNOWN_ORDER_TEXT,
    )


class OrderBook:
    """The limit order book of one symbol.

    ``ids`` hands out venue-unique numbers for event and trade ids; a book shares it
    with the other books of its venue. Done market-maker orders are forgotten, so the
    book's memory grows only with OMS orders.
    """

    def __init__(
        self,
        symbol: str,
        *,
        taker_fee_bps: Decimal = ZERO,
        maker_rebate_bps: Decimal = ZERO,
        ids: Callable[[], int] | None = None,
        tick_size: Decimal = Decimal("0.01"),
    ) -> None:
        self.symbol = symbol
        self._taker_fee_bps = taker_fee_bps
        self._maker_rebate_bps = maker_rebate_bps
        self._ids = ids if ids is not None else itertools.count(1).__next__
        self._sides = {Side.BUY: _BookSide(Side.BUY), Side.SELL: _BookSide(Side.SELL)}
        self._orders: dict[str, SimOrder] = {}
        #: Live native pegs, oldest first.
        self._pegged: dict[str, SimOrder] = {}
        self.tick_size = tick_size

    def submit(self, order: NewOrder) -> MatchResult:
        """Accept ``order`` and match it; a known order id changes nothing (duplicate)."""
        if order.symbol != self.symbol:
            raise ValueError(f"order for {order.symbol} sent to the {self.symbol} book")
        known = self._orders.get(order.order_id)
        if known is not None:
            return MatchResult(duplicate=known.report())
        sim = SimOrder.from_new(order)
        self._orders[sim.order_id] = sim
        out = _Out(self._ids)
        out.emit(Accepted, sim)
        if sim.peg_type is not None:
            sim.price = self._peg_price(sim)
            if sim.price is None:
                self._close(sim, OrderStatus.CANCELED, Canceled, UNPRICED_PEG_TEXT, out)
                return out.result()
            self._pegged[sim.order_id] = sim
        self._take(sim, out)
        return self._repriced(out)

    def cancel(self, order_id: str, text: str = CANCELED_ON_REQUEST_TEXT) -> MatchResult:
        """Cancel the rest of a live order; refuse for unknown or done orders."""
        out = _Out(self._ids)
        order = self._orders.get(order_id)
        if order is None:
            out.add(unknown_order_refusal(CancelRejected, order_id, self._ids()))
        elif not order.status.is_live:
            out.emit(CancelRejected, order, text=f"order is already {order.status.value}")
        else:
            self._close(order, OrderStatus.CANCELED, Canceled, text, out)
        return self._repriced(out)

    def replace(
        self, order_id: str, quantity: Decimal | None = None, price: Decimal | None = None
    ) -> MatchResult:
        """Change a live order's total quantity and/or limit price.

        A pure quantity decrease keeps time priority; a price change or a quantity
        increase re-enters the order at the back (and it may trade at once). A new
        quantity not above the filled quantity is refused.
        """
        out = _Out(self._ids)
        order = self._orders.get(order_id)
        if order is None:
            out.add(unknown_order_refusal(ReplaceRejected, order_id, self._ids()))
            return out.result()
        new_qty = order.quantity if quantity is None else quantity
        new_price = order.price if price is None else price
        problem = _replace_problem(order, quantity, price, new_qty)
        if problem:
            out.emit(ReplaceRejected, order, text=problem)
        elif new_price == order.price and new_qty <= order.quantity:
            order.quantity = new_qty
            out.emit(Replaced, order, quantity=new_qty, price=new_price)
        else:
            self._sides[order.side].remove(order)
            order.quantity, order.price = new_qty, new_price
            out.emit(Replaced, order, quantity=new_qty, price=new_price)
            self._take(order, out)
        return self._repriced(out)

    def refuse_replace(self, order_id: str, text: str) -> MatchResult:
        """Refuse a replace of a known order with ``text``; the order is unchanged."""
        out = _Out(self._ids)
        out.emit(ReplaceRejected, self._orders[order_id], text=text)
        return out.result()

    def cancel_all(self, owner: Owner, text: str = CANCELED_ON_REQUEST_TEXT) -> MatchResult:
        """Cancel every resting order of ``owner``."""
        out = _Out(self._ids)
        for order in self._resting():
            if order.owner is owner:
                self._close(order, OrderStatus.CANCELED, Canceled, text, out)
        return self._repriced(out)

    def expire_day_orders(self) -> MatchResult:
        """Expire every resting DAY order (the end of the trading day)."""
        out = _Out(self._ids)
        for order in self._resting():
            if order.time_in_force is TimeInForce.DAY:
                self._close(order, OrderStatus.EXPIRED, Expired, EXPIRED_TEXT, out)
        return self._repriced(out)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def status(self, order_id: str) -> OrderStatusReport:
        """The order's status and fills; UNKNOWN for ids this book does not know."""
        order = self._orders.get(order_id)
        if order is None:
            return OrderStatusReport(order_id, OrderStatus.UNKNOWN)
        return order.report()

    def order_ids(self, owner: Owner | None = None) -> list[str]:
        """The order ids the book knows (of ``owner`` when given), oldest first."""
        return [i for i, order in self._orders.items() if owner is None or order.owner is owner]

    def best_bid(self) -> Decimal | None:
        """The highest resting buy price, or None."""
        return self._sides[Side.BUY].best()

    def best_ask(self) -> Decimal | None:
        """The lowest resting sell price, or None."""
        return self._sides[Side.SELL].best()

    def depth(self, levels: int) -> BookDepth:
        """Up to ``levels`` aggregated price levels per side, best first."""
        return BookDepth(
            self.symbol, self._sides[Side.BUY].depth(levels), self._sides[Side.SELL].depth(levels)
        )

    # -- native pegs ---------------------------------------------------------------

    def _repriced(self, out: _Out) -> MatchResult:
        """Re-price the live pegs the command moved away from, then the result."""
        for _ in range(MAX_REPRICE_PASSES):
            if not self._pegged or not self._reprice_once(out):
                break
        return out.result()

    def _reprice_once(self, out: _Out) -> bool:
        moved = False
        for order in list(self._pegged.values()):
            if not order.status.is_live:
                del self._pegged[order.order_id]
                continue
            target = self._peg_price(order)
            if target is None or target == order.price:
                continue  # with nothing to follow it stays where it is
            self._sides[order.side].discard(order)
            order.price = target
            self._take(order, out)
            moved = True
        return moved

    def _peg_price(self, order: SimOrder) -> Decimal | None:
        """Where ``order`` (a native peg) rests against the book less its pegs."""
        assert order.peg_type is not None
        bid = self._sides[Side.BUY].best_unpegged()
        ask = self._sides[Side.SELL].best_unpegged()
        return peg_price(
            order.peg_type, order.side, order.peg_offset, order.cap, bid, ask, self.tick_size
        )

    # -- matching ------------------------------------------------------------------

    def _take(self, order: SimOrder, out: _Out) -> None:
        """Match an incoming order, then rest or cancel what is left."""
        if order.time_in_force is TimeInForce.FOK and self._crossing_qty(order) < order.open_qty:
            self._close(order, OrderStatus.CANCELED, Canceled, FOK_UNFILLED_TEXT, out)
            return
        self._match(order, out)
        if order.open_qty == ZERO:
            return
        if order.may_rest:
            order.slice_base = order.cum_qty  # an iceberg shows a whole slice as it rests
            self._sides[order.side].add(order)
        else:
            self._close(order, OrderStatus.CANCELED, Canceled, _remainder_text(order), out)

    def _match(self, taker: SimOrder, out: _Out) -> None:
        opposite = self._sides[taker.side.opposite]
        while taker.open_qty > ZERO:
            price = opposite.best()
            if price is None or not _crosses(taker, price):
                return
            maker = opposite.first_at(price)
            self._trade(maker, taker, price, min(taker.open_qty, maker.shown_qty), out)
            if maker.open_qty == ZERO:
                opposite.remove(maker)
            elif maker.shown_qty == ZERO:
                opposite.refresh(maker)

    def _crossing_qty(self, taker: SimOrder) -> Decimal:
        """Open quantity on the crossing levels, counted until it covers the taker."""
        total = ZERO
        opposite = self._sides[taker.side.opposite]
        for price in opposite.prices_best_first():
            if total >= taker.open_qty or not _crosses(taker, price):
                break
            total += opposite.open_at(price)
        return total

    def _trade(
        self, maker: SimOrder, taker: SimOrder, price: Decimal, qty: Decimal, out: _Out
    ) -> None:
        notional = price * qty
        rebate = bps_of(notional, self._maker_rebate_bps)
        maker_fee = -rebate if rebate else ZERO
        taker_fee = bps_of(notional, self._taker_fee_bps)
        trade_id = self._ids()
        out.trades.append(
            Trade(
                trade_id=trade_id,
                symbol=self.symbol,
                price=price,
                qty=qty,
                maker_order_id=maker.order_id,
                taker_order_id=taker.order_id,
                taker_side=taker.side,
                maker_fee=maker_fee,
                taker_fee=taker_fee,
            )
        )
        self._fill(maker, trade_id, price, qty, maker_fee, Liquidity.MAKER, out)
        self._fill(taker, trade_id, price, qty, taker_fee, Liquidity.TAKER, out)

    def _fill(
        self,
        order: SimOrder,
        trade_id: int,
        price: Decimal,
        qty: Decimal,
        fee: Decimal,
        liquidity: Liquidity,
        out: _Out,
    ) -> None:
        order.cum_qty += qty
        done = order.open_qty == ZERO
        order.status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        event = out.emit(
            Filled,
            order,
            trade_id=trade_id,
            last_qty=qty,
            last_price=price,
            fee=fee,
            liquidity=liquidity,
        )
        order.fills.append(event)
        if done:
            self._forget_if_mm(order)

    def _close(
        self, order: SimOrder, status: OrderStatus, cls: type[OrderEvent], text: str, out: _Out
    ) -> None:
        """End a live order: take it off the book, set ``status`` and report it."""
        self._sides[order.side].discard(order)
        order.status = status
        out.emit(cls, order, text=text)
        self._forget_if_mm(order)

    def _forget_if_mm(self, order: SimOrder) -> None:
        if order.owner is Owner.MM:
            self._orders.pop(order.order_id, None)

    def _resting(self) -> list[SimOrder]:
        return [*self._sides[Side.BUY].orders(), *self._sides[Side.SELL].orders()]


class _Out:
    """Collects the events and trades of one command, numbering each event."""

    __slots__ = ("_ids", "events", "trades")

    def __init__(self, ids: Callable[[], int]) -> None:
        self._ids = ids
        self.events: list[OrderEvent] = []
        self.trades: list[Trade] = []

    def emit(self, cls: type[E], order: SimOrder, **extra: Any) -> E:
        """Record a ``cls`` event carrying ``order``'s state right now."""
        event = cls(
            event_id=self._ids(),
            order_id=order.order_id,
            owner=order.owner,
            symbol=order.symbol,
            status=order.status,
            cum_qty=order.cum_qty,
            leaves_qty=order.leaves_qty,
            **extra,
        )
        self.events.append(event)
        return event

    def add(self, event: OrderEvent) -> None:
        self.events.append(event)

    def result(self) -> MatchResult:
        return MatchResult(tuple(self.events), tuple(self.trades))


class _BookSide:
    """One side of a book: price levels, each a FIFO of orders keyed by order id."""

    __slots__ = ("_levels", "_prices", "side")

    def __init__(self, side: Side) -> None:
        self.side = side
        self._prices: list[Decimal] = []  # ascending
        self._levels: dict[Decimal, dict[str, SimOrder]] = {}

    def best(self) -> Decimal | None:
        if not self._prices:
            return None
        return self._prices[-1] if self.side is Side.BUY else self._prices[0]

    def best_unpegged(self) -> Decimal | None:
        """The best price of an order here that is not a native peg, or None."""
        return next((o.price for o in self.orders() if o.peg_type is None), None)

    def prices_best_first(self) -> Iterator[Decimal]:
        return reversed(self._prices) if self.side is Side.BUY else iter(self._prices)

    def first_at(self, price: Decimal) -> SimOrder:
        return next(iter(self._levels[price].values()))

    def size_at(self, price: Decimal) -> Decimal:
        """What the level shows (icebergs only their current slices)."""
        return sum((order.shown_qty for order in self._levels[price].values()), ZERO)

    def open_at(self, price: Decimal) -> Decimal:
        """All the level may trade, hidden iceberg quantity included."""
        return sum((order.open_qty for order in self._levels[price].values()), ZERO)

    def refresh(self, order: SimOrder) -> None:
        """Show an iceberg's next slice, at the back of its level."""
        order.slice_base = order.cum_qty
        self.remove(order)
        self.add(order)

    def add(self, order: SimOrder) -> None:
        assert order.price is not None
        level = self._levels.get(order.price)
        if level is None:
            level = self._levels[order.price] = {}
            insort(self._prices, order.price)
        level[order.order_id] = order

    def remove(self, order: SimOrder) -> None:
        assert order.price is not None
        level = self._levels[order.price]
        del level[order.order_id]
        if not level:
            del self._levels[order.price]
            del self._prices[bisect_left(self._prices, order.price)]

    def discard(self, order: SimOrder) -> None:
        """Remove ``order`` if it rests here."""
        level = self._levels.get(order.price) if order.price is not None else None
        if level is not None and order.order_id in level:
            self.remove(order)

    def orders(self) -> Iterator[SimOrder]:
        for price in self.prices_best_first():
            yield from self._levels[price].values()

    def depth(self, levels: int) -> list[PriceLevel]:
        prices = itertools.islice(self.prices_best_first(), max(levels, 0))
        return [(price, self.size_at(price)) for price in prices]


def _crosses(taker: SimOrder, price: Decimal) -> bool:
    """True when ``taker`` may trade at a resting ``price``."""
    if taker.price is None:
        return True
    return price <= taker.price if taker.side is Side.BUY else price >= taker.price


def _replace_problem(
    order: SimOrder, quantity: Decimal | None, price: Decimal | None, new_qty: Decimal
) -> str:
    """Why a replace is refused, or '' when it may go ahead."""
    if not order.status.is_live:
        return f"order is already {order.status.value}"
    if quantity is None and price is None:
        return "replace changes neither quantity nor price"
    if new_qty <= order.cum_qty:
        return f"quantity: {fmt(new_qty)} is not above the filled quantity {fmt(order.cum_qty)}"
    return ""


def _remainder_text(order: SimOrder) -> str:
    if order.order_type is OrderType.MARKET:
        return MARKET_REMAINDER_TEXT
    return IOC_REMAINDER_TEXT
