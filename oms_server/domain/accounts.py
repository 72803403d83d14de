"""Accounts: cash, reservations for working orders, positions, and risk limits.

Buying power is cash minus what working buy orders have reserved. A buy reserves
its worst-case cost (limit price, or the collar price for market orders, times the
open quantity, plus the largest taker fee); a sell reserves position. Fills turn
reservation into spent cash and position; anything that ends an order releases
what is left. Everything is exact Decimal arithmetic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from oms_server.domain.decimals import EXACT, MONEY_PLACES, ZERO, average_price, bps_of
from oms_server.domain.enums import Side
from oms_server.domain.errors import ValidationError

DEFAULT_MAX_ORDER_QUANTITY = Decimal("1000000")
DEFAULT_MAX_ORDER_NOTIONAL = Decimal("10000000")
DEFAULT_PRICE_COLLAR_BPS = Decimal("500")
DEFAULT_MAX_ORDERS_PER_SECOND = 1000


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Per-account pre-trade limits."""

    max_order_quantity: Decimal = DEFAULT_MAX_ORDER_QUANTITY
    max_order_notional: Decimal = DEFAULT_MAX_ORDER_NOTIONAL
    price_collar_bps: Decimal = DEFAULT_PRICE_COLLAR_BPS
    restricted_symbols: frozenset[str] = frozenset()
    max_orders_per_second: int = DEFAULT_MAX_ORDERS_PER_SECOND
    allow_short: bool = False
    duplicate_window_ms: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "max_order_quantity": str(self.max_order_quantity),
            "max_order_notional": str(self.max_order_notional),
            "price_collar_bps": str(self.price_collar_bps),
            "restricted_symbols": sorted(self.restricted_symbols),
            "max_orders_per_second": self.max_orders_per_second,
            "allow_short": self.allow_short,
            "duplicate_window_ms": self.duplicate_window_ms,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> RiskLimits:
        defaults = cls()
        return cls(
            max_order_quantity=Decimal(
                str(data.get("max_order_quantity", defaults.max_order_quantity))
            ),
            max_order_notional=Decimal(
                str(data.get("max_order_notional", defaults.max_order_notional))
            ),
            price_collar_bps=Decimal(str(data.get("price_collar_bps", defaults.price_collar_bps))),
            restricted_symbols=_symbols(data.get("restricted_symbols")),
            max_orders_per_second=_integer(
                "max_orders_per_second",
                data.get("max_orders_per_second", defaults.max_orders_per_second),
            ),
            allow_short=bool(data.get("allow_short", defaults.allow_short)),
            duplicate_window_ms=_integer("duplicate_window_ms", data.get("duplicate_window_ms", 0)),
        )

    def merged(self, given: RiskLimits, names: Iterable[str]) -> RiskLimits:
        """These limits with the ones ``names`` names taken from ``given``; no names: ``given``.

        ``names`` are field names of RiskLimits (SetRiskLimits' ``update_mask``); an unknown
        one is a ValidationError of ``update_mask``.
        """
        named = limit_names(names)
        if not named:
            return given
        return dataclasses.replace(self, **{name: getattr(given, name) for name in named})


#: The names of the limits, as an update names them (the fields of RiskLimits).
RISK_LIMIT_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RiskLimits))


def limit_names(names: Iterable[str]) -> frozenset[str]:
    """The limits an update names; a name that is no limit is a ValidationError."""
    named = frozenset(names)
    unknown = sorted(named.difference(RISK_LIMIT_NAMES))
    if unknown:
        raise ValidationError(
            "update_mask",
            f"not a risk limit: {', '.join(unknown)} (the limits: {', '.join(RISK_LIMIT_NAMES)})",
        )
    return named


