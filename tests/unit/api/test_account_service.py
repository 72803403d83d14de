"""SetRiskLimits' mapping: the update mask names RiskLimits fields, and only those are read."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_server.api.account_service import named_fields, risk_limits
from oms_server.domain.accounts import RISK_LIMIT_NAMES, RiskLimits
from oms_server.domain.errors import ValidationError
from protos.oms.v1 import account_service_pb2 as pb


def test_the_mask_names_are_the_fields_of_the_message() -> None:
    assert set(RISK_LIMIT_NAMES) == set(pb.RiskLimits.DESCRIPTOR.fields_by_name)


def test_only_the_named_fields_are_read() -> None:
    message = pb.RiskLimits(max_order_quantity="500", price_collar_bps="not a number")
    limits = risk_limits(named_fields(message, frozenset({"max_order_quantity"})))
    assert limits == RiskLimits(max_order_quantity=Decimal("500"))


def test_without_names_every_field_is_read() -> None:
    message = pb.RiskLimits(max_order_quantity="500", price_collar_bps="not a number")
    assert named_fields(message, frozenset()) is message
    with pytest.raises(ValidationError) as refused:
        risk_limits(message)
    assert refused.value.field == "risk_limits.price_collar_bps"


def test_a_named_repeated_field_is_copied_whole() -> None:
    message = pb.RiskLimits(restricted_symbols=["GME", "AMC"], max_orders_per_second=9)
    named = named_fields(message, frozenset({"restricted_symbols"}))
    assert (list(named.restricted_symbols), named.max_orders_per_second) == (["GME", "AMC"], 0)
