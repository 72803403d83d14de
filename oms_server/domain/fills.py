"""A fill: a quantity traded at a price, with the fee it cost (negative for a rebate)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from oms_server.domain.decimals import ZERO


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill, of a child at its venue or rolled up into its parent."""

    quantity: Decimal
    price: Decimal
    fee: Decimal = ZERO
