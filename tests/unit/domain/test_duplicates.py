"""A reused client order id: the same terms are a retry, any other term is refused."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from oms_server.domain.duplicates import (
    ORDER_TERMS,
    DuplicateClientOrderIdError,
    first_differing_term,
    retried_submit,
)
from oms_server.domain.enums import OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.errors import AlreadyExistsError
from oms_server.domain.order import Order, OrderRequest

REQUEST = OrderRequest(
    account_id="A",
    client_order_id="c1",
    symbol="AAPL",
    side=Side.BUY,
    order_type=OrderType.LIMIT,
    time_in_force=TimeInForce.DAY,
    quantity=Decimal(100),
    limit_price=Decimal("190.00"),
    stop_price=None,
    routing_strategy=RoutingStrategy.BEST_PRICE,
    venue="",
)
EXISTING = Order.from_request("o1", REQUEST, sender="t", now_ns=1)

#: One other value per term of the request (each differs from REQUEST's).
OTHER_TERMS: dict[str, Any] = {
    "symbol": "MSFT",
    "side": Side.SELL,
    "order_type": OrderType.STOP_LIMIT,
    "time_in_force": TimeInForce.GTC,
    "quantity": Decimal(1),
    "limit_price": Decimal("191"),
    "stop_price": Decimal("189"),
    "routing_strategy": RoutingStrategy.DIRECT,
    "venue": "XNAS",
}


def test_the_same_terms_are_a_retry() -> None:
    assert retried_submit(EXISTING, REQUEST) is EXISTING


def test_equal_decimals_written_differently_are_the_same_term() -> None:
    again = dataclasses.replace(REQUEST, quantity=Decimal("100.0"), limit_price=Decimal("190"))
    assert first_differing_term(EXISTING, again) is None


@pytest.mark.parametrize("term", sorted(OTHER_TERMS))
def test_any_other_term_is_refused_naming_it(term: str) -> None:
    other = dataclasses.replace(REQUEST, **{term: OTHER_TERMS[term]})
    with pytest.raises(DuplicateClientOrderIdError) as refused:
        retried_submit(EXISTING, other)
    error = refused.value
    assert isinstance(error, AlreadyExistsError)
    assert error.reason == "DUPLICATE_CLIENT_ORDER_ID"
    assert (error.order_id, error.term) == ("o1", term)
    assert error.metadata == {"order_id": "o1", "term": term}
    assert "'c1'" in error.message and "order o1" in error.message and term in error.message


def test_the_message_names_the_first_differing_term_and_both_values() -> None:
    other = dataclasses.replace(REQUEST, symbol="MSFT", side=Side.SELL, quantity=Decimal(1))
    with pytest.raises(DuplicateClientOrderIdError) as refused:
        retried_submit(EXISTING, other)
    assert refused.value.message == (
        "client_order_id 'c1' is already used by order o1 with other terms: "
        "its symbol is AAPL, not MSFT"
    )


def test_a_missing_price_shows_as_none() -> None:
    other = dataclasses.replace(REQUEST, stop_price=Decimal("189.5"))
    with pytest.raises(DuplicateClientOrderIdError) as refused:
        retried_submit(EXISTING, other)
    assert refused.value.message.endswith("its stop_price is none, not 189.5")


def test_every_term_of_a_request_is_compared() -> None:
    """A field of OrderRequest is either a term or names the key itself."""
    fields = {f.name for f in dataclasses.fields(OrderRequest)}
    assert fields - {"account_id", "client_order_id"} <= set(ORDER_TERMS)


def test_another_expire_time_is_named_as_the_api_names_it() -> None:
    gtd = dataclasses.replace(
        REQUEST, time_in_force=TimeInForce.GTD, expire_ns=1_700_000_000_000_000_000
    )
    existing = Order.from_request("o2", gtd, sender="t", now_ns=1)
    later = dataclasses.replace(gtd, expire_ns=1_700_000_060_000_000_000)
    with pytest.raises(DuplicateClientOrderIdError) as refused:
        retried_submit(existing, later)
    assert refused.value.term == "expire_time"
    assert refused.value.message.endswith(
        "its expire_time is 2023-11-14T22:13:20Z, not 2023-11-14T22:14:20Z"
    )
