"""One venue's matching engine: an order book per symbol, routed by order id.

The engine is the venue's front door. It refuses orders for unknown symbols, off-tick
prices and off-lot quantities with a reason that names the problem, hands the rest to
the symbol's ``OrderBook``, and answers status queries (reconciliation) for every order
id it has seen. Done market-maker orders are forgotten and then read as UNKNOWN.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from decimal import Decimal

from oms_server.domain.decimals import ZERO, fmt, is_multiple_of, parse_positive
from oms_server.domain.enums import OrderType, Side, TimeInForce
from oms_server.domain.errors import NotFoundError, ValidationError
from oms_server.domain.instruments import Instrument
from venues.sim.events import (
    CancelRejected,
    MatchResult,
    OrderStatus,
    OrderStatusReport,
    Owner,
    Rejected,
    ReplaceRejected,
)
from venues.sim.order_book import (
    CANCELED_ON_REQUEST_TEXT,
    BookDepth,
    NewOrder,
    OrderBook,
    unknown_order_refusal,
)

#: Prefix of the order ids of seeded starting levels.
SEED_ORDER_PREFIX = "seed"

#: A starting level from the scenario: [price, size], as decimal strings or Decimals.
SeedLevel = Sequence[str | Decimal]


class MatchingEngine:
    """The order books of one venue, with its taker fee and maker rebate (in bps)."""

    def __init__(
        self,
        instruments: Iterable[Instrument],
        *,
        taker_fee_bps: Decimal = ZERO,
        maker_rebate_bps: Decimal = ZERO,
    ) -> None:
        self._ids = itertools.count(1).__next__
        self._instruments = {instrument.symbol: instrument for instrument in instruments}
        self._books = {
            symbol: OrderBook(
                symbol,
                taker_fee_bps=taker_fee_bps,
                maker_rebate_bps=maker_rebate_bps,
                ids=self._ids,
                tick_size=instrument.tick_size,
            )
            for symbol, instrument in self._instruments.items()
        }
        self._rejected: dict[str, OrderStatusReport] = {}

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        """The venue's instruments, in the order given."""
        return tuple(self._instruments.values())

    def submit(self, order: NewOrder) -> MatchResult:
        """Check and match a new order; a known order id changes nothing (duplicate)."""
        known = self._known_status(order.order_id)
        if known is not None:
            return MatchResult(duplicate=known)
        problem = self._new_order_problem(order)
        if problem:
            return self._reject(order.order_id, order.symbol, order.owner, problem)
        return self._books[order.symbol].submit(order)

    def reject(self, order_id: str, symbol: str, reason: str) -> MatchResult:
        """Refuse a new OMS order with ``reason`` (fields missing, or a simulated fault);
        a known order id changes nothing (duplicate)."""
        known = self._known_status(order_id)
        if known is not None:
            return MatchResult(duplicate=known)
        return self._reject(order_id, symbol, Owner.OMS, reason)

    def cancel(self, order_id: str) -> MatchResult:
        """Cancel the rest of a live order; CancelRejected when unknown or done."""
        book = self._book_of(order_id)
        if book is None:
            return self._refuse_unknown(CancelRejected, order_id)
        return book.cancel(order_id)

    def replace(
        self, order_id: str, quantity: Decimal | None = None, price: Decimal | None = None
    ) -> MatchResult:
        """Change a live order's quantity and/or price (see ``OrderBook.replace``)."""
        book = self._book_of(order_id)
        if book is None:
            return self._refuse_unknown(ReplaceRejected, order_id)
        problem = _replace_field_problem(self._instruments[book.symbol], quantity, price)
        if problem:
            return book.refuse_replace(order_id, problem)
        return book.replace(order_id, quantity, price)

    def status(self, order_id: str) -> OrderStatusReport:
        """Status, cum/leaves quantity and all fills of an order; UNKNOWN if never seen."""
        known = self._known_status(order_id)
        return known if known is not None else OrderStatusReport(order_id, OrderStatus.UNKNOWN)

    def statuses(self, order_ids: Iterable[str] | None = None) -> list[OrderStatusReport]:
        """Status of each of ``order_ids``; of every known OMS order when None."""
        if order_ids is None:
            books = self._books.values()
            order_ids = [*self._rejected, *(i for b in books for i in b.order_ids(Owner.OMS))]
        return [self.status(order_id) for order_id in order_ids]

    def top_of_book(self, symbol: str, depth: int) -> BookDepth:
        """Up to ``depth`` aggregated (price, size) levels per side, best first."""
        return self._book(symbol).depth(depth)

    def seed_book(
        self, symbol: str, bids: Sequence[SeedLevel], asks: Sequence[SeedLevel]
    ) -> MatchResult:
        """Place a scenario's starting levels as market-maker GTC limit orders.

        Raises ValidationError naming the bad level, NotFoundError for an unknown symbol.
        """
        instrument = self._instrument(symbol)
        orders = [
            *_seed_orders(instrument, Side.BUY, bids, "bids"),
            *_seed_orders(instrument, Side.SELL, asks, "asks"),
        ]
        return MatchResult.combine(self.submit(order) for order in orders)

    def cancel_all(
        self, symbol: str, owner: Owner, text: str = CANCELED_ON_REQUEST_TEXT
    ) -> MatchResult:
        """Cancel every resting order of ``owner`` on ``symbol``."""
        return self._book(symbol).cancel_all(owner, text)

    def expire_day_orders(self) -> MatchResult:
        """Expire every resting DAY order on every book (end of the trading day)."""
        return MatchResult.combine(book.expire_day_orders() for book in self._books.values())

    # -- helpers -------------------------------------------------------------------

    def _instrument(self, symbol: str) -> Instrument:
        instrument = self._instruments.get(symbol)
        if instrument is None:
            raise NotFoundError(f"unknown symbol {symbol!r}")
        return instrument

    def _book(self, symbol: str) -> OrderBook:
        return self._books[self._instrument(symbol).symbol]

    def _book_of(self, order_id: str) -> OrderBook | None:
        return next((book for book in self._books.values() if order_id in book), None)

    def _known_status(self, order_id: str) -> OrderStatusReport | None:
        rejected = self._rejected.get(order_id)
        if rejected is not None:
            return rejected
        book = self._book_of(order_id)
        return book.status(order_id) if book is not None else None

    def _new_order_problem(self, order: NewOrder) -> str:
        instrument = self._instruments.get(order.symbol)
        if instrument is None:
            return f"symbol: unknown symbol {order.symbol!r}"
        return _order_field_problem(instrument, order)

    def _reject(self, order_id: str, symbol: str, owner: Owner, text: str) -> MatchResult:
        if owner is Owner.OMS:
            self._rejected[order_id] = OrderStatusReport(order_id, OrderStatus.REJECTED)
        event = Rejected(
            event_id=self._ids(),
            order_id=order_id,
            owner=owner,
            symbol=symbol,
            status=OrderStatus.REJECTED,
            cum_qty=ZERO,
            leaves_qty=ZERO,
            text=text,
        )
        return MatchResult(events=(event,))

    def _refuse_unknown(
        self, cls: type[CancelRejected] | type[ReplaceRejected], order_id: str
    ) -> MatchResult:
        return MatchResult(events=(unknown_order_refusal(cls, order_id, self._ids()),))


