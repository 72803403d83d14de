"""The risk gate: every pre-trade check an order passes, halts first, in one place.

The rules themselves are plain functions in ``oms_server.domain.risk``; the gate adds
what needs engine state: the kill switch (halted scopes, stored) and the accounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from oms_server.domain.access import Principal
from oms_server.domain.errors import FailedPreconditionError
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.risk import PriceBasis
from oms_server.engine.accounts import AccountBook
from oms_server.engine.ports import Halt
from oms_server.engine.recorder import BatchRecorder

#: The halt scope that covers every account.
ALL_ACCOUNTS = "*"


class RiskGate:
    """Halts and the pre-trade rules, for new orders and replaces alike."""

    def __init__(self, accounts: AccountBook, recorder: BatchRecorder) -> None:
        self._accounts = accounts
        self._recorder = recorder
        #: Halted scopes (an account id, or ALL_ACCOUNTS) -> reason.
        self._halts: dict[str, str] = {}

    def load(self, halts: Iterable[Halt]) -> None:
        self._halts = {halt.scope: halt.reason for halt in halts}

    # -- checks -------------------------------------------------------------------------

    def admit(
        self,
        request: OrderRequest,
        reference: Decimal | None,
        now_ns: int,
        *,
        closes: bool = False,
    ) -> PriceBasis:
        """Check a new order against halts and every risk rule; the prices to reserve at
        (``closes``: a BRACKET exit, see ``AccountBook.admit``)."""
        self.check_not_halted(request.account_id)
        return self._accounts.admit(request, reference, now_ns, closes=closes)

    def admit_replace(
        self,
        order: Order,
        quantity: Decimal,
        price: Decimal | None,
        reference: Decimal | None,
        now_ns: int,
    ) -> PriceBasis:
        """Check a replace's new terms against halts and every risk rule (SEC 15c3-5:
        a replace is a new order as far as pre-trade risk goes)."""
        self.check_not_halted(order.account_id)
        return self._accounts.admit_replace(order, quantity, price, reference, now_ns)

    def check_not_halted(self, account_id: str) -> None:
        reason = self.halted(account_id)
        if reason is not None:
            raise FailedPreconditionError(
                f"trading is halted for account {account_id}: {reason}",
                reason="TRADING_HALTED",
            )

    def halted(self, account_id: str) -> str | None:
        """Why ``account_id`` may not trade, or None."""
        return self._halts.get(ALL_ACCOUNTS) or self._halts.get(account_id)

    # -- the kill switch ----------------------------------------------------------------

    def halt(self, scope: str, principal: Principal, reason: str) -> None:
        """Refuse new orders of ``scope`` from now on (stored with this batch)."""
        is_new = scope not in self._halts
        self._halts[scope] = reason
        halt = Halt(scope, reason, principal.subject, self._recorder.now_ns())
        self._recorder.set_halt(halt, is_new=is_new)

    def resume(self, scope: str) -> None:
        if self._halts.pop(scope, None) is not None:
            self._recorder.clear_halt(scope)
