"""What the venue simulator's matching says happened, as plain frozen dataclasses.

Every ``OrderEvent`` concerns one order and carries what a venue execution report needs:
``exec_type``, ``status``, ``last_qty``, ``last_price``, ``cum_qty``, ``leaves_qty``,
``fee``, ``liquidity`` and ``text``. Only ``Filled`` has a fill; the others answer zero
for the fill fields. ``event_id`` is unique within one venue (one ``MatchingEngine``), so
an adapter can build stable exec ids from it, live and in reconciliation alike.

``Trade`` describes one trade between a resting (maker) and an incoming (taker) order;
each of the two orders gets a ``Filled`` event for it, with the same ``trade_id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from oms_server.domain.child import Liquidity
from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import ExecType, Side


class Owner(StrEnum):
    """Who an order on a simulated book belongs to."""

    OMS = "oms"
    MM = "mm"


class OrderStatus(StrEnum):
    """The venue's view of an order; values mirror the venue.v1 ORDER_STATUS_* suffixes."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_live(self) -> bool:
        """True while the order may still trade."""
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEvent:
    """Something that happened to one order, with the order's state right after it."""

    exec_type: ClassVar[ExecType]

    event_id: int
    order_id: str
    owner: Owner
    symbol: str
    status: OrderStatus
    cum_qty: Decimal
    leaves_qty: Decimal
    text: str = ""

    @property
    def last_qty(self) -> Decimal:
        """The fill quantity; zero unless this is a fill."""
        return ZERO

    @property
    def last_price(self) -> Decimal:
        """The fill price; zero unless this is a fill."""
        return ZERO

    @property
    def fee(self) -> Decimal:
        """Fee on this fill (negative: a rebate paid); zero unless this is a fill."""
        return ZERO

    @property
    def liquidity(self) -> Liquidity:
        """Maker or taker for fills; NONE otherwise."""
        return Liquidity.NONE

    @property
    def reported(self) -> bool:
        """True when the OMS gets a report of this event (its order is an OMS order)."""
        return self.owner is Owner.OMS


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted(OrderEvent):
    """A new order was accepted by the venue."""

    exec_type: ClassVar[ExecType] = ExecType.NEW


@dataclass(frozen=True, slots=True, kw_only=True)
class Filled(OrderEvent):
    """The order traded ``last_qty`` at ``last_price`` (a partial or a full fill)."""

    exec_type: ClassVar[ExecType] = ExecType.TRADE

    trade_id: int
    last_qty: Decimal
    last_price: Decimal
    fee: Decimal
    liquidity: Liquidity


@dataclass(frozen=True, slots=True, kw_only=True)
class Canceled(OrderEvent):
    """The order's rest was cancelled: on request, or an IOC/FOK/market remainder."""

    exec_type: ClassVar[ExecType] = ExecType.CANCELED


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected(OrderEvent):
    """A new order was refused; ``text`` says why."""

    exec_type: ClassVar[ExecType] = ExecType.REJECTED


@dataclass(frozen=True, slots=True, kw_only=True)
class Replaced(OrderEvent):
    """The order now has ``quantity`` at ``price`` (``cum_qty`` is unchanged)."""

    exec_type: ClassVar[ExecType] = ExecType.REPLACED

    quantity: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Expired(OrderEvent):
    """A DAY order's rest expired at the end of the day."""

    exec_type: ClassVar[ExecType] = ExecType.EXPIRED


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRejected(OrderEvent):
    """A cancel was refused (unknown order, or already done); ``text`` says why."""

    exec_type: ClassVar[ExecType] = ExecType.CANCEL_REJECTED


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceRejected(OrderEvent):
    """A replace was refused; ``text`` says why. The order is unchanged."""

    exec_type: ClassVar[ExecType] = ExecType.REPLACE_REJECTED


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade: ``qty`` at ``price`` between a resting maker and an incoming taker.

    Fees are what each side pays: ``taker_fee`` is positive, ``maker_fee`` negative
    (the rebate the venue pays the maker).
    """

    trade_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    maker_order_id: str
    taker_order_id: str
    taker_side: Side
    maker_fee: Decimal
    taker_fee: Decimal


@dataclass(frozen=True, slots=True)
class OrderStatusReport:
    """One order's status as the venue knows it, with every fill (reconciliation)."""

    order_id: str
    status: OrderStatus
    cum_qty: Decimal = ZERO
    leaves_qty: Decimal = ZERO
    fills: tuple[Filled, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Everything one command caused, in the order it happened.

    ``events`` covers every order touched, OMS and market maker alike; ``reports``
    keeps only those the OMS is told about. ``duplicate`` is set when a new order
    reused a known order id: nothing happened, and it holds that order's status.
    """

    events: tuple[OrderEvent, ...] = ()
    trades: tuple[Trade, ...] = ()
    duplicate: OrderStatusReport | None = None

    @property
    def reports(self) -> tuple[OrderEvent, ...]:
        """The events of OMS orders: what becomes venue execution reports."""
        return tuple(event for event in self.events if event.reported)

    @classmethod
    def combine(cls, results: Iterable[MatchResult]) -> MatchResult:
        """One result holding the events and trades of ``results`` in order."""
        events: list[OrderEvent] = []
        trades: list[Trade] = []
        for result in results:
            events.extend(result.events)
            trades.extend(result.trades)
        return cls(tuple(events), tuple(trades))