def _order_field_problem(instrument: Instrument, order: NewOrder) -> str:
    """Why a new order does not suit the instrument, or '' when it does."""
    if order.order_type not in (OrderType.LIMIT, OrderType.MARKET):
        return f"order_type: {order.order_type.value} is not supported"
    if order.peg_type is not None:
        problem = _peg_problem(instrument, order)
        if problem:
            return problem
    elif order.order_type is OrderType.LIMIT and order.price is None:
        return "limit_price: is required for a limit order"
    if order.order_type is OrderType.MARKET and order.price is not None:
        return "limit_price: must be empty for a market order"
    problem = _display_problem(instrument, order)
    if problem:
        return problem
    return _replace_field_problem(instrument, order.quantity, order.price)


def _peg_problem(instrument: Instrument, order: NewOrder) -> str:
    """Why a native peg's terms are refused, or ''."""
    if order.order_type is not OrderType.LIMIT or not order.time_in_force.rests:
        return "peg_type: only a DAY or GTC limit order may be pegged"
    if order.peg_offset < ZERO:
        return "peg_offset: must be zero or more"
    if not is_multiple_of(order.peg_offset, instrument.tick_size):
        return f"peg_offset: {fmt(order.peg_offset)} is not a multiple of the tick size"
    return ""


def _display_problem(instrument: Instrument, order: NewOrder) -> str:
    """Why a native iceberg's display quantity is refused, or ''."""
    display = order.display_quantity
    if display is None:
        return ""
    if order.order_type is not OrderType.LIMIT:
        return "display_quantity: only a limit order may be an iceberg"
    if display <= ZERO or display > order.quantity:
        return "display_quantity: must be positive and at most the quantity"
    try:
        instrument.check_quantity(display, "display_quantity")
    except ValidationError as exc:
        return exc.message
    return ""


def _replace_field_problem(
    instrument: Instrument, quantity: Decimal | None, price: Decimal | None
) -> str:
    """Why a quantity or price is off the instrument's lot or tick grid, or ''."""
    try:
        if quantity is not None:
            instrument.check_quantity(quantity, "quantity")
        if price is not None:
            instrument.check_price(price, "limit_price")
    except ValidationError as exc:
        return exc.message
    return ""


def _seed_orders(
    instrument: Instrument, side: Side, levels: Sequence[SeedLevel], field: str
) -> list[NewOrder]:
    orders = []
    for index, level in enumerate(levels):
        name = f"{field}[{index}]"
        if len(level) != 2:
            raise ValidationError(name, "must be [price, size]")
        price = _seed_decimal(level[0], f"{name}.price")
        size = _seed_decimal(level[1], f"{name}.size")
        instrument.check_price(price, f"{name}.price")
        instrument.check_quantity(size, f"{name}.size")
        order_id = f"{SEED_ORDER_PREFIX}-{instrument.symbol}-{field}-{index}"
        orders.append(
            NewOrder(
                order_id,
                instrument.symbol,
                side,
                OrderType.LIMIT,
                TimeInForce.GTC,
                size,
                price,
                Owner.MM,
            )
        )
    return orders


def _seed_decimal(raw: str | Decimal, field: str) -> Decimal:
    return raw if isinstance(raw, Decimal) else parse_positive(raw, field)
