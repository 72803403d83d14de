"""The journal batch: every write of one group commit, gathered by the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

Row = dict[str, Any]


class TableWrites(NamedTuple):
    """One table's share of a batch: keys to delete, rows to insert, rows to update."""

    deleted: set[Any]
    inserted: list[Row]
    updated: list[Row]


@dataclass(slots=True)
class JournalBatch:
    """Rows to write in one transaction.

    ``appends`` are append-only rows (events, executions). ``upserts`` hold the
    latest snapshot of each changed row keyed by primary key, and whether it is new.
    """

    appends: dict[str, list[Row]] = field(default_factory=dict)
    upserts: dict[str, dict[Any, tuple[bool, Row]]] = field(default_factory=dict)
    #: Primary keys of rows to delete; deletes run before the inserts of the same table.
    deletes: dict[str, set[Any]] = field(default_factory=dict)

    def append(self, table: str, row: Row) -> None:
        self.appends.setdefault(table, []).append(row)

    def upsert(self, table: str, key: Any, row: Row, *, is_new: bool) -> None:
        """Record the latest row for ``key``; a row new in this batch stays new."""
        rows = self.upserts.setdefault(table, {})
        previous = rows.get(key)
        deleted_first = key in self.deletes.get(table, ())
        rows[key] = (is_new or deleted_first or (previous is not None and previous[0]), row)

    def delete(self, table: str, key: Any) -> None:
        """Remove the row with primary key ``key`` (and forget a pending write of it)."""
        self.upserts.get(table, {}).pop(key, None)
        self.deletes.setdefault(table, set()).add(key)

    def writes_of(self, table: str) -> TableWrites:
        """What to do to ``table``, in order: delete these keys, insert, then update."""
        upserts = self.upserts.get(table, {})
        inserted = [row for is_new, row in upserts.values() if is_new]
        inserted += self.appends.get(table, ())
        updated = [row for is_new, row in upserts.values() if not is_new]
        return TableWrites(self.deletes.get(table, set()), inserted, updated)

    def __bool__(self) -> bool:
        return bool(self.appends) or bool(self.upserts) or bool(self.deletes)
