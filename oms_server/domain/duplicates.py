"""A reused client order id, by FIX rules.

The same (account, client_order_id) with the same terms is a retry: it answers with the
order already made. With any other term it is a different order under a taken id, and
is refused (ALREADY_EXISTS, reason DUPLICATE_CLIENT_ORDER_ID), changing nothing.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

from oms_server.domain.decimals import fmt
from oms_server.domain.errors import AlreadyExistsError
from oms_server.domain.order import Order, OrderRequest
from oms_server.domain.session import utc_text

#: The terms a retry must repeat, in the order a refusal names the first that differs.
ORDER_TERMS: tuple[str, ...] = (
    "symbol",
    "side",
    "order_type",
    "time_in_force",
    "quantity",
    "limit_price",
    "stop_price",
    "routing_strategy",
    "venue",
    "expire_ns",
    "trailing_offset",
    "display_quantity",
    "peg_type",
    "peg_offset",
)
#: Terms whose public (API) name differs from the attribute's.
PUBLIC_TERM_NAMES = {"expire_ns": "expire_time"}
DUPLICATE_REASON = "DUPLICATE_CLIENT_ORDER_ID"


class DuplicateClientOrderIdError(AlreadyExistsError):
    """A client order id already used by another order with other terms."""

    reason = DUPLICATE_REASON

    def __init__(self, message: str, *, order_id: str, term: str = "") -> None:
        super().__init__(message, metadata={"order_id": order_id, "term": term})
        self.order_id = order_id
        self.term = term


def retried_submit(existing: Order, request: OrderRequest) -> Order:
    """``existing`` when ``request`` repeats its terms; else DuplicateClientOrderIdError."""
    term = first_differing_term(existing, request)
    if term is None:
        return existing
    name = PUBLIC_TERM_NAMES.get(term, term)
    raise DuplicateClientOrderIdError(
        f"client_order_id {request.client_order_id!r} is already used by order "
        f"{existing.order_id} with other terms: its {name} is "
        f"{_shown(term, getattr(existing, term))}, not {_shown(term, getattr(request, term))}",
        order_id=existing.order_id,
        term=name,
    )


def first_differing_term(existing: Order, request: OrderRequest) -> str | None:
    """The first of ORDER_TERMS (attribute names) in which ``request`` differs from
    ``existing``, or None."""
    for term in ORDER_TERMS:
        if getattr(existing, term) != getattr(request, term):
            return term
    return None


def _shown(term: str, value: object) -> str:
    if value is None or value == "":
        return "none"
    if term == "expire_ns" and isinstance(value, int):
        return utc_text(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return fmt(value)
    return str(value)
