"""Instruments and their trading increments."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from oms_server.domain.decimals import fmt, is_multiple_of
from oms_server.domain.errors import ValidationError


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable symbol with its tick size, lot size and reference price."""

    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    reference_price: Decimal

    def check_price(self, price: Decimal, field: str) -> None:
        """Raise ValidationError unless ``price`` is positive and on the tick."""
        if price <= 0:
            raise ValidationError(field, "must be greater than zero")
        if not is_multiple_of(price, self.tick_size):
            raise ValidationError(
                field, f"{fmt(price)} is not a multiple of the tick size {fmt(self.tick_size)}"
            )

    def check_quantity(self, quantity: Decimal, field: str) -> None:
        """Raise ValidationError unless ``quantity`` is positive and a whole number of lots."""
        if quantity <= 0:
            raise ValidationError(field, "must be greater than zero")
        if not is_multiple_of(quantity, self.lot_size):
            raise ValidationError(
                field, f"{fmt(quantity)} is not a multiple of the lot size {fmt(self.lot_size)}"
            )
