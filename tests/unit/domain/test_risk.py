"""Pre-trade risk: one ordered table of rules, each refusing with its reason and message."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from oms_server.domain.accounts import (
    Account,
    Position,
    RiskLimits,
    buy_reservation,
    sell_reservation,
)
from oms_server.domain.enums import OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.errors import FailedPreconditionError, ResourceExhaustedError
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.risk import (
    RULES,
    Cover,
    OrderRateThrottle,
    PriceBasis,
    check_order,
)

D = Decimal
COVER = Cover(fee_bps=D("0"))
#: A scenario every rule passes: a 10 AAPL limit buy at 190 with cash for it.
PASSING: dict[str, Any] = {
    "active": True,
    "restricted": frozenset(),
    "max_quantity": D("1000"),
    "reference": D("190"),
    "collar_bps": D("500"),
    "max_notional": D("10000000"),
    "cash": D("1000000"),
    "allow_short": False,
    "side": Side.BUY,
    "order_type": OrderType.LIMIT,
    "quantity": D("10"),
    "limit_price": D("190"),
    "stop_price": None,
}
#: For each rule: a change to PASSING that it refuses.
BREAKS: dict[str, dict[str, Any]] = {
    "RISK_ACCOUNT_DISABLED": {"active": False},
    "RISK_RESTRICTED_SYMBOL": {"restricted": frozenset({"AAPL"})},
    "RISK_MAX_ORDER_QUANTITY": {"max_quantity": D("5")},
    "RISK_NO_REFERENCE_PRICE": {"reference": None},
    "RISK_PRICE_COLLAR": {"limit_price": D("200")},
    "RISK_MAX_ORDER_NOTIONAL": {"max_notional": D("1000")},
    "RISK_INSUFFICIENT_FUNDS": {"cash": D("0")},
    "RISK_INSUFFICIENT_POSITION": {"side": Side.SELL, "limit_price": D("181")},
}
#: Every rule broken at once (a buy is beyond the collar at 200, a sell at 170).
ALL_BROKEN: dict[str, Any] = {
    "active": False,
    "restricted": frozenset({"AAPL"}),
    "max_quantity": D("5"),
    "reference": None,
    "max_notional": D("1000"),
    "cash": D("0"),
}
#: For each rule: the change that makes it pass again in the ALL_BROKEN scenario.
MENDS: dict[str, dict[str, Any]] = {
    "RISK_ACCOUNT_DISABLED": {"active": True},
    "RISK_RESTRICTED_SYMBOL": {"restricted": frozenset()},
    "RISK_MAX_ORDER_QUANTITY": {"max_quantity": D("1000")},
    "RISK_NO_REFERENCE_PRICE": {"reference": D("190")},
    "RISK_PRICE_COLLAR": {"collar_bps": D("2000")},
    "RISK_MAX_ORDER_NOTIONAL": {"max_notional": D("10000000")},
    "RISK_INSUFFICIENT_FUNDS": {"cash": D("1000000")},
    "RISK_INSUFFICIENT_POSITION": {"allow_short": True},
}


def account(s: dict[str, Any]) -> Account:
    limits = RiskLimits(
        max_order_quantity=s["max_quantity"],
        max_order_notional=s["max_notional"],
        price_collar_bps=s["collar_bps"],
        restricted_symbols=s["restricted"],
        allow_short=s["allow_short"],
    )
    return Account("ACC1", cash=s["cash"], active=s["active"], limits=limits)


def order(s: dict[str, Any]) -> OrderRequest:
    return OrderRequest(
        account_id="ACC1",
        client_order_id="c1",
        symbol="AAPL",
        side=s["side"],
        order_type=s["order_type"],
        time_in_force=TimeInForce.DAY,
        quantity=s["quantity"],
        limit_price=s["limit_price"],
        stop_price=s["stop_price"],
        routing_strategy=RoutingStrategy.BEST_PRICE,
        venue="",
    )


def check(s: dict[str, Any], cover: Cover | None = COVER) -> PriceBasis:
    return check_order(account(s), order(s), s["reference"], cover=cover)


def refusal(s: dict[str, Any], cover: Cover | None = COVER) -> FailedPreconditionError:
    with pytest.raises(FailedPreconditionError) as refused:
        check(s, cover)
    return refused.value


def test_every_rule_has_a_case_here() -> None:
    assert [rule.reason for rule in RULES] == list(BREAKS) == list(MENDS)


def test_an_order_every_rule_passes_is_reserved_at_its_limit() -> None:
    assert check(PASSING) == PriceBasis(reference=D("190"), reservation_price=D("190"))


@pytest.mark.parametrize("reason", list(BREAKS))
def test_each_rule_refuses_with_its_reason(reason: str) -> None:
    assert refusal({**PASSING, **BREAKS[reason]}).reason == reason


@pytest.mark.parametrize(("side", "beyond_collar"), [(Side.BUY, D("200")), (Side.SELL, D("170"))])
def test_the_table_order_is_the_order_of_refusal(side: Side, beyond_collar: Decimal) -> None:
    """Break every rule at once, then mend the one that refuses: RULES' order comes out."""
    scenario = {**PASSING, **ALL_BROKEN, "side": side, "limit_price": beyond_collar}
    refusals: list[str] = []
    while len(refusals) <= len(RULES):
        try:
            check(scenario)
        except FailedPreconditionError as refused:
            refusals.append(refused.reason)
            scenario.update(MENDS[refused.reason])
            continue
        break
    skipped = "RISK_INSUFFICIENT_POSITION" if side is Side.BUY else "RISK_INSUFFICIENT_FUNDS"
    assert refusals == [rule.reason for rule in RULES if rule.reason != skipped]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (BREAKS["RISK_ACCOUNT_DISABLED"], "account ACC1 is disabled"),
        (BREAKS["RISK_RESTRICTED_SYMBOL"], "AAPL is restricted for this account"),
        (BREAKS["RISK_MAX_ORDER_QUANTITY"], "quantity 10 exceeds the limit 5"),
        (BREAKS["RISK_NO_REFERENCE_PRICE"], "no reference price for AAPL"),
        (
            BREAKS["RISK_PRICE_COLLAR"],
            "limit_price 200 is beyond the collar 199.5 (reference +/- 9.5)",
        ),
        (
            {"order_type": OrderType.STOP_LIMIT, "stop_price": D("200.00")},
            "stop_price 200.00 is beyond the collar 199.5 (reference +/- 9.5)",
        ),
        (BREAKS["RISK_MAX_ORDER_NOTIONAL"], "notional 1900 exceeds the limit 1000"),
        (
            BREAKS["RISK_INSUFFICIENT_FUNDS"],
            "account ACC1 needs 1900 but has 0 of buying power",
        ),
        (
            BREAKS["RISK_INSUFFICIENT_POSITION"],
            "account ACC1 holds 0 AAPL available to sell, not 10 (short selling is not allowed)",
        ),
    ],
)
def test_the_messages_are_as_before(change: dict[str, Any], message: str) -> None:
    refused = refusal({**PASSING, **change})
    assert refused.message == f"risk check {refused.reason}: {message}"


