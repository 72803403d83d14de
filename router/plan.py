"""What goes into the router (a parent's needs) and what comes out (a plan of children)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from oms_server.domain.child import ChildPurpose as Purpose
from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.instruments import Instrument
from oms_server.domain.order_types import ORDER_TYPES, PriceSource

__all__ = ["ChildPlan", "ParentSpec", "Purpose", "RoutingPlan"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParentSpec:
    """What the router needs of a parent order.

    ``quantity`` is what is left to route (the engine passes leaves minus what its live
    children already hold). ``venue`` names the venue for DIRECT routing. ``min_child_qty``
    defaults to one lot. ``rest_only`` asks for a plan that rests the quantity at the
    best venue for resting and takes nothing (DIRECT plans are the same either way). A
    triggered type is routed as the type it becomes (STOP_LIMIT
    as LIMIT, STOP as MARKET: see ORDER_TYPES); the engine routes it once triggered.
    """

    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    instrument: Instrument
    limit_price: Decimal | None = None
    strategy: RoutingStrategy = RoutingStrategy.BEST_PRICE
    venue: str = ""
    min_child_qty: Decimal | None = None
    #: Take nothing: rest the whole quantity (a remainder whose takes kept missing).
    rest_only: bool = False

    def __post_init__(self) -> None:
        if self.is_limit and self.limit_price is None:
            raise ValueError(f"a {self.order_type.value} parent needs a limit price")

    @property
    def is_limit(self) -> bool:
        """True when the parent carries a limit price that children must respect."""
        return ORDER_TYPES[self.order_type].routes_at is PriceSource.LIMIT

    @property
    def child_order_type(self) -> OrderType:
        """LIMIT or MARKET: the plain order type a child sent as the parent would have."""
        return ORDER_TYPES[self.order_type].routed_as

    @property
    def lot_size(self) -> Decimal:
        return self.instrument.lot_size

    @property
    def min_child(self) -> Decimal:
        """Smallest child allowed, unless the child is the whole remaining quantity."""
        return self.lot_size if self.min_child_qty is None else self.min_child_qty


@dataclass(frozen=True, slots=True)
class ChildPlan:
    """One child order to send.

    ``expected_price`` is the volume-weighted raw price (before fees) of the displayed
    levels the child is meant to take, rounded half-even to 8 places; a resting child
    expects its limit price. ``limit_price`` is None only for a MARKET child.
    """

    venue: str
    quantity: Decimal
    limit_price: Decimal | None
    time_in_force: TimeInForce
    order_type: OrderType
    expected_price: Decimal | None
    purpose: Purpose


@dataclass(frozen=True, slots=True)
class RoutingPlan:
    """Children to send, the quantity left unrouted and a short human-readable reason."""

    children: tuple[ChildPlan, ...]
    unrouted_qty: Decimal
    reason: str

    @classmethod
    def empty(cls, quantity: Decimal, reason: str) -> RoutingPlan:
        """A plan that sends nothing and leaves ``quantity`` unrouted."""
        return cls((), max(quantity, ZERO), reason)

    @property
    def routed_qty(self) -> Decimal:
        """Total quantity across the children."""
        return sum((child.quantity for child in self.children), ZERO)

    @property
    def is_empty(self) -> bool:
        return not self.children
