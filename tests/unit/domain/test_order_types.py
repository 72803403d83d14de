"""The order-type table: complete, consistent with the protos and the CLI, read by validation."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from decimal import Decimal

import pytest

from clients import omsctl
from oms_server.api import mapping
from oms_server.domain.enums import OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.errors import ValidationError
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import OrderRequest
from oms_server.domain.order_types import (
    ORDER_TYPES,
    PRICE_TERMS,
    OrderTypeRule,
    PriceSource,
    Term,
    TriggerRule,
)
from protos.oms.v1 import common_pb2
from venues import wire

AAPL = Instrument("AAPL", Decimal("0.01"), Decimal("1"), Decimal("190"))
ROWS = list(ORDER_TYPES.values())
PRICE = Decimal("190.01")
#: An expire time for GTD requests (the check of the time itself is the engine's).
EXPIRE_NS = 2_000_000_000_000_000_000


def request(order_type: OrderType, **terms: Decimal | None) -> OrderRequest:
    """A request of ``order_type`` carrying its required terms, then ``terms``."""
    values: dict[str, Decimal | None] = {term.value: None for term in Term}
    values.update({term.value: PRICE for term in ORDER_TYPES[order_type].requires})
    values.update(terms)
    return OrderRequest(
        account_id="A",
        client_order_id="c",
        symbol="AAPL",
        side=Side.BUY,
        order_type=order_type,
        time_in_force=TimeInForce.DAY,
        quantity=Decimal("10"),
        routing_strategy=RoutingStrategy.BEST_PRICE,
        venue="",
        **values,  # type: ignore[arg-type]
    )


def test_every_order_type_has_its_row() -> None:
    assert set(ORDER_TYPES) == set(OrderType)
    assert all(kind is row.order_type for kind, row in ORDER_TYPES.items())


def test_every_proto_order_type_maps_to_a_row_and_back() -> None:
    names = [name for name, number in common_pb2.OrderType.items() if number != 0]
    assert sorted(names) == sorted(row.proto_name for row in ROWS)
    for name in names:
        number = common_pb2.OrderType.Value(name)
        assert mapping.TYPE_OUT[mapping.TYPE_IN[number]] == number
        assert ORDER_TYPES[mapping.TYPE_IN[number]].proto_name == name


def test_names_on_the_edges_are_unique_and_omsctl_offers_the_cli_names() -> None:
    cli_names = [row.cli_name for row in ROWS]
    assert len(set(cli_names)) == len(ROWS)
    fix_types = [row.fix_ord_type for row in ROWS if row.fix_ord_type is not None]
    assert len(set(fix_types)) == len(fix_types)
    assert all(len(code) == 1 for code in fix_types)
    assert sorted(omsctl.ORDER_TYPES) == sorted(cli_names)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.order_type.value)
def test_a_triggered_type_routes_as_the_type_it_becomes(row: OrderTypeRule) -> None:
    routed = ORDER_TYPES[row.routed_as]
    assert not routed.waits_for_trigger
    # A pegged order's children are limits, each at the peg price of its moment.
    pegged = row.routes_at is PriceSource.PEG
    assert routed.routes_at is (PriceSource.LIMIT if pegged else row.routes_at)
    assert row.routed_as in wire.TYPE_OUT  # the venue protocol can carry every child


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.order_type.value)
def test_each_order_type_reads_its_row_of_the_table(row: OrderTypeRule) -> None:
    assert row.order_type.rule is row


@pytest.mark.parametrize(
    ("kind", "term"),
    [(row.order_type, term) for row in ROWS for term in row.requires],
)
def test_a_missing_required_term_is_refused_naming_it(kind: OrderType, term: Term) -> None:
    with pytest.raises(ValidationError) as refused:
        request(kind, **{term.value: None}).check(AAPL)
    assert (refused.value.field, refused.value.description) == (
        term.value,
        "is required for this order type",
    )


@pytest.mark.parametrize(
    ("kind", "term"),
    [(row.order_type, term) for row in ROWS for term in Term if term not in row.allows],
)
def test_a_term_the_type_does_not_take_is_refused_naming_it(kind: OrderType, term: Term) -> None:
    with pytest.raises(ValidationError) as refused:
        request(kind, **{term.value: PRICE}).check(AAPL)
    assert (refused.value.field, refused.value.description) == (
        term.value,
        "must be empty for this order type",
    )


@pytest.mark.parametrize(
    ("kind", "tif"), [(row.order_type, tif) for row in ROWS for tif in TimeInForce]
)
def test_the_time_in_force_is_one_the_type_allows(kind: OrderType, tif: TimeInForce) -> None:
    expire_ns = EXPIRE_NS if tif.has_expire_time else None
    checked = dataclasses.replace(request(kind), time_in_force=tif, expire_ns=expire_ns)
    if tif in ORDER_TYPES[kind].time_in_force:
        checked.check(AAPL)
        return
    with pytest.raises(ValidationError) as refused:
        checked.check(AAPL)
    assert refused.value.field == "time_in_force"


def test_a_market_order_cannot_be_gtc_as_before() -> None:
    assert TimeInForce.GTC not in ORDER_TYPES[OrderType.MARKET].time_in_force
    with pytest.raises(ValidationError, match="a market order cannot be GTC"):
        ORDER_TYPES[OrderType.MARKET].check_time_in_force(TimeInForce.GTC)


@pytest.mark.parametrize("term", PRICE_TERMS)
def test_every_price_term_is_checked_against_the_tick(term: Term) -> None:
    kind = next(row.order_type for row in ROWS if term in row.requires)
    with pytest.raises(ValidationError) as refused:
        request(kind, **{term.value: Decimal("190.005")}).check(AAPL)
    assert refused.value.field == term.value


@pytest.mark.parametrize(
    ("side", "bid", "ask", "hit"),
    [
        (Side.BUY, None, "99.99", False),
        (Side.BUY, None, "100", True),
        (Side.BUY, None, "100.01", True),
        (Side.BUY, "101", None, False),
        (Side.SELL, "100.01", None, False),
        (Side.SELL, "100", None, True),
        (Side.SELL, "99.99", None, True),
        (Side.SELL, None, "99", False),
    ],
)
def test_a_stop_triggers_at_or_through_its_price_against_the_order(
    side: Side, bid: str | None, ask: str | None, hit: bool
) -> None:
    best_bid = Decimal(bid) if bid is not None else None
    best_ask = Decimal(ask) if ask is not None else None
    assert TriggerRule.STOP.hit(side, Decimal("100"), best_bid, best_ask) is hit


@pytest.mark.parametrize(
    "overrides",
    [
        {"requires": frozenset({Term.STOP_PRICE}), "allows": frozenset()},
        {"trigger": TriggerRule.STOP},
        {"reserves_at": PriceSource.LIMIT},
    ],
)
def test_an_inconsistent_row_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(ORDER_TYPES[OrderType.MARKET], **overrides)  # type: ignore[arg-type]


def test_the_table_imports_no_io_or_generated_code() -> None:
    code = (
        "import sys, oms_server.domain.order_types, oms_server.domain.risk; "
        "bad = [m for m in ('grpc', 'nats', 'sqlalchemy', 'protos', 'google.protobuf') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.strip() == ""
