"""Pre-trade risk rules, in one ordered table. Each refusal names its rule in the error's reason.

``RULES`` lists the rules in the order they are checked; ``check_order`` runs them and
refuses with the first that fails. A rule is a small function that reads a ``RiskCheck``
(the account, the order's terms, the reference price and the prices that follow from
it) and says why it refuses, or None; a rule may rely on every rule above it having
passed. Adding a check is one function and one row. The same rules check a replace:
pass the new terms, and a ``Cover`` naming the order they replace.

The checks run in the engine's writer task against the account as it is at that
instant, so concurrent orders can never spend the same cash twice. The guards at the
end of this module (duplicates, order rate) remember what they admit, so they run
after the table, once nothing else can refuse the order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from oms_server.domain.accounts import Account, Reservation, buy_reservation
from oms_server.domain.decimals import BPS_PER_UNIT, ZERO, fmt
from oms_server.domain.enums import OrderType, Side
from oms_server.domain.errors import FailedPreconditionError, ResourceExhaustedError
from oms_server.domain.order import OrderRequest
from oms_server.domain.order_types import ORDER_TYPES, PRICE_TERMS, PriceSource, term_values

#: Recent orders remembered for duplicate detection before old ones are dropped.
DUPLICATE_KEYS_KEPT = 100_000


@dataclass(frozen=True, slots=True)
class PriceBasis:
    """The price a new order is checked and reserved at."""

    reference: Decimal
    reservation_price: Decimal


class OrderTerms(Protocol):
    """What the rules read of an order: an OrderRequest, or an Order with a replace's terms."""

    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def limit_price(self) -> Decimal | None: ...
    @property
    def stop_price(self) -> Decimal | None: ...


@dataclass(frozen=True, slots=True)
class Cover:
    """What the buying-power and position rules need besides the order.

    ``fee_bps`` is the taker fee a buy reserves on top of its notional. For a replace,
    ``replaces`` is the id of the order replaced (what it holds counts as available) and
    ``filled_qty`` what it has filled (only the rest of the new quantity is reserved).
    """

    fee_bps: Decimal
    replaces: str = ""
    filled_qty: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class RiskCheck:
    """What a rule reads. The prices are zero unless the reference price is positive."""

    account: Account
    order: OrderTerms
    reference: Decimal | None
    cover: Cover | None
    #: Half-width of the price collar around the reference.
    collar: Decimal
    #: The collar's edge against the order (above the reference for a buy).
    worst: Decimal
    #: The price a buy reserves at: its limit or the collar edge (see ORDER_TYPES).
    reservation_price: Decimal

    @classmethod
    def of(
        cls,
        account: Account,
        order: OrderTerms,
        reference: Decimal | None,
        cover: Cover | None = None,
    ) -> RiskCheck:
        if reference is None or reference <= ZERO:
            return cls(account, order, reference, cover, ZERO, ZERO, ZERO)
        collar = reference * account.limits.price_collar_bps / BPS_PER_UNIT
        worst = reference + collar if order.side is Side.BUY else reference - collar
        price = _reservation_price(order, worst)
        return cls(account, order, reference, cover, collar, worst, price)

    @property
    def open_qty(self) -> Decimal:
        """The quantity to reserve for: the new quantity less what is already filled."""
        filled = self.cover.filled_qty if self.cover is not None else ZERO
        return self.order.quantity - filled

    @property
    def replaces(self) -> str:
        """The id of the order a replace replaces ("" for a new order)."""
        return self.cover.replaces if self.cover is not None else ""


@dataclass(frozen=True, slots=True)
class RiskRule:
    """One pre-trade rule: its reason code, and why it refuses a check (None: it passes)."""

    reason: str
    refusal: Callable[[RiskCheck], str | None]


def check_order(
    account: Account,
    order: OrderTerms,
    reference: Decimal | None,
    *,
    cover: Cover | None = None,
) -> PriceBasis:
    """Run ``RULES`` in order; return the prices to reserve at. Raises naming the rule.

    ``order`` is a new order or the new terms of a replace. Without ``cover`` the
    buying-power and position rules pass, and the caller checks coverage itself.
    """
    check = RiskCheck.of(account, order, reference, cover)
    for rule in RULES:
        why = rule.refusal(check)
        if why is not None:
            raise _refuse(rule.reason, why)
    assert check.reference is not None  # RISK_NO_REFERENCE_PRICE passed
    return PriceBasis(reference=check.reference, reservation_price=check.reservation_price)


# -- the rules, in the order of RULES -----------------------------------------------------


def account_disabled(check: RiskCheck) -> str | None:
    """The account is active."""
    if check.account.active:
        return None
    return f"account {check.account.account_id} is disabled"


def restricted_symbol(check: RiskCheck) -> str | None:
    """The symbol is not on the account's restricted list."""
    symbol = check.order.symbol
    if symbol not in check.account.limits.restricted_symbols:
        return None
    return f"{symbol} is restricted for this account"


def max_order_quantity(check: RiskCheck) -> str | None:
    """The quantity is within the account's per-order limit."""
    quantity, limit = check.order.quantity, check.account.limits.max_order_quantity
    if quantity <= limit:
        return None
    return f"quantity {quantity} exceeds the limit {limit}"


def no_reference_price(check: RiskCheck) -> str | None:
    """The symbol has a positive reference price (the rules below need it)."""
    if check.reference is not None and check.reference > ZERO:
        return None
    return f"no reference price for {check.order.symbol}"


