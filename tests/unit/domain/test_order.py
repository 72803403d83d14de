"""Orders as the fold of their fills; exact decimals; request checks."""

from __future__ import annotations

import copy
import sys
from decimal import Decimal

import pytest

from oms_server.domain.decimals import average_price, fmt, parse_decimal
from oms_server.domain.enums import OrderState, OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.errors import FailedPreconditionError, ValidationError
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.state_machine import Trigger

AAPL = Instrument("AAPL", Decimal("0.01"), Decimal("1"), Decimal("190"))


def request(**overrides: object) -> OrderRequest:
    fields: dict[str, object] = {
        "account_id": "A",
        "client_order_id": "c",
        "symbol": "AAPL",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "time_in_force": TimeInForce.DAY,
        "quantity": Decimal("10"),
        "limit_price": Decimal("190.01"),
        "stop_price": None,
        "routing_strategy": RoutingStrategy.BEST_PRICE,
        "venue": "",
    }
    fields.update(overrides)
    return OrderRequest(**fields)  # type: ignore[arg-type]


def new_order(quantity: str = "10") -> Order:
    order = Order.from_request("o1", request(quantity=Decimal(quantity)), sender="t", now_ns=1)
    order.apply(Trigger.ACCEPT)
    return order


def test_fills_accumulate_exactly_and_end_filled() -> None:
    order = new_order("10")
    assert order.apply_fill(Decimal("3"), Decimal("190.01")) is OrderState.PARTIALLY_FILLED
    assert order.apply_fill(Decimal("7"), Decimal("190.02")) is OrderState.FILLED
    assert order.cum_qty == Decimal("10")
    assert order.leaves_qty == Decimal("0")
    assert order.avg_price == Decimal("190.017")


def test_a_fill_that_would_overfill_is_refused_and_changes_nothing() -> None:
    order = new_order("10")
    order.apply_fill(Decimal("6"), Decimal("190"))
    with pytest.raises(FailedPreconditionError) as refused:
        order.apply_fill(Decimal("5"), Decimal("190"))
    assert refused.value.reason == "OVERFILL"
    assert (order.cum_qty, order.state) == (Decimal("6"), OrderState.PARTIALLY_FILLED)


def test_a_fill_on_a_canceled_order_is_illegal() -> None:
    order = new_order()
    order.apply(Trigger.CANCEL_REQUEST)
    order.apply(Trigger.CANCEL_ACCEPT)
    with pytest.raises(FailedPreconditionError):
        order.apply_fill(Decimal("1"), Decimal("190"))
    assert order.cum_qty == 0


def test_average_price_is_rounded_half_even_to_eight_places() -> None:
    assert average_price(Decimal("1"), Decimal("3")) == Decimal("0.33333333")
    assert fmt(Decimal("190.2500")) == "190.25"
    assert fmt(Decimal("1E+3")) == "1000"


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "inf",
        "-Infinity",
        "1e5",
        "1,5",
        " 1",
        "0x10",
        "1" * 40,
        "--1",
        ".",
        "100\n",
        "\uff11\uff12",
        "\u0661",
    ],  # a trailing newline, full-width and Arabic-Indic digits
)
def test_decimal_parsing_refuses_odd_values(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_decimal(text, "quantity")
    assert refused.value.field == "quantity"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"quantity": Decimal("10.5")}, "quantity"),
        ({"quantity": Decimal("0")}, "quantity"),
        ({"limit_price": Decimal("190.005")}, "limit_price"),
        ({"limit_price": None}, "limit_price"),
        ({"order_type": OrderType.MARKET}, "limit_price"),
        ({"order_type": OrderType.STOP, "limit_price": None}, "stop_price"),
        ({"order_type": OrderType.STOP_LIMIT, "stop_price": Decimal("1.001")}, "stop_price"),
        ({"routing_strategy": RoutingStrategy.DIRECT}, "venue"),
        (
            {"order_type": OrderType.MARKET, "limit_price": None, "time_in_force": TimeInForce.GTC},
            "time_in_force",
        ),
    ],
)
def test_request_checks_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        request(**overrides).check(AAPL)
    assert refused.value.field == field


def test_the_domain_imports_no_io_libraries() -> None:
    import importlib
    import subprocess

    code = (
        "import sys, oms_server.domain.order, oms_server.domain.state_machine, "
        "oms_server.domain.access, oms_server.domain.reports; "
        "bad = [m for m in ('grpc', 'nats', 'sqlalchemy', 'protos') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    importlib.invalidate_caches()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    ("text", "ok"),
    [("100.12345678", True), ("0.000000001", False), ("1000000000000000", True),
     ("1000000000000001", False), ("-5", False)],
)  # fmt: skip
def test_money_is_bounded_so_balances_stay_exact(text: str, ok: bool) -> None:
    from oms_server.domain.decimals import parse_money

    if ok:
        assert parse_money(text, "amount") == Decimal(text)
    else:
        with pytest.raises(ValidationError) as refused:
            parse_money(text, "amount")
        assert refused.value.field == "amount"


def test_a_copy_is_equal_and_does_not_follow_later_changes() -> None:
    order = new_order("10")
    snapshot = copy.copy(order)
    assert snapshot == order
    order.apply_fill(Decimal(4), Decimal("10.01"))
    assert snapshot.cum_qty == 0 and snapshot.state is OrderState.NEW
    assert order.cum_qty == 4


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("50.00", "50"),
        ("1E+3", "1000"),
        ("-0.50", "-0.5"),
        ("0E-8", "0"),
        ("-0", "0"),
        ("0.00000001", "0.00000001"),
        # More digits than Python's default 28-digit context: every one is kept.
        ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
    ],
)
def test_fmt_writes_every_digit_and_no_trailing_zeros(value: str, text: str) -> None:
    assert fmt(Decimal(value)) == text
