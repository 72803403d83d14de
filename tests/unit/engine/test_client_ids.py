"""The bounded idempotency-key index: exact recent keys, a filter of older ones."""

from __future__ import annotations

import random

import pytest

from oms_server.engine.client_ids import (
    FALSE_POSITIVE_RATE,
    ClientOrderIds,
    KeyFilter,
)


def test_the_filter_never_forgets_a_key_across_its_growth() -> None:
    keys = [f"acct\x00order-{i}".encode() for i in range(20_000)]
    keys_filter = KeyFilter(first_stage_keys=1_000)  # grows through several stages
    for key in keys:
        keys_filter.add(key)
    assert all(key in keys_filter for key in keys)
    assert keys_filter.count == len(keys)


def test_the_filter_rarely_holds_a_key_it_was_never_given() -> None:
    keys_filter = KeyFilter(first_stage_keys=1_000)
    for i in range(20_000):
        keys_filter.add(f"given-{i}".encode())
    rng = random.Random(7)
    probes = [f"absent-{rng.getrandbits(64)}".encode() for _ in range(50_000)]
    false_positives = sum(1 for p in probes if p in keys_filter)
    stages = 5  # 1k + 2k + 4k + 8k + 16k holds 20k keys
    assert false_positives / len(probes) < 2 * stages * FALSE_POSITIVE_RATE


def test_the_filter_costs_a_few_bytes_a_key() -> None:
    keys_filter = KeyFilter()
    for i in range(100_000):
        keys_filter.add(f"k{i}".encode())
    assert keys_filter.size_bytes / keys_filter.count < 4


def test_recent_keys_are_exact_and_older_ones_move_to_the_filter() -> None:
    ids = ClientOrderIds(kept=100)
    assert not ids.may_be_older(("A", "c0"))
    for i in range(101):
        ids.add(("A", f"c{i}"), f"o{i}")
    assert ids.evictions == 1
    assert len(ids) <= 100
    assert ids.get(("A", "c0")) is None
    assert ids.may_be_older(("A", "c0"))
    assert ids.get(("A", "c100")) == "o100"
    assert not ids.may_be_older(("B", "c0"))  # another account's key is another key


def test_evictions_come_in_passes_and_memory_stays_bounded() -> None:
    ids = ClientOrderIds(kept=1_000)
    for i in range(50_000):
        ids.add(("A", f"c{i}"), f"o{i}")
    assert len(ids) <= 1_000
    assert ids.evictions < 50_000 / 100  # whole slices at a time, not one key per add
    assert all(ids.may_be_older(("A", f"c{i}")) for i in range(0, 49_000, 97))


def test_loading_keeps_the_newest_keys_exactly() -> None:
    ids = ClientOrderIds(kept=10)
    ids.load(("A", f"c{i}", f"o{i}") for i in range(30))
    assert ids.get(("A", "c29")) == "o29"
    assert ids.get(("A", "c0")) is None and ids.may_be_older(("A", "c0"))


def test_a_discarded_key_is_forgotten() -> None:
    ids = ClientOrderIds(kept=10)
    ids.add(("A", "r1"), "o1")
    ids.discard(("A", "r1"))
    assert ids.get(("A", "r1")) is None
    assert not ids.may_be_older(("A", "r1"))


def test_at_least_one_key_is_kept() -> None:
    with pytest.raises(ValueError, match="kept"):
        ClientOrderIds(kept=0)
