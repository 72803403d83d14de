"""Accounts inside the engine: admission of new orders, reservations, fills.

Runs in the engine's writer task only. Reservations are derived state: at start-up
they are rebuilt from the working orders, so they never drift from the orders.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from decimal import Decimal

from oms_server.domain.accounts import (
    Account,
    Reservation,
    RiskLimits,
    buy_reservation,
    sell_reservation,
)
from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import OrderState, Side
from oms_server.domain.errors import AlreadyExistsError, FailedPreconditionError, NotFoundError
from oms_server.domain.lists import ListRole
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.risk import (
    Cover,
    DuplicateOrderGuard,
    OrderRateThrottle,
    PriceBasis,
    check_order,
)
from oms_server.engine.recorder import BatchRecorder


class AccountBook:
    """Every account, with the reservations of its working orders."""

    def __init__(self, recorder: BatchRecorder, fee_bps: Decimal) -> None:
        self._accounts: dict[str, Account] = {}
        self._stored_positions: set[tuple[str, str]] = set()
        self._recorder = recorder
        self._fee_bps = fee_bps
        self._throttle = OrderRateThrottle()
        self._duplicates = DuplicateOrderGuard()

    @property
    def count(self) -> int:
        return len(self._accounts)

    def ids(self) -> list[str]:
        """Every account id, sorted."""
        return sorted(self._accounts)

    # -- start-up -----------------------------------------------------------------------

    def load(self, accounts: Iterable[Account]) -> None:
        """The stored accounts, with their positions (reservations come from orders)."""
        for account in accounts:
            self._accounts[account.account_id] = account
            for symbol in account.positions:
                self._stored_positions.add((account.account_id, symbol))

    def rebuild_reservations(self, working: Iterable[Order]) -> None:
        for order in working:
            self.refresh(order)

    # -- account commands ---------------------------------------------------------------

    def create(self, account_id: str, now_ns: int) -> Account:
        if account_id in self._accounts:
            raise AlreadyExistsError(f"account {account_id} exists", reason="ACCOUNT_EXISTS")
        account = self._accounts[account_id] = Account(account_id)
        self._write_account(account, now_ns, is_new=True)
        return account

    def deposit(self, account_id: str, amount: Decimal, now_ns: int) -> Account:
        account = self.get(account_id)
        account.deposit(amount)
        self._write_account(account, now_ns)
        return account

    def set_limits(
        self, account_id: str, limits: RiskLimits, now_ns: int, names: frozenset[str] = frozenset()
    ) -> Account:
        """Take the limits ``names`` names from ``limits`` (no names: every limit)."""
        account = self.get(account_id)
        account.limits = account.limits.merged(limits, names)
        self._write_account(account, now_ns)
        return account

    def get(self, account_id: str) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            raise NotFoundError(f"account {account_id} not found", reason="ACCOUNT_NOT_FOUND")
        return account

    def find(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    # -- orders -------------------------------------------------------------------------

    def admit(
        self,
        request: OrderRequest,
        reference: Decimal | None,
        now_ns: int,
        *,
        closes: bool = False,
    ) -> PriceBasis:
        """Run every pre-trade rule for a new order; raises naming the rule that refused.

        ``closes``: the order only ever closes what another order of its list opens (a
        BRACKET's exit, sized to its entry's fill), so it needs no buying power or
        position of its own; every other rule applies."""
        account = self._account_for_order(request.account_id)
        filled = request.quantity if closes else ZERO
        cover = Cover(self._fee_bps, filled_qty=filled)
        basis = check_order(account, request, reference, cover=cover)
        self._duplicates.admit(account, request, now_ns)
        self._throttle.admit(account, now_ns)
        return basis

    def hold_while_checking(self, key: str, request: OrderRequest, basis: PriceBasis) -> None:
        """Hold, under ``key``, what ``request`` will reserve once it is an order, so the
        next member of its list is checked with it held (``release_checked`` undoes it)."""
        account = self._account_for_order(request.account_id)
        price = basis.reservation_price or request.limit_price or ZERO
        account.reserve(key, self._needed(request.side, request.symbol, request.quantity, price))

    def release_checked(self, account_id: str, key: str) -> None:
        account = self._accounts.get(account_id)
        if account is not None:
            account.release(key)

    def admit_replace(
        self,
        order: Order,
        quantity: Decimal,
        price: Decimal | None,
        reference: Decimal | None,
        now_ns: int,
    ) -> PriceBasis:
        """Run every pre-trade rule on a replace's new terms, as for a new order (the
        replaced order's own reservation counts as available); raises naming the rule."""
        account = self._account_for_order(order.account_id)
        terms = copy.copy(order)
        terms.quantity, terms.limit_price = quantity, price
        cover = Cover(self._fee_bps, replaces=order.order_id, filled_qty=order.cum_qty)
        basis = check_order(account, terms, reference, cover=cover)
        self._throttle.admit(account, now_ns)
        return basis

    def refresh(self, order: Order) -> None:
        """Hold what a working order still needs; release everything once it is done."""
        account = self._accounts.get(order.account_id)
        if account is None:
            return
        if order.is_terminal or _held_exit(order):
            account.release(order.order_id)
            return
        price = order.reserve_price or order.limit_price or ZERO
        needed = self._needed(order.side, order.symbol, order.open_qty, price)
        account.reserve(order.order_id, needed)

    def apply_fill(
        self, order: Order, qty: Decimal, price: Decimal, fee: Decimal, now: int
    ) -> None:
        account = self._accounts.get(order.account_id)
        if account is None:
            return
        account.apply_fill(order.side, order.symbol, qty, price, fee)
        self._write_account(account, now)
        self._write_position(account, order.symbol)

    # -- helpers ------------------------------------------------------------------------

    def _needed(self, side: Side, symbol: str, open_qty: Decimal, price: Decimal) -> Reservation:
        if side is Side.BUY:
            return buy_reservation(open_qty, price, self._fee_bps)
        return sell_reservation(open_qty, symbol)

    def _account_for_order(self, account_id: str) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            raise FailedPreconditionError(
                f"risk check ACCOUNT_NOT_FOUND: account {account_id} does not exist",
                reason="ACCOUNT_NOT_FOUND",
            )
        return account

    def _write_account(self, account: Account, now_ns: int, *, is_new: bool = False) -> None:
        self._recorder.touch_account(account, now_ns=now_ns, is_new=is_new)

    def _write_position(self, account: Account, symbol: str) -> None:
        key = (account.account_id, symbol)
        is_new = key not in self._stored_positions
        self._stored_positions.add(key)
        self._recorder.touch_position(account, symbol, is_new=is_new)


def _held_exit(order: Order) -> bool:
    """A BRACKET exit not yet released: nothing of it can trade, so it holds nothing."""
    held = order.state is OrderState.PENDING_NEW and bool(order.list_role)
    return held and ListRole(order.list_role).is_exit
