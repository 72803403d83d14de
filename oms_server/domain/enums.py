"""Enumerations of the order model. Values mirror the oms.v1 proto enum suffixes."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oms_server.domain.order_types import OrderTypeRule


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for buys, -1 for sells: the direction the position moves."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"
    TRAILING_STOP = "TRAILING_STOP"
    MARKET_IF_TOUCHED = "MARKET_IF_TOUCHED"
    LIMIT_IF_TOUCHED = "LIMIT_IF_TOUCHED"
    PEGGED = "PEGGED"

    @property
    def rule(self) -> OrderTypeRule:
        """This type's row of the order-type table (oms_server/domain/order_types.py)."""
        from oms_server.domain.order_types import ORDER_TYPES  # it imports this module

        return ORDER_TYPES[self]


class PegType(StrEnum):
    """The price of the consolidated book a PEGGED order follows."""

    #: The best price on the order's own side (a buy follows the best bid).
    PRIMARY = "PRIMARY"
    #: The midpoint of the best bid and ask.
    MIDPOINT = "MIDPOINT"
    #: The best price on the other side (a buy follows the best ask).
    MARKET = "MARKET"


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"

    @property
    def rests(self) -> bool:
        """True when an unfilled remainder may rest on a book."""
        return self in (TimeInForce.DAY, TimeInForce.GTC, TimeInForce.GTD)

    @property
    def has_expire_time(self) -> bool:
        """True when the order carries its own expire time (GTD)."""
        return self is TimeInForce.GTD

    @property
    def waits_while_closed(self) -> bool:
        """True when an order submitted outside the trading session is accepted and waits
        for the open (GTC, GTD); the others are refused then."""
        return self in (TimeInForce.GTC, TimeInForce.GTD)

    @property
    def at_venue(self) -> TimeInForce:
        """What children are sent as: GTD works at a venue as GTC (the OMS expires it)."""
        return TimeInForce.GTC if self is TimeInForce.GTD else self


class OrderState(StrEnum):
    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    PENDING_REPLACE = "PENDING_REPLACE"
    REPLACED = "REPLACED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        OrderState.FILLED,
        OrderState.CANCELED,
        OrderState.REPLACED,
        OrderState.REJECTED,
        OrderState.EXPIRED,
    }
)


class ExecType(StrEnum):
    """What an execution report announces (FIX ExecType)."""

    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    TRADE = "TRADE"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    PENDING_REPLACE = "PENDING_REPLACE"
    REPLACED = "REPLACED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    CANCEL_REJECTED = "CANCEL_REJECTED"
    REPLACE_REJECTED = "REPLACE_REJECTED"
    #: A waiting order's trigger fired; it is routed now (FIX 4.4 has no such ExecType).
    TRIGGERED = "TRIGGERED"
    #: The OMS changed a working order's terms (a BRACKET exit grown to the entry's fill).
    RESTATED = "RESTATED"


class RoutingStrategy(StrEnum):
    BEST_PRICE = "BEST_PRICE"
    LIQUIDITY = "LIQUIDITY"
    DIRECT = "DIRECT"
