"""How the SDK turns friendly arguments into request fields."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from clients.sdk import SyncOmsClient
from clients.sdk import client as c
from protos.oms.v1 import common_pb2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("buy", common_pb2.SIDE_BUY),
        ("SELL", common_pb2.SIDE_SELL),
        ("SIDE_BUY", common_pb2.SIDE_BUY),
        (common_pb2.SIDE_SELL, common_pb2.SIDE_SELL),
    ],
)
def test_enums_take_numbers_and_short_or_full_names(value: c.EnumArg, expected: int) -> None:
    assert c.enum_value(common_pb2.Side, "SIDE", value) == expected


def test_unknown_enum_names_are_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="one of buy, sell"):
        c.enum_value(common_pb2.Side, "SIDE", "sideways")


def test_unknown_enum_numbers_are_refused_like_names() -> None:
    with pytest.raises(ValueError, match="unknown side 7"):
        c.enum_value(common_pb2.Side, "SIDE", 7)


def test_multi_word_names_accept_dashes() -> None:
    value = c.enum_value(common_pb2.OrderState, "ORDER_STATE", "partially-filled")
    assert value == common_pb2.ORDER_STATE_PARTIALLY_FILLED


@pytest.mark.parametrize(
    ("value", "text"),
    [("190.25", "190.25"), (100, "100"), (Decimal("1E+2"), "100"), (Decimal("0.10"), "0.10")],
)
def test_decimals_go_on_the_wire_as_plain_strings(value: c.Decimalish, text: str) -> None:
    assert c.decimal_text(value, "quantity") == text


@pytest.mark.parametrize("value", [1.5, True, None])
def test_floats_and_other_types_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="quantity"):
        c.decimal_text(value, "quantity")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("limit", "stop", "expected"),
    [
        (None, None, common_pb2.ORDER_TYPE_MARKET),
        ("190", None, common_pb2.ORDER_TYPE_LIMIT),
        (None, "189", common_pb2.ORDER_TYPE_STOP),
        ("190", "189", common_pb2.ORDER_TYPE_STOP_LIMIT),
    ],
)
def test_the_order_type_follows_the_prices_given(
    limit: str | None, stop: str | None, expected: int
) -> None:
    assert c._order_type(None, limit, stop) == expected


def test_an_explicit_order_type_wins() -> None:
    assert c._order_type("market", "190", None) == common_pb2.ORDER_TYPE_MARKET


def test_naming_a_venue_means_direct_routing_unless_told_otherwise() -> None:
    assert c._routing(None, "ALPHA") == common_pb2.ROUTING_STRATEGY_DIRECT
    assert c._routing(None, "") == common_pb2.ROUTING_STRATEGY_UNSPECIFIED
    assert c._routing("liquidity", "ALPHA") == common_pb2.ROUTING_STRATEGY_LIQUIDITY


def test_generated_client_order_ids_are_unique_and_short_enough() -> None:
    ids = {c.new_client_order_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(0 < len(i) <= 64 for i in ids)


async def test_reconnect_backoff_gives_up_with_the_last_error() -> None:
    backoff = c._Backoff(c.ReconnectPolicy(initial_backoff_s=0.0, max_attempts=2))
    error = c.OmsError("gone")
    await backoff.wait(error)
    await backoff.wait(error)
    with pytest.raises(c.OmsError, match="gone"):
        await backoff.wait(error)
    backoff.reset()
    await backoff.wait(error)


def test_the_sync_client_stops_its_loop_thread_when_it_cannot_be_built() -> None:
    before = threading.active_count()
    with pytest.raises(TypeError):
        SyncOmsClient("127.0.0.1:1", "t", no_such_option=1)
    assert threading.active_count() == before