@dataclass(slots=True)
class Position:
    """Quantity held of one symbol (negative: short) and its P&L, by the average-cost method.

    ``cost`` is the cost basis of the open quantity, signed like it: what a long cost,
    fees included; minus what a short brought in, net of fees. P&L is net of fees: a
    trade that opens or adds puts its fee into the cost basis; a trade that closes (a
    sell against a long, a buy against a short) realizes (price - average cost) x
    quantity for a long, (average cost - price) x quantity for a short, less its fee.
    A trade that crosses through flat closes first and opens the rest; its fee is split
    between the two in proportion. Amounts split off by ratio are rounded half-even to
    MONEY_PLACES; what stays in the cost basis is the exact rest, so nothing drifts.
    """

    quantity: Decimal = ZERO
    cost: Decimal = ZERO
    #: P&L realized by closing trades so far, net of fees.
    realized_pnl: Decimal = ZERO

    @property
    def average_cost(self) -> Decimal:
        """Cost basis per unit held (fees included): zero when flat."""
        return average_price(abs(self.cost), abs(self.quantity))

    def unrealized_pnl(self, mark: Decimal | None) -> Decimal | None:
        """The open quantity marked at ``mark`` against its cost basis; zero when flat,
        None when there is no mark."""
        if self.quantity == ZERO:
            return ZERO
        if mark is None:
            return None
        return mark * self.quantity - self.cost

    def apply_fill(self, side: Side, qty: Decimal, price: Decimal, fee: Decimal) -> Decimal:
        """Add a fill of ``qty`` at ``price`` paying ``fee``; returns the P&L it realized."""
        sign = 1 if side is Side.BUY else -1
        held = abs(self.quantity)
        against = self.quantity != ZERO and (self.quantity > ZERO) != (sign > 0)
        closing = min(qty, held) if against else ZERO
        opening = qty - closing
        closing_fee = fee if opening == ZERO else _share(fee, closing, qty)
        realized = ZERO
        if closing:
            released = self.cost if closing == held else _share(self.cost, closing, held)
            realized = -sign * closing * price - released - closing_fee
            self.cost -= released
            self.quantity += sign * closing
            self.realized_pnl += realized
        if opening:
            self.cost += sign * opening * price + (fee - closing_fee)
            self.quantity += sign * opening
        return realized


@dataclass(frozen=True, slots=True)
class Reservation:
    """What one working order holds back: cash (buys) or position (sells) of a symbol."""

    cash: Decimal = ZERO
    quantity: Decimal = ZERO
    symbol: str = ""


@dataclass(slots=True)
class Account:
    """An account's balances. Reservations are derived from working orders."""

    account_id: str
    cash: Decimal = ZERO
    active: bool = True
    limits: RiskLimits = field(default_factory=RiskLimits)
    positions: dict[str, Position] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)

    #: Running totals of ``reservations`` (kept so a check costs O(1), not O(orders)).
    reserved_cash: Decimal = ZERO
    reserved_quantities: dict[str, Decimal] = field(default_factory=dict)

    @property
    def buying_power(self) -> Decimal:
        return self.cash - self.reserved_cash

    def reserved_quantity(self, symbol: str) -> Decimal:
        return self.reserved_quantities.get(symbol, ZERO)

    def deposit(self, amount: Decimal) -> None:
        if amount <= ZERO:
            raise ValidationError("amount", "must be greater than zero")
        self.cash += amount

    def position(self, symbol: str) -> Position:
        return self.positions.setdefault(symbol, Position())

    def reserve(self, order_id: str, reservation: Reservation) -> None:
        """Hold ``reservation`` for an order, replacing what it held before."""
        self.release(order_id)
        self.reservations[order_id] = reservation
        self._add(reservation, 1)

    def release(self, order_id: str) -> None:
        held = self.reservations.pop(order_id, None)
        if held is not None:
            self._add(held, -1)

    def _add(self, reservation: Reservation, sign: int) -> None:
        self.reserved_cash += sign * reservation.cash
        if reservation.quantity:
            symbol = reservation.symbol
            total = self.reserved_quantities.get(symbol, ZERO) + sign * reservation.quantity
            self.reserved_quantities[symbol] = total

    def apply_fill(
        self, side: Side, symbol: str, qty: Decimal, price: Decimal, fee: Decimal
    ) -> Decimal:
        """Move cash and position for a fill (fees are paid in cash); the P&L it realized."""
        notional = qty * price
        self.cash += -(notional + fee) if side is Side.BUY else notional - fee
        return self.position(symbol).apply_fill(side, qty, price, fee)


def _share(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """``amount`` x ``part`` / ``whole``, rounded half-even to MONEY_PLACES."""
    return EXACT.divide(EXACT.multiply(amount, part), whole).quantize(MONEY_PLACES, context=EXACT)


def buy_reservation(open_qty: Decimal, price: Decimal, fee_bps: Decimal) -> Reservation:
    """Worst-case cash of buying ``open_qty`` at ``price`` plus the taker fee."""
    notional = open_qty * price
    return Reservation(cash=notional + bps_of(notional, fee_bps))


def sell_reservation(open_qty: Decimal, symbol: str) -> Reservation:
    return Reservation(quantity=open_qty, symbol=symbol)


def _integer(name: str, value: object) -> int:
    """An integer limit read back from JSON (a number, or its text)."""
    if isinstance(value, int | str):
        return int(value)
    raise ValidationError(name, f"must be an integer, not {value!r}")


def _symbols(value: object) -> frozenset[str]:
    """The restricted symbols read back from JSON: a list of strings, or nothing."""
    if value is None:
        return frozenset()
    if isinstance(value, list) and all(isinstance(symbol, str) for symbol in value):
        return frozenset(value)
    raise ValidationError("restricted_symbols", f"must be a list of symbols, not {value!r}")
