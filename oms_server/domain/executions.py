"""The fills list: one fill of an account's order at a venue, as the account sees it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from oms_server.domain.child import Liquidity
from oms_server.domain.enums import Side


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill: what the venue said of it, with the order it filled.

    ``exec_id`` is the OMS's id of the fill: the exec id of the order's TRADE execution
    report, so the fills list and the report stream name a fill alike. ``sequence`` is
    that report's sequence in the account; the list is newest first by it.
    """

    exec_id: str
    sequence: int
    account_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    venue: str
    venue_exec_id: str
    last_qty: Decimal
    last_price: Decimal
    fee: Decimal
    liquidity: Liquidity
    transact_ns: int
