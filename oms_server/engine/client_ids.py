"""Idempotency keys in bounded memory: recent keys exactly, every older one in a filter.

An order's key is (account_id, client_order_id), and it must stay unique for as long as
the order is stored (DESIGN.md, invariant 2). Holding every key ever seen in a dict grows
without end (about 250 bytes a key). ``ClientOrderIds`` keeps the newest keys with their
order ids, and folds older ones into a Bloom filter of about 2 bytes a key. A key the
filter may hold is looked up in the store by the caller; a key it does not hold is new
for certain, so fresh orders (the common case) never wait for a read.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterable, Iterator

#: Keys kept exactly (the newest); older ones are evicted into the filter.
DEFAULT_KEPT = 10_000
#: Evicting drops this share of the kept keys at once, so evictions are rare events.
EVICT_FRACTION = 0.1
#: Keys the filter's first stage holds; each later stage holds twice the one before.
FIRST_STAGE_KEYS = 65_536
#: False positives per stage of the filter (each costs one store read, never a wrong answer).
FALSE_POSITIVE_RATE = 0.001

Key = tuple[str, str]


class ClientOrderIds:
    """(account_id, client_order_id) -> order_id for recent keys, and a filter of the rest.

    ``evictions`` counts eviction passes, so a caller that looked a key up in the store
    can tell whether keys moved into the filter since (and must look again).
    """

    def __init__(self, kept: int = DEFAULT_KEPT) -> None:
        if kept < 1:
            raise ValueError("kept must be at least 1")
        self._kept = kept
        self._recent: dict[Key, str] = {}
        self._older = KeyFilter()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._recent)

    def get(self, key: Key) -> str | None:
        """The order id of a recent key, or None (the key may still be older: see below)."""
        return self._recent.get(key)

    def add(self, key: Key, order_id: str) -> None:
        """Remember ``key`` as ``order_id``'s; the oldest keys go to the filter when full."""
        self._recent[key] = order_id
        if len(self._recent) > self._kept:
            self._evict()

    def discard(self, key: Key) -> None:
        """Forget a recent key (a withdrawn replacement). A filtered key stays filtered,
        which only costs a store read if it comes again."""
        self._recent.pop(key, None)

    @property
    def older_count(self) -> int:
        """Keys evicted into the filter."""
        return self._older.count

    @property
    def filter_bytes(self) -> int:
        return self._older.size_bytes

    def may_be_older(self, key: Key) -> bool:
        """False when ``key`` was certainly never evicted; True when the store must tell."""
        return self._older.count > 0 and _filter_key(key) in self._older

    def load(self, keys_oldest_first: Iterable[tuple[str, str, str]]) -> None:
        """Fill from stored (account_id, client_order_id, order_id) rows, oldest first."""
        for account_id, client_order_id, order_id in keys_oldest_first:
            self.add((account_id, client_order_id), order_id)

    def _evict(self) -> None:
        drop = max(1, int(self._kept * EVICT_FRACTION)) + len(self._recent) - self._kept
        oldest = list(itertools.islice(self._recent, drop))  # dicts keep insertion order
        for key in oldest:
            del self._recent[key]
            self._older.add(_filter_key(key))
        self.evictions += 1


def _filter_key(key: Key) -> bytes:
    account_id, client_order_id = key
    return f"{account_id}\x00{client_order_id}".encode()


class KeyFilter:
    """A scalable Bloom filter of byte strings: never a false negative.

    It grows by stages: when a stage is full, a new one twice its size takes the next
    keys, so the rate of false positives stays near ``stages x FALSE_POSITIVE_RATE``.
    """

    def __init__(self, first_stage_keys: int = FIRST_STAGE_KEYS) -> None:
        self._next_capacity = first_stage_keys
        self._stages: list[_Stage] = []
        self.count = 0

    def add(self, item: bytes) -> None:
        if not self._stages or self._stages[-1].full:
            self._stages.append(_Stage(self._next_capacity, FALSE_POSITIVE_RATE))
            self._next_capacity *= 2
        self._stages[-1].add(_hashes(item))
        self.count += 1

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, bytes):
            return False
        hashes = _hashes(item)
        return any(stage.holds(hashes) for stage in self._stages)

    @property
    def size_bytes(self) -> int:
        return sum(stage.size_bytes for stage in self._stages)


def _hashes(item: bytes) -> tuple[int, int]:
    digest = hashlib.blake2b(item, digest_size=16).digest()
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little") | 1


class _Stage:
    """One Bloom filter sized for ``capacity`` keys at ``error_rate`` false positives."""

    def __init__(self, capacity: int, error_rate: float) -> None:
        bits = math.ceil(-capacity * math.log(error_rate) / math.log(2) ** 2)
        self._bits = bits
        self._probes = max(1, round(bits / capacity * math.log(2)))
        self._array = bytearray((bits + 7) // 8)
        self._capacity = capacity
        self._count = 0

    @property
    def full(self) -> bool:
        return self._count >= self._capacity

    @property
    def size_bytes(self) -> int:
        return len(self._array)

    def add(self, hashes: tuple[int, int]) -> None:
        array = self._array
        for position in self._positions(hashes):
            array[position >> 3] |= 1 << (position & 7)
        self._count += 1

    def holds(self, hashes: tuple[int, int]) -> bool:
        """True when every probe's bit is set; stops at the first clear one (a new key,
        the usual case on the submit path, is told apart in a probe or two)."""
        array = self._array
        return all(array[p >> 3] & (1 << (p & 7)) for p in self._positions(hashes))

    def _positions(self, hashes: tuple[int, int]) -> Iterator[int]:
        first, step = hashes
        bits = self._bits
        return ((first + i * step) % bits for i in range(self._probes))
