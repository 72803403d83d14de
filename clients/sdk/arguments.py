"""Types of the friendly arguments the SDK's methods take."""

from __future__ import annotations

from decimal import Decimal

#: A decimal value: a string such as "190.25", an int, or a Decimal (never a float).
Decimalish = str | int | Decimal
#: A proto enum value: its number, or its name with or without prefix ("buy", "SIDE_BUY").
EnumArg = int | str
