"""The clients name every order type of the server's order-type table (issue 21)."""

from __future__ import annotations

from clients import omsctl
from clients.fix.protocol import ORD_TYPE_FROM_FIX
from clients.sdk import client as sdk
from oms_server.domain.order_types import ORDER_TYPES, Term
from protos.oms.v1 import common_pb2


def test_omsctl_takes_exactly_the_types_of_the_table() -> None:
    assert sorted(omsctl.ORDER_TYPES) == sorted(rule.cli_name for rule in ORDER_TYPES.values())


def test_every_type_of_the_table_is_a_value_of_the_api_enum() -> None:
    for rule in ORDER_TYPES.values():
        assert common_pb2.OrderType.Value(rule.proto_name) > 0


def test_the_fix_ord_types_the_gateway_reads_are_those_of_the_table() -> None:
    table = {r.fix_ord_type: r for r in ORDER_TYPES.values() if r.fix_ord_type is not None}
    assert set(ORD_TYPE_FROM_FIX) == set(table)
    for ord_type, (proto_type, needs_price, needs_stop) in ORD_TYPE_FROM_FIX.items():
        rule = table[ord_type]
        assert common_pb2.OrderType.Name(proto_type) == rule.proto_name
        assert needs_price == (Term.LIMIT_PRICE in rule.requires)
        assert needs_stop == (Term.STOP_PRICE in rule.requires)


def test_a_trailing_offset_alone_makes_a_trailing_stop_in_the_sdk() -> None:
    assert sdk._order_type(None, None, None, "0.50") == common_pb2.ORDER_TYPE_TRAILING_STOP
    assert sdk._order_type("market_if_touched", None, "189", None) == (
        common_pb2.ORDER_TYPE_MARKET_IF_TOUCHED
    )


def test_omsctl_submit_takes_a_trailing_offset_and_every_type() -> None:
    args = omsctl.build_parser().parse_args(
        ["submit", "AAPL", "sell", "100", "--trailing-offset", "0.50"]
    )
    assert (args.trailing_offset, args.type) == ("0.50", None)
    for name in omsctl.ORDER_TYPES:
        parsed = omsctl.build_parser().parse_args(["submit", "AAPL", "buy", "1", "--type", name])
        assert parsed.type == name


def test_a_peg_type_makes_a_pegged_order_in_the_sdk_and_omsctl() -> None:
    assert sdk._order_type(None, "190", None, None, "primary") == common_pb2.ORDER_TYPE_PEGGED
    args = omsctl.build_parser().parse_args(
        ["submit", "AAPL", "buy", "100", "--peg", "midpoint", "--peg-offset", "0.01"]
    )
    assert (args.peg, args.peg_offset, args.type) == ("midpoint", "0.01", None)
    assert sorted(omsctl.PEG_TYPES) == ["market", "midpoint", "primary"]
