"""Execution reports: the append-only events of an order, as clients see them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from oms_server.domain.enums import ExecType, OrderState, Side


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """One state change of one order, numbered per account.

    ``sequence`` increases by exactly one per account; ``exec_id`` is unique.
    """

    account_id: str
    sequence: int
    exec_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    exec_type: ExecType
    order_state: OrderState
    last_qty: Decimal
    last_price: Decimal
    last_venue: str
    cum_qty: Decimal
    leaves_qty: Decimal
    avg_price: Decimal
    text: str
    transact_ns: int