def test_a_stop_limit_is_reserved_at_its_limit() -> None:
    s = {**PASSING, "order_type": OrderType.STOP_LIMIT, "stop_price": D("191")}
    assert check(s).reservation_price == D("190")


def test_a_market_order_is_reserved_at_the_collar_edge() -> None:
    s = {**PASSING, "order_type": OrderType.MARKET, "limit_price": None}
    assert check(s).reservation_price == D("199.5")
    assert check({**s, "side": Side.SELL, "allow_short": True}).reservation_price == D("180.5")


def test_without_cover_the_caller_checks_funds_and_position() -> None:
    """What engine callers that check coverage themselves get: the first six rules."""
    basis = PriceBasis(reference=D("190"), reservation_price=D("190"))
    assert check({**PASSING, **BREAKS["RISK_INSUFFICIENT_FUNDS"]}, cover=None) == basis
    sell = check({**PASSING, **BREAKS["RISK_INSUFFICIENT_POSITION"]}, cover=None)
    assert sell.reservation_price == D("181")


def test_a_replace_counts_what_the_replaced_order_holds() -> None:
    s = {**PASSING, "cash": D("1900"), "quantity": D("10")}
    acc = account(s)
    acc.reserve("o1", buy_reservation(D("10"), D("190"), D("0")))
    new_terms = dataclasses.replace(order(s), limit_price=D("189"))
    with pytest.raises(FailedPreconditionError, match="RISK_INSUFFICIENT_FUNDS"):
        check_order(acc, new_terms, D("190"), cover=COVER)
    replace = Cover(fee_bps=D("0"), replaces="o1")
    assert check_order(acc, new_terms, D("190"), cover=replace).reservation_price == D("189")


def test_a_replace_reserves_only_what_is_left_to_fill() -> None:
    acc = account({**PASSING, "cash": D("950")})
    successor = Order.from_request("o2", order(PASSING), sender="t", now_ns=1)
    filled_half = Cover(fee_bps=D("0"), replaces="o1", filled_qty=D("5"))
    assert check_order(acc, successor, D("190"), cover=filled_half).reservation_price == D("190")
    with pytest.raises(FailedPreconditionError, match="RISK_INSUFFICIENT_FUNDS"):
        check_order(acc, successor, D("190"), cover=COVER)


def test_a_replaced_sell_counts_the_position_it_holds() -> None:
    s = {**PASSING, "side": Side.SELL, "limit_price": D("181")}
    acc = account(s)
    acc.positions["AAPL"] = Position(D("10"), D("1800"))
    acc.reserve("o9", sell_reservation(D("10"), "AAPL"))
    with pytest.raises(FailedPreconditionError, match="RISK_INSUFFICIENT_POSITION"):
        check_order(acc, order(s), D("190"), cover=COVER)
    replace = Cover(fee_bps=D("0"), replaces="o9")
    assert check_order(acc, order(s), D("190"), cover=replace).reservation_price == D("181")


def test_the_order_rate_throttle_refuses_past_the_limit_per_second() -> None:
    acc = Account("ACC1", limits=RiskLimits(max_orders_per_second=2))
    throttle = OrderRateThrottle()
    throttle.admit(acc, 0)
    throttle.admit(acc, 1)
    with pytest.raises(ResourceExhaustedError) as refused:
        throttle.admit(acc, 2)
    assert refused.value.reason == "RISK_ORDER_RATE"
    throttle.admit(acc, 1_000_000_000)
