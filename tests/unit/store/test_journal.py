"""The journal batch: the latest row per key, and deletes ordered before inserts."""

from __future__ import annotations

from oms_server.store.journal import JournalBatch


def test_a_row_new_in_the_batch_stays_new_through_later_updates() -> None:
    batch = JournalBatch()
    batch.upsert("orders", "o1", {"v": 1}, is_new=True)
    batch.upsert("orders", "o1", {"v": 2}, is_new=False)
    assert batch.upserts["orders"]["o1"] == (True, {"v": 2})


def test_a_delete_drops_a_pending_write_of_the_row() -> None:
    batch = JournalBatch()
    batch.upsert("halts", "*", {"scope": "*"}, is_new=False)
    batch.delete("halts", "*")
    assert batch.upserts["halts"] == {}
    assert batch.deletes["halts"] == {"*"}
    assert batch


def test_a_row_written_after_its_delete_is_inserted_anew() -> None:
    batch = JournalBatch()
    batch.delete("halts", "*")
    batch.upsert("halts", "*", {"scope": "*"}, is_new=False)
    assert batch.upserts["halts"]["*"] == (True, {"scope": "*"})
