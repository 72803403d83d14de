"""Order ids: unique in a process, and in a shard naming the shard."""

from __future__ import annotations

import pytest

from oms_server.domain.order_ids import (
    ORDER_ID_LENGTH,
    OrderIds,
    shard_of_order_id,
    shard_prefix,
)


def test_ids_of_one_process_are_unique_even_within_one_nanosecond() -> None:
    ids = OrderIds()
    made = {ids.next(1_700_000_000_000_000_000) for _ in range(1000)}
    assert len(made) == 1000
    assert all(len(i) == ORDER_ID_LENGTH for i in made)


@pytest.mark.parametrize("shard_id", [1, 2, 17, 255])
def test_a_shard_order_id_names_its_shard(shard_id: int) -> None:
    order_id = OrderIds(shard_prefix(shard_id)).next(1_700_000_000_000_000_000)
    assert shard_of_order_id(order_id) == shard_id


@pytest.mark.parametrize("order_id", ["", "not-an-id", "x" * 26, "0" * 26, "18ea0c23"])
def test_an_id_that_names_no_shard(order_id: str) -> None:
    assert shard_of_order_id(order_id) is None


@pytest.mark.parametrize("shard_id", [0, 256])
def test_shard_ids_fit_two_hex_digits(shard_id: int) -> None:
    with pytest.raises(ValueError):
        shard_prefix(shard_id)


def test_a_malformed_prefix_is_refused() -> None:
    with pytest.raises(ValueError):
        OrderIds("xyz1")
