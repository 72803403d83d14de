"""Account shards: accounts hash into a fixed number of partitions, partitions go to shards.

The hash is BLAKE2b of the account id (never Python's ``hash``, which changes per
process), so every process of a deployment, today and after any restart, sends an
account to the same partition. The number of partitions is fixed for the life of a
deployment; the assignment of partitions to shards is configuration (``ShardMap``):
by default partition ``p`` goes to shard ``p % shards + 1``. Shard ids start at 1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

#: Partitions accounts hash into (a deployment keeps its number for good).
DEFAULT_PARTITIONS = 256
_HASH_BYTES = 8


def partition_of(account_id: str, partitions: int = DEFAULT_PARTITIONS) -> int:
    """The partition of ``account_id``, 0 to ``partitions - 1``, the same in every process."""
    digest = hashlib.blake2b(account_id.encode(), digest_size=_HASH_BYTES).digest()
    return int.from_bytes(digest, "big") % partitions


@dataclass(frozen=True, slots=True)
class ShardMap:
    """Which shard owns each partition: ``assignment[p]`` is the shard id of partition p."""

    assignment: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.assignment:
            raise ValueError("a shard map needs at least one partition")
        shards = set(self.assignment)
        if shards != set(range(1, len(shards) + 1)):
            raise ValueError(
                f"shard ids must be 1 to N, each owning a partition; got {sorted(shards)}"
            )

    @classmethod
    def even(cls, shards: int, partitions: int = DEFAULT_PARTITIONS) -> ShardMap:
        """``partitions`` dealt round-robin to shards 1..``shards``."""
        if not 1 <= shards <= partitions:
            raise ValueError(f"shards must be between 1 and {partitions}, not {shards}")
        return cls(tuple(p % shards + 1 for p in range(partitions)))

    @classmethod
    def of(cls, assignment: Sequence[int]) -> ShardMap:
        return cls(tuple(assignment))

    @property
    def partitions(self) -> int:
        return len(self.assignment)

    @property
    def shard_ids(self) -> range:
        return range(1, max(self.assignment) + 1)

    def shard_of(self, account_id: str) -> int:
        """The shard that owns ``account_id``."""
        return self.assignment[partition_of(account_id, self.partitions)]

    def partitions_of(self, shard_id: int) -> list[int]:
        """The partitions ``shard_id`` owns."""
        return [p for p, owner in enumerate(self.assignment) if owner == shard_id]


class ShardState(StrEnum):
    """A shard as operators see it; values mirror the oms.v1 SHARD_STATE_* suffixes."""

    #: An owner serves it.
    ACTIVE = "ACTIVE"
    #: An owner took its lease and is rebuilding and reconciling; it answers nothing yet.
    RECOVERING = "RECOVERING"
    #: No owner.
    DOWN = "DOWN"


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """Who owns a shard: the owner's and the standby's process ids (0: none)."""

    shard_id: int
    state: ShardState
    owner_pid: int = 0
    standby_pid: int = 0
    account_count: int = 0
