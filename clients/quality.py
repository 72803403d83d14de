"""Execution quality over a set of orders: the smart router versus the best single venue.

For each order with fills, the OMS records the arrival price (consolidated touch when
first routed) and the net price the best single venue offered for the order at that
moment. Improvement is measured on the net average price (fees included):
positive basis points mean the router did better than the best single venue.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from protos.oms.v1 import common_pb2, order_pb2

_BPS = Decimal(10_000)
_PLACES = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class QualitySummary:
    """Quantity-weighted execution quality of a set of orders."""

    orders: int
    filled_quantity: Decimal
    improvement_bps: Decimal
    arrival_slippage_bps: Decimal
    better: int
    same: int
    worse: int


def summarize(orders: Iterable[order_pb2.Order]) -> QualitySummary:
    """Summarize every order that has fills and both benchmarks recorded."""
    weight = improvement = slippage = Decimal(0)
    better = same = worse = count = 0
    for order in orders:
        measured = _measure(order)
        if measured is None:
            continue
        qty, order_improvement, order_slippage = measured
        count += 1
        weight += qty
        improvement += qty * order_improvement
        slippage += qty * order_slippage
        better += order_improvement > 0
        same += order_improvement == 0
        worse += order_improvement < 0
    if weight == 0:
        return QualitySummary(0, Decimal(0), Decimal(0), Decimal(0), 0, 0, 0)
    return QualitySummary(
        orders=count,
        filled_quantity=weight,
        improvement_bps=_round(improvement / weight),
        arrival_slippage_bps=_round(slippage / weight),
        better=better,
        same=same,
        worse=worse,
    )


def _measure(order: order_pb2.Order) -> tuple[Decimal, Decimal, Decimal] | None:
    if not order.cum_qty or Decimal(order.cum_qty) == 0:
        return None
    if not order.best_single_venue_price or not order.arrival_price:
        return None
    achieved = Decimal(order.net_avg_price)
    single = Decimal(order.best_single_venue_price)
    arrival = Decimal(order.arrival_price)
    sign = 1 if order.side == common_pb2.SIDE_BUY else -1
    improvement = sign * (single - achieved) / single * _BPS
    slippage = sign * (achieved - arrival) / arrival * _BPS
    return Decimal(order.cum_qty), improvement, slippage


def _round(value: Decimal) -> Decimal:
    return value.quantize(_PLACES, rounding=ROUND_HALF_EVEN)
