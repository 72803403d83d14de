"""Iceberg orders: how much of an order may be shown at venues at once (issue 21).

An iceberg is a LIMIT order with a ``display_quantity``. The OMS manages it: routing
keeps at most the display quantity of it in live children (resting or taking) and
places the next slice when the live ones are done, until the order is filled, canceled
or expires. Slices are ordinary children, so a restart rebuilds them from the store.
"""

from __future__ import annotations

from decimal import Decimal

from oms_server.domain.decimals import ZERO

__all__ = ["next_slice"]


def next_slice(open_qty: Decimal, display_quantity: Decimal | None, live_qty: Decimal) -> Decimal:
    """The quantity to route now for an order with ``open_qty`` unfilled, ``live_qty`` of
    it in live children and ``display_quantity`` (None: no limit) shown at most at once;
    never less than zero."""
    shown_at_most = open_qty if display_quantity is None else min(open_qty, display_quantity)
    return max(shown_at_most - live_qty, ZERO)
