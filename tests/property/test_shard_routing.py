"""Routing accounts to shards is total and stable.

Every account id maps to exactly one shard of the map, the shard owning its partition;
and the same one in another process with another hash seed (what a restart or a second
front would be), because the hash is BLAKE2b, not Python's ``hash``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from oms_server.domain.shards import DEFAULT_PARTITIONS, ShardMap, partition_of

account_ids = st.text(min_size=1, max_size=64)
shard_counts = st.integers(min_value=1, max_value=16)

#: Printed by a fresh interpreter: the shard of each account id read from stdin.
_OTHER_PROCESS = (
    "import json, sys\n"
    "from oms_server.domain.shards import ShardMap\n"
    "shards, ids = json.load(sys.stdin)\n"
    "print(json.dumps([ShardMap.even(shards).shard_of(i) for i in ids]))\n"
)


@given(account_ids, shard_counts)
def test_every_account_has_exactly_one_shard_which_owns_its_partition(
    account_id: str, shards: int
) -> None:
    shard_map = ShardMap.even(shards)
    shard = shard_map.shard_of(account_id)
    owners = [
        s for s in shard_map.shard_ids if partition_of(account_id) in shard_map.partitions_of(s)
    ]
    assert owners == [shard]
    assert 1 <= shard <= shards


@given(account_ids, shard_counts)
def test_a_new_map_of_the_same_configuration_routes_the_same(account_id: str, shards: int) -> None:
    assert ShardMap.even(shards).shard_of(account_id) == ShardMap.even(shards).shard_of(account_id)


@settings(max_examples=5, deadline=None)
@given(st.lists(account_ids, min_size=1, max_size=200, unique=True), shard_counts)
def test_another_process_with_another_hash_seed_routes_the_same(
    ids: list[str], shards: int
) -> None:
    here = [ShardMap.even(shards).shard_of(i) for i in ids]
    env = {**os.environ, "PYTHONHASHSEED": str(len(ids) * 7919 + shards)}
    there = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS],
        input=json.dumps([shards, ids]),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=30,
    )
    assert json.loads(there.stdout) == here


def test_accounts_spread_over_every_shard() -> None:
    shard_map = ShardMap.even(4)
    counts = {s: 0 for s in shard_map.shard_ids}
    for n in range(4000):
        counts[shard_map.shard_of(f"ACC{n}")] += 1
    assert all(800 < c < 1200 for c in counts.values()), counts
    assert shard_map.partitions == DEFAULT_PARTITIONS
