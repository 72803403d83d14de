"""The risk gate: halts first (per account and for every account), then the risk rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_server.domain.errors import FailedPreconditionError
from oms_server.engine.accounts import AccountBook
from oms_server.engine.ports import Halt
from oms_server.engine.recorder import BatchRecorder
from oms_server.engine.risk_gate import ALL_ACCOUNTS, RiskGate
from tests.unit.engine.stubs import (
    ADMIN,
    FEE_BPS,
    FUNDS,
    START_NS,
    ManualClock,
    order,
    request,
)

REFERENCE = Decimal(100)


@pytest.fixture
def recorder() -> BatchRecorder:
    return BatchRecorder(ManualClock())


@pytest.fixture
def gate(recorder: BatchRecorder) -> RiskGate:
    accounts = AccountBook(recorder, FEE_BPS)
    for account_id in ("A", "B"):
        accounts.create(account_id, START_NS)
        accounts.deposit(account_id, FUNDS, START_NS)
    recorder.seal()
    return RiskGate(accounts, recorder)


def refusal(gate: RiskGate, account_id: str) -> str | None:
    """The reason a new order of ``account_id`` is refused, or None when it is admitted."""
    try:
        gate.admit(request("c1", account_id=account_id), REFERENCE, START_NS)
    except FailedPreconditionError as refused:
        return refused.reason
    return None


def test_an_order_that_passes_every_rule_is_admitted_at_its_limit_price(gate: RiskGate) -> None:
    basis = gate.admit(request("c1", limit_price=Decimal("99.50")), REFERENCE, START_NS)
    assert (basis.reference, basis.reservation_price) == (REFERENCE, Decimal("99.50"))


def test_a_halted_account_is_refused_and_others_trade_on(gate: RiskGate) -> None:
    gate.halt("A", ADMIN, "fat finger")
    assert refusal(gate, "A") == "TRADING_HALTED"
    assert refusal(gate, "B") is None
    assert gate.halted("A") == "fat finger"
    assert gate.halted("B") is None


def test_halting_every_account_refuses_every_account(gate: RiskGate) -> None:
    gate.halt(ALL_ACCOUNTS, ADMIN, "market closed")
    assert [refusal(gate, a) for a in ("A", "B")] == ["TRADING_HALTED"] * 2
    assert gate.halted("B") == "market closed"


def test_the_refusal_names_the_account_and_the_reason(gate: RiskGate) -> None:
    gate.halt("A", ADMIN, "fat finger")
    with pytest.raises(FailedPreconditionError, match="account A: fat finger"):
        gate.check_not_halted("A")


def test_halts_are_checked_before_the_risk_rules(gate: RiskGate) -> None:
    gate.halt("NOBODY", ADMIN, "closed")
    assert refusal(gate, "NOBODY") == "TRADING_HALTED"  # not ACCOUNT_NOT_FOUND
    gate.resume("NOBODY")
    assert refusal(gate, "NOBODY") == "ACCOUNT_NOT_FOUND"


def test_resuming_lets_the_account_trade_again(gate: RiskGate) -> None:
    gate.halt("A", ADMIN, "fat finger")
    gate.resume("A")
    assert refusal(gate, "A") is None


def test_an_account_resumed_stays_halted_while_every_account_is(gate: RiskGate) -> None:
    gate.halt(ALL_ACCOUNTS, ADMIN, "market closed")
    gate.halt("A", ADMIN, "fat finger")
    gate.resume("A")
    assert refusal(gate, "A") == "TRADING_HALTED"
    gate.resume(ALL_ACCOUNTS)
    assert refusal(gate, "A") is None


def test_a_halt_is_stored_with_the_batch(gate: RiskGate, recorder: BatchRecorder) -> None:
    gate.halt("A", ADMIN, "fat finger")
    halt = Halt("A", "fat finger", ADMIN.subject, START_NS)
    assert recorder.seal().changes.halts == {"A": (halt, True)}
    gate.halt("A", ADMIN, "still fat")
    assert recorder.seal().changes.halts == {"A": (Halt("A", "still fat", "ops", START_NS), False)}
    gate.resume("A")
    changes = recorder.seal().changes
    assert changes.halts == {} and changes.resumed == {"A"}


def test_resuming_a_scope_that_is_not_halted_stores_nothing(
    gate: RiskGate, recorder: BatchRecorder
) -> None:
    gate.resume("A")
    assert not recorder.seal().changes


def test_halts_loaded_from_the_store_hold_and_are_updated_not_inserted(
    gate: RiskGate, recorder: BatchRecorder
) -> None:
    gate.load([Halt("A", "from yesterday", "ops", 1)])
    assert refusal(gate, "A") == "TRADING_HALTED"
    gate.halt("A", ADMIN, "again")
    assert recorder.seal().changes.halts["A"] == (Halt("A", "again", "ops", START_NS), False)


def replace_refusal(gate: RiskGate, quantity: Decimal, price: Decimal) -> str | None:
    """The reason a replace of a working buy to these terms is refused, or None."""
    working = order("o1", quantity=Decimal(100), reserve_price=Decimal(100))
    try:
        gate.admit_replace(working, quantity, price, REFERENCE, START_NS)
    except FailedPreconditionError as refused:
        return refused.reason
    return None


def test_a_replace_the_account_cannot_cover_is_refused(gate: RiskGate) -> None:
    assert replace_refusal(gate, Decimal(200), Decimal(100)) is None
    affordable = (FUNDS / Decimal(100)).to_integral_value()
    assert replace_refusal(gate, affordable * 2, Decimal(100)) == "RISK_INSUFFICIENT_FUNDS"


@pytest.mark.parametrize(
    ("quantity", "price", "reason"),
    [
        (Decimal(100), Decimal(200), "RISK_PRICE_COLLAR"),  # a buy far through the collar
        (Decimal(2_000_000), Decimal(100), "RISK_MAX_ORDER_QUANTITY"),
        (Decimal(200_000), Decimal(100), "RISK_MAX_ORDER_NOTIONAL"),
    ],
)
def test_a_replace_passes_the_same_rules_as_a_new_order(
    gate: RiskGate, quantity: Decimal, price: Decimal, reason: str
) -> None:
    assert replace_refusal(gate, quantity, price) == reason


def test_a_halted_account_cannot_replace(gate: RiskGate) -> None:
    gate.halt("A", ADMIN, "fat finger")
    assert replace_refusal(gate, Decimal(200), Decimal(100)) == "TRADING_HALTED"
