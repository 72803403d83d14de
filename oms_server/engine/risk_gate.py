"""The risk gate: every pre-trade check an order passes, halts first, in one place.

The rules themselves are plain functions in ``oms_server.domain.risk``; the gate adds
what needs engine state: the kill switch (halted scopes, stored) and the accounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
#: Prefix of the keys a list's members are held under while the next ones are checked
#: (no order id starts with it).
LIST_CHECK_PREFIX = "#list-check-"


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

    def admit_list(
        self,
        requests: Sequence[OrderRequest],
        closes: Sequence[bool],
        reference: Decimal | None,
        now_ns: int,
    ) -> list[PriceBasis]:
        """Check a list's members as ``admit`` does, each with the ones before it held (as
        they will be once stored), so the list as a whole fits the account; the prices to
        reserve each at. A closing member (``closes``) holds nothing."""
        held: list[str] = []
        bases: list[PriceBasis] = []
        try:
            for i, (request, closing) in enumerate(zip(requests, closes, strict=True)):
                basis = self.admit(request, reference, now_ns, closes=closing)
                bases.append(basis)
                if not closing:
                    key = f"{LIST_CHECK_PREFIX}{i}"
                    self._accounts.hold_while_checking(key, request, basis)
                    held.append(key)
        finally:
            for key in held:
                self._accounts.release_checked(requests[0].account_id, key)
        return bases

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
