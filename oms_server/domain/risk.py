"""Pre-trade risk rules. Each refusal names its rule in the error's reason.

The checks run in the engine's writer task against the account as it is at that
instant, so concurrent orders can never spend the same cash twice.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from oms_server.domain.accounts import Account
from oms_server.domain.decimals import BPS_PER_UNIT, ZERO
from oms_server.domain.enums import OrderType, Side
from oms_server.domain.errors import FailedPreconditionError, ResourceExhaustedError
from oms_server.domain.order import OrderRequest

#: Recent orders remembered for duplicate detection before old ones are dropped.
DUPLICATE_KEYS_KEPT = 100_000


@dataclass(frozen=True, slots=True)
class PriceBasis:
    """The price a new order is checked and reserved at."""

    reference: Decimal
    reservation_price: Decimal


def check_order(account: Account, request: OrderRequest, reference: Decimal | None) -> PriceBasis:
    """Run the per-order rules; return the prices to reserve at. Raises naming the rule."""
    limits = account.limits
    if not account.active:
        raise _refuse("RISK_ACCOUNT_DISABLED", f"account {account.account_id} is disabled")
    if request.symbol in limits.restricted_symbols:
        raise _refuse("RISK_RESTRICTED_SYMBOL", f"{request.symbol} is restricted for this account")
    if request.quantity > limits.max_order_quantity:
        raise _refuse(
            "RISK_MAX_ORDER_QUANTITY",
            f"quantity {request.quantity} exceeds the limit {limits.max_order_quantity}",
        )
    if reference is None or reference <= ZERO:
        raise _refuse("RISK_NO_REFERENCE_PRICE", f"no reference price for {request.symbol}")
    collar = reference * limits.price_collar_bps / BPS_PER_UNIT
    worst = reference + collar if request.side is Side.BUY else reference - collar
    _check_collar(request, worst, collar)
    price = _reservation_price(request, worst)
    notional = request.quantity * max(price, reference)
    if notional > limits.max_order_notional:
        raise _refuse(
            "RISK_MAX_ORDER_NOTIONAL",
            f"notional {notional} exceeds the limit {limits.max_order_notional}",
        )
    return PriceBasis(reference=reference, reservation_price=price)


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


def _check_collar(request: OrderRequest, worst: Decimal, collar: Decimal) -> None:
    for name, price in (("limit_price", request.limit_price), ("stop_price", request.stop_price)):
        if price is None:
            continue
        too_far = price > worst if request.side is Side.BUY else price < worst
        if too_far:
            raise _refuse(
                "RISK_PRICE_COLLAR",
                f"{name} {price} is beyond the collar {worst} (reference +/- {collar})",
            )


def _reservation_price(request: OrderRequest, worst: Decimal) -> Decimal:
    if request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        assert request.limit_price is not None
        return request.limit_price
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
