"""Canonical decimal text, and the bounded memory behind it."""

from __future__ import annotations

from decimal import Decimal

from oms_server.domain import decimals
from oms_server.domain.decimals import FMT_CACHE_SIZE, fmt


def test_equal_values_have_one_canonical_text_whatever_their_exponent() -> None:
    assert fmt(Decimal("190.10")) == fmt(Decimal("190.1")) == fmt(Decimal("1.901E+2")) == "190.1"
    assert fmt(Decimal("0E-8")) == "0"
    assert fmt(Decimal("1E+3")) == "1000"
    assert fmt(None) == ""


def test_one_off_values_never_grow_the_text_cache_beyond_its_bound() -> None:
    balances = [Decimal(1_000_000) - Decimal(i) / 100 for i in range(3 * FMT_CACHE_SIZE)]
    texts = [fmt(b) for b in balances]
    assert len(decimals._FMT_CACHE) <= FMT_CACHE_SIZE
    assert texts[-1] == str(balances[-1])  # still right after the cache was cleared
    assert fmt(balances[0]) == "1000000"
