"""Order ids: 26 hex digits, unique per store and, in a sharded OMS, naming their shard.

    <16: creation time, Unix ns><4: prefix><6: scrambled counter>

The counter goes through a keyed permutation (a small Feistel network with a random key
per process), so it stays unique but tells a client nothing about how many orders others
placed between two of its own. Ids still sort by creation time (ListOrders pages by it).

The prefix is random for a single OMS. A shard's prefix starts with its shard id (two hex
digits, 1 to 255) followed by two random ones, so whoever holds an order id can tell the
shard that owns it, with no lookup. Clients treat order ids as opaque.
"""

from __future__ import annotations

import hashlib
import os

TIME_DIGITS = 16
PREFIX_DIGITS = 4
COUNTER_DIGITS = 6
ORDER_ID_LENGTH = TIME_DIGITS + PREFIX_DIGITS + COUNTER_DIGITS
#: The counter wraps at this value (within one nanosecond's ids it never gets close).
COUNTER_MODULUS = 16**COUNTER_DIGITS
#: Shard ids an order id can carry (two hex digits; 0 means "no shard").
MAX_SHARD_ID = 0xFF
_SHARD_DIGITS = 2
_HEX = frozenset("0123456789abcdef")
_HALF_BITS = COUNTER_DIGITS * 4 // 2
_HALF_MASK = (1 << _HALF_BITS) - 1
_FEISTEL_ROUNDS = 4
_KEY_BYTES = 16


class OrderIds:
    """Makes the order ids of one process: ``next(now_ns)``."""

    def __init__(self, prefix: str | None = None) -> None:
        if prefix is None:
            prefix = os.urandom(PREFIX_DIGITS // 2).hex()
        if len(prefix) != PREFIX_DIGITS or not set(prefix) <= _HEX:
            raise ValueError(f"an order id prefix is {PREFIX_DIGITS} hex digits, not {prefix!r}")
        self.prefix = prefix
        self._counter = 0
        self._key = os.urandom(_KEY_BYTES)

    def next(self, now_ns: int) -> str:
        """A new order id created at ``now_ns``."""
        self._counter = (self._counter + 1) % COUNTER_MODULUS
        scrambled = self._permute(self._counter)
        return f"{now_ns:0{TIME_DIGITS}x}{self.prefix}{scrambled:0{COUNTER_DIGITS}x}"

    def _permute(self, value: int) -> int:
        """A keyed bijection on counter values (balanced Feistel network)."""
        left, right = value >> _HALF_BITS, value & _HALF_MASK
        for round_number in range(_FEISTEL_ROUNDS):
            digest = hashlib.blake2b(
                bytes((round_number,)) + right.to_bytes(2, "big"), digest_size=2, key=self._key
            ).digest()
            left, right = right, left ^ (int.from_bytes(digest, "big") & _HALF_MASK)
        return (left << _HALF_BITS) | right


def shard_prefix(shard_id: int) -> str:
    """The order id prefix of a process serving ``shard_id``: the id, then a random byte."""
    if not 1 <= shard_id <= MAX_SHARD_ID:
        raise ValueError(f"a shard id is between 1 and {MAX_SHARD_ID}, not {shard_id}")
    return f"{shard_id:0{_SHARD_DIGITS}x}{os.urandom(1).hex()}"


def shard_of_order_id(order_id: str) -> int | None:
    """The shard an order id names (made with ``shard_prefix``); None if it names none."""
    if len(order_id) != ORDER_ID_LENGTH or not set(order_id) <= _HEX:
        return None
    shard_id = int(order_id[TIME_DIGITS : TIME_DIGITS + _SHARD_DIGITS], 16)
    return shard_id or None
