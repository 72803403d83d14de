"""RiskLimits.merged: an update changes the limits it names and keeps the others."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_server.domain.accounts import RISK_LIMIT_NAMES, RiskLimits, limit_names
from oms_server.domain.errors import ValidationError

CURRENT = RiskLimits(
    max_order_quantity=Decimal("100"),
    max_order_notional=Decimal("5000"),
    price_collar_bps=Decimal("50"),
    restricted_symbols=frozenset({"GME"}),
    max_orders_per_second=7,
    allow_short=True,
    duplicate_window_ms=250,
)
#: What an update carries: defaults everywhere except the quantity it means to change.
GIVEN = RiskLimits(max_order_quantity=Decimal("500"))


def test_a_named_limit_changes_and_the_others_stay() -> None:
    merged = CURRENT.merged(GIVEN, ["max_order_quantity"])
    assert merged.max_order_quantity == Decimal("500")
    assert merged == RiskLimits(**{**_fields(CURRENT), "max_order_quantity": Decimal("500")})


def test_several_names_take_each_of_them_from_the_update() -> None:
    merged = CURRENT.merged(GIVEN, ["max_order_quantity", "restricted_symbols", "allow_short"])
    assert (merged.max_order_quantity, merged.restricted_symbols, merged.allow_short) == (
        Decimal("500"),
        frozenset(),
        False,
    )
    assert (merged.max_order_notional, merged.max_orders_per_second) == (Decimal("5000"), 7)


def test_no_names_replace_every_limit() -> None:
    assert CURRENT.merged(GIVEN, []) is GIVEN


def test_every_name_is_the_whole_update() -> None:
    assert CURRENT.merged(GIVEN, RISK_LIMIT_NAMES) == GIVEN


@pytest.mark.parametrize("names", [["max_qty"], ["allow_short", "risk_limits.allow_short"]])
def test_a_name_that_is_no_limit_is_refused_naming_the_update_mask(names: list[str]) -> None:
    with pytest.raises(ValidationError) as refused:
        CURRENT.merged(GIVEN, names)
    assert refused.value.field == "update_mask"
    assert "not a risk limit" in refused.value.description
    assert "max_order_quantity" in refused.value.description  # lists what would do


def test_limit_names_are_the_fields_of_risk_limits() -> None:
    assert limit_names(["allow_short", "allow_short"]) == frozenset({"allow_short"})
    assert set(RISK_LIMIT_NAMES) == set(_fields(CURRENT))


def _fields(limits: RiskLimits) -> dict[str, object]:
    return {name: getattr(limits, name) for name in RiskLimits.__dataclass_fields__}