def price_collar(check: RiskCheck) -> str | None:
    """Every price level of the order lies within the collar around the reference."""
    buy, worst = check.order.side is Side.BUY, check.worst
    terms = term_values(check.order)
    for term in PRICE_TERMS:
        price = terms[term]
        if price is not None and (price > worst if buy else price < worst):
            return (
                f"{term.value} {price} is beyond the collar {worst} (reference +/- {check.collar})"
            )
    return None


def max_order_notional(check: RiskCheck) -> str | None:
    """Quantity times the higher of the reservation and reference prices is within the limit."""
    assert check.reference is not None  # RISK_NO_REFERENCE_PRICE passed
    notional = check.order.quantity * max(check.reservation_price, check.reference)
    limit = check.account.limits.max_order_notional
    if notional <= limit:
        return None
    return f"notional {notional} exceeds the limit {limit}"


def insufficient_funds(check: RiskCheck) -> str | None:
    """A buy's worst-case cost (with the taker fee) fits in the account's buying power."""
    if check.cover is None or check.order.side is not Side.BUY:
        return None
    account = check.account
    needed = buy_reservation(check.open_qty, check.reservation_price, check.cover.fee_bps)
    available = account.buying_power + account.reservations.get(check.replaces, _NOTHING_HELD).cash
    if needed.cash <= available:
        return None
    return (
        f"account {account.account_id} needs {fmt(needed.cash)} "
        f"but has {fmt(available)} of buying power"
    )


def insufficient_position(check: RiskCheck) -> str | None:
    """A sell is covered by the position not already reserved, unless shorting is allowed."""
    account, symbol = check.account, check.order.symbol
    if check.cover is None or check.order.side is not Side.SELL or account.limits.allow_short:
        return None
    held = account.reservations.get(check.replaces, _NOTHING_HELD).quantity
    available = account.position(symbol).quantity - account.reserved_quantity(symbol) + held
    if check.open_qty <= available:
        return None
    return (
        f"account {account.account_id} holds {fmt(available)} {symbol} available to sell, "
        f"not {fmt(check.open_qty)} (short selling is not allowed)"
    )


#: Every pre-trade rule, in the order they are checked.
RULES: tuple[RiskRule, ...] = (
    RiskRule("RISK_ACCOUNT_DISABLED", account_disabled),
    RiskRule("RISK_RESTRICTED_SYMBOL", restricted_symbol),
    RiskRule("RISK_MAX_ORDER_QUANTITY", max_order_quantity),
    RiskRule("RISK_NO_REFERENCE_PRICE", no_reference_price),
    RiskRule("RISK_PRICE_COLLAR", price_collar),
    RiskRule("RISK_MAX_ORDER_NOTIONAL", max_order_notional),
    RiskRule("RISK_INSUFFICIENT_FUNDS", insufficient_funds),
    RiskRule("RISK_INSUFFICIENT_POSITION", insufficient_position),
)

#: What an order that holds nothing holds.
_NOTHING_HELD = Reservation()


class OrderRateThrottle:
    """At most N new orders per rolling second per account (clock injected, in ns)."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[int]] = {}

    def admit(self, account: Account, now_ns: int) -> None:
        window = self._recent.setdefault(account.account_id, deque())
        while window and window[0] <= now_ns - 1_000_000_000:
            window.popleft()
        if len(window) >= account.limits.max_orders_per_second:
            raise ResourceExhaustedError(
                f"risk check RISK_ORDER_RATE: account {account.account_id} exceeded "
                f"{account.limits.max_orders_per_second} orders per second",
                reason="RISK_ORDER_RATE",
            )
        window.append(now_ns)


def _reservation_price(order: OrderTerms, worst: Decimal) -> Decimal:
    reserves_at = ORDER_TYPES[order.order_type].reserves_at
    if reserves_at is PriceSource.LIMIT:
        assert order.limit_price is not None  # the order-type table requires it
        return order.limit_price
    if reserves_at is PriceSource.PEG and order.limit_price is not None:
        return order.limit_price  # a pegged order's cap: it never rests beyond it
    return worst


def _refuse(rule: str, message: str) -> FailedPreconditionError:
    return FailedPreconditionError(f"risk check {rule}: {message}", reason=rule)


class DuplicateOrderGuard:
    """Refuses an order identical to one the account sent within its duplicate window."""

    def __init__(self) -> None:
        self._last_seen: dict[tuple[object, ...], int] = {}

    def admit(self, account: Account, request: OrderRequest, now_ns: int) -> None:
        window_ns = account.limits.duplicate_window_ms * 1_000_000
        if window_ns <= 0:
            return
        key = (
            request.account_id,
            request.symbol,
            request.side,
            request.order_type,
            request.quantity,
            request.limit_price,
            request.stop_price,
        )
        seen = self._last_seen.get(key)
        if seen is not None and now_ns - seen < window_ns:
            raise _refuse(
                "RISK_DUPLICATE_ORDER",
                f"an identical order was sent {(now_ns - seen) // 1_000_000} ms ago "
                f"(window {account.limits.duplicate_window_ms} ms)",
            )
        self._last_seen[key] = now_ns
        if len(self._last_seen) > DUPLICATE_KEYS_KEPT:
            cutoff = now_ns - window_ns
            self._last_seen = {k: v for k, v in self._last_seen.items() if v >= cutoff}
