"""Pegged orders in the domain: the peg price, the pacer, the request checks (issue 21)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms_server.domain.enums import OrderType, PegType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.errors import ValidationError
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import OrderRequest
from oms_server.domain.peg import RepegPacer, peg_price

TICK = Decimal("0.01")
BID, ASK = Decimal("99.99"), Decimal("100.02")
AAPL = Instrument("AAPL", TICK, Decimal("1"), Decimal("100"))


def price(
    peg_type: PegType,
    side: Side,
    offset: str | None = None,
    cap: str | None = None,
    bid: Decimal | None = BID,
    ask: Decimal | None = ASK,
) -> Decimal | None:
    return peg_price(
        peg_type,
        side,
        None if offset is None else Decimal(offset),
        None if cap is None else Decimal(cap),
        bid,
        ask,
        TICK,
    )


@pytest.mark.parametrize(
    ("peg_type", "side", "offset", "cap", "expected"),
    [
        (PegType.PRIMARY, Side.BUY, None, None, "99.99"),  # its own side: the bid
        (PegType.PRIMARY, Side.SELL, None, None, "100.02"),
        (PegType.PRIMARY, Side.BUY, "0.05", None, "99.94"),  # the offset is passive
        (PegType.PRIMARY, Side.SELL, "0.05", None, "100.07"),
        (PegType.MARKET, Side.BUY, None, None, "100.02"),  # the other side: the ask
        (PegType.MARKET, Side.BUY, "0.01", None, "100.01"),
        (PegType.MARKET, Side.SELL, "0.01", None, "100.00"),
        (PegType.MIDPOINT, Side.BUY, None, None, "100.00"),  # 100.005 rounded down for a buy
        (PegType.MIDPOINT, Side.SELL, None, None, "100.01"),  # and up for a sell
        (PegType.MIDPOINT, Side.BUY, "0.02", None, "99.98"),
        (PegType.MARKET, Side.BUY, None, "100.00", "100.00"),  # never above a buy's cap
        (PegType.MARKET, Side.SELL, None, "100.00", "100.00"),  # a sell's cap binds below
        (PegType.PRIMARY, Side.SELL, None, "100.50", "100.50"),  # never below a sell's cap
        (PegType.PRIMARY, Side.BUY, "0", "100.50", "99.99"),  # a cap not reached changes nothing
    ],
)
def test_the_peg_price_follows_its_side_by_the_offset_within_the_cap(
    peg_type: PegType, side: Side, offset: str | None, cap: str | None, expected: str
) -> None:
    assert price(peg_type, side, offset, cap) == Decimal(expected)


def test_no_peg_price_while_the_followed_side_is_empty() -> None:
    assert price(PegType.PRIMARY, Side.BUY, bid=None) is None
    assert price(PegType.MARKET, Side.BUY, ask=None) is None
    assert price(PegType.MIDPOINT, Side.SELL, ask=None) is None
    assert price(PegType.PRIMARY, Side.SELL, bid=None) == ASK  # it follows the ask only
    assert price(PegType.PRIMARY, Side.BUY, offset="100.00") is None  # zero or below


def test_the_pacer_spaces_one_orders_re_pegs_by_its_interval() -> None:
    pacer = RepegPacer(max_per_s=4)
    assert pacer.due_ns("o1", 1_000) == 1_000
    pacer.note("o1", 1_000)
    assert pacer.due_ns("o1", 2_000) == 1_000 + 250_000_000
    assert pacer.due_ns("o2", 2_000) == 2_000  # another order is not held back
    assert pacer.due_ns("o1", 300_000_000) == 300_000_000
    pacer.forget("o1")
    assert pacer.due_ns("o1", 2_000) == 2_000


def pegged(**terms: object) -> OrderRequest:
    values: dict[str, object] = {
        "account_id": "A",
        "client_order_id": "c",
        "symbol": "AAPL",
        "side": Side.BUY,
        "order_type": OrderType.PEGGED,
        "time_in_force": TimeInForce.DAY,
        "quantity": Decimal(100),
        "limit_price": None,
        "stop_price": None,
        "routing_strategy": RoutingStrategy.BEST_PRICE,
        "venue": "",
        "peg_type": PegType.PRIMARY,
        "peg_offset": None,
    }
    values.update(terms)
    return OrderRequest(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("terms", "field", "why"),
    [
        ({"peg_type": None}, "peg_type", "is required"),
        ({"peg_offset": Decimal("-0.01")}, "peg_offset", "must not be negative"),
        ({"peg_offset": Decimal("0.005")}, "peg_offset", "tick size"),
        ({"limit_price": Decimal("100.005")}, "limit_price", "tick size"),
        ({"time_in_force": TimeInForce.IOC}, "time_in_force", "cannot be IOC"),
        ({"order_type": OrderType.LIMIT, "limit_price": Decimal(100)}, "peg_type", "must be empty"),
        (
            {
                "order_type": OrderType.LIMIT,
                "limit_price": Decimal(100),
                "peg_type": None,
                "peg_offset": Decimal("0.01"),
            },
            "peg_offset",
            "must be empty",
        ),
    ],
)
def test_a_bad_pegged_request_is_refused_naming_the_field(
    terms: dict[str, object], field: str, why: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        pegged(**terms).check(AAPL)
    assert refused.value.field == field and why in str(refused.value)


def test_a_pegged_request_may_have_a_zero_offset_and_no_cap() -> None:
    pegged(peg_offset=Decimal(0)).check(AAPL)
    pegged(peg_type=PegType.MIDPOINT, limit_price=Decimal("100.50")).check(AAPL)
