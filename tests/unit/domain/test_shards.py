"""Shard maps: checked at construction, dealt evenly, partitions listed per shard."""

from __future__ import annotations

import pytest

from oms_server.domain.shards import ShardMap, partition_of


def test_even_map_deals_partitions_round_robin() -> None:
    shard_map = ShardMap.even(3, partitions=7)
    assert shard_map.assignment == (1, 2, 3, 1, 2, 3, 1)
    assert shard_map.partitions_of(1) == [0, 3, 6]
    assert list(shard_map.shard_ids) == [1, 2, 3]


def test_the_partition_hash_is_fixed() -> None:
    # BLAKE2b of the id: a change here would move every account of every deployment.
    assert [partition_of(a) for a in ("ACC1", "ACC2", "DEMO")] == [198, 96, 74]


@pytest.mark.parametrize("assignment", [(), (2, 3), (1, 3), (0, 1)])
def test_a_map_whose_shards_are_not_1_to_n_is_refused(assignment: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        ShardMap.of(assignment)


@pytest.mark.parametrize("shards", [0, 257])
def test_even_needs_between_one_shard_and_one_per_partition(shards: int) -> None:
    with pytest.raises(ValueError):
        ShardMap.even(shards)
