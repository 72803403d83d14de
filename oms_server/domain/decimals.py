"""Exact decimal arithmetic for prices, quantities and money.

Prices and quantities travel as decimal strings and live as ``decimal.Decimal``;
binary floats never touch them. Parsing is strict: no NaN, no infinity, no
exponent tricks, bounded length, so hostile input cannot smuggle in odd values.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

from oms_server.domain.errors import ValidationError

ZERO = Decimal(0)
#: Longest decimal string accepted from the outside world.
MAX_DECIMAL_CHARS = 32
#: Decimal places of average prices, which are ratios and need not be exact.
AVG_PRICE_PLACES = Decimal("1e-8")
#: Decimal places of money amounts computed from bps (fees, rebates).
MONEY_PLACES = Decimal("1e-8")

#: ASCII digits only (``\d`` would take any Unicode digit) and nothing after the number.
_DECIMAL_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
#: Most decimal places of a money amount, and the largest amount accepted.
MONEY_MAX_PLACES = 8
MONEY_MAX = Decimal("1e15")
#: Working context for products and ratios of prices and sizes: 50 digits, far above any
#: input (a context object's methods cost less than entering a local context per call).
EXACT = Context(prec=50, rounding=ROUND_HALF_EVEN)
#: Basis points in one whole.
BPS_PER_UNIT = Decimal(10_000)
#: Distinct values whose canonical text fmt remembers (cleared when full). Prices and
#: sizes repeat and come back within moments of a clear; balances and averages are new
#: each time and only pass through. 65,536 entries held about 15 MB of such one-offs.
FMT_CACHE_SIZE = 4_096
_FMT_CACHE: dict[Decimal, str] = {}


def parse_decimal(text: str, field: str, *, allow_empty: bool = False) -> Decimal | None:
    """Parse a decimal string strictly; raise ValidationError naming ``field``.

    Returns None for an empty string when ``allow_empty`` is set.
    """
    if text == "" or text is None:
        if allow_empty:
            return None
        raise ValidationError(field, "is required")
    if len(text) > MAX_DECIMAL_CHARS:
        raise ValidationError(field, f"is longer than {MAX_DECIMAL_CHARS} characters")
    if not _DECIMAL_RE.fullmatch(text):
        raise ValidationError(field, f"is not a decimal number: {text!r}")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already refuses these
        raise ValidationError(field, f"is not a decimal number: {text!r}") from exc


def parse_positive(text: str, field: str) -> Decimal:
    """Parse a required decimal that must be strictly greater than zero."""
    value = parse_decimal(text, field)
    assert value is not None
    if value <= ZERO:
        raise ValidationError(field, "must be greater than zero")
    return value


def parse_money(text: str, field: str) -> Decimal:
    """A positive amount of money: at most MONEY_MAX_PLACES places, at most MONEY_MAX.

    The bounds keep every balance exact within Python's 28-digit decimal context.
    """
    value = parse_positive(text, field)
    if value > MONEY_MAX:
        raise ValidationError(field, f"must not exceed {fmt(MONEY_MAX)}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MONEY_MAX_PLACES:
        raise ValidationError(field, f"has more than {MONEY_MAX_PLACES} decimal places")
    return value


def is_multiple_of(value: Decimal, step: Decimal) -> bool:
    """True when ``value`` is a whole number of ``step`` (tick or lot)."""
    if step <= ZERO:
        return True
    return EXACT.remainder(value, step) == ZERO


def fmt(value: Decimal | None) -> str:
    """Canonical string form: no exponent, no trailing zeros, '' for None.

    Prices and sizes repeat, so texts are remembered by value (equal Decimals hash
    alike and have the same canonical text, whatever their exponent).
    """
    if value is None:
        return ""
    text = _FMT_CACHE.get(value)
    if text is None:
        text = _canonical_text(value)
        if len(_FMT_CACHE) >= FMT_CACHE_SIZE:
            _FMT_CACHE.clear()
        _FMT_CACHE[value] = text
    return text


def _canonical_text(value: Decimal) -> str:
    if not value:
        return "0"
    text = format(value, "f")  # every digit, never an exponent, never rounded
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def average_price(notional: Decimal, quantity: Decimal) -> Decimal:
    """Volume-weighted average price, rounded half-even to AVG_PRICE_PLACES."""
    if quantity == ZERO:
        return ZERO
    return EXACT.divide(notional, quantity).quantize(AVG_PRICE_PLACES, context=EXACT)


def bps_of(notional: Decimal, bps: Decimal) -> Decimal:
    """``bps`` basis points of ``notional``, rounded half-even to MONEY_PLACES."""
    amount = EXACT.divide(EXACT.multiply(notional, bps), BPS_PER_UNIT)
    return amount.quantize(MONEY_PLACES, context=EXACT)
