"""The report cursor comes back from its checkpoint and the FIX store written after it."""

from __future__ import annotations

from pathlib import Path

from clients.fix.cursor import ReportCursor
from tests.support.fix_raw import encode


class FileStore:
    """Writes the files QuickFIX's FileStore writes: ``<prefix>header`` and ``body``."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.seq = 0

    def store(self, fields: list[tuple[int, str]]) -> None:
        self.seq += 1
        message = encode([(35, fields[0][1]), (34, str(self.seq)), *fields[1:]])
        body = self.prefix.with_name(self.prefix.name + "body")
        offset = body.stat().st_size if body.exists() else 0
        with body.open("ab") as out:
            out.write(message)
        with self.prefix.with_name(self.prefix.name + "header").open("a") as out:
            out.write(f"{self.seq},{offset},{len(message)} ")

    def report(self, account: str, sequence: int) -> None:
        self.store([(35, "8"), (1, account), (37, "o"), (5001, str(sequence))])


def paths(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "cursor.json", tmp_path / "FIX.4.4-OMS-C."


def test_the_store_written_after_the_checkpoint_moves_the_cursor(tmp_path: Path) -> None:
    checkpoint, prefix = paths(tmp_path)
    store = FileStore(prefix)
    cursor = ReportCursor(checkpoint, prefix)
    for sequence in (1, 2):
        store.report("ACC1", sequence)
        cursor.stored("ACC1", sequence)
    cursor.checkpoint()
    store.report("ACC1", 3)  # stored, then the gateway dies before the next checkpoint
    store.store([(35, "j"), (58, "a business reject")])
    store.report("ACC2", 7)

    recovered = ReportCursor.recover(checkpoint, prefix)
    assert (recovered.resume_after("ACC1"), recovered.resume_after("ACC2")) == (3, 7)
    assert recovered.accounts() == ["ACC1", "ACC2"]


def test_without_a_checkpoint_the_whole_store_is_read(tmp_path: Path) -> None:
    checkpoint, prefix = paths(tmp_path)
    store = FileStore(prefix)
    for sequence in (5, 6):
        store.report("ACC1", sequence)
    assert ReportCursor.recover(checkpoint, prefix).resume_after("ACC1") == 6


def test_a_store_reset_after_the_checkpoint_is_read_from_its_start(tmp_path: Path) -> None:
    checkpoint, prefix = paths(tmp_path)
    store = FileStore(prefix)
    cursor = ReportCursor(checkpoint, prefix)
    for sequence in (1, 2, 3):
        store.report("ACC1", sequence)
        cursor.stored("ACC1", sequence)
    cursor.checkpoint()
    for suffix in ("header", "body"):
        prefix.with_name(prefix.name + suffix).unlink()  # ResetSeqNumFlag: new files
    store = FileStore(prefix)
    store.report("ACC1", 4)
    assert ReportCursor.recover(checkpoint, prefix).resume_after("ACC1") == 4


def test_a_report_queued_but_not_stored_is_sent_again(tmp_path: Path) -> None:
    cursor = ReportCursor(*paths(tmp_path))
    cursor.stored("ACC1", 4)
    cursor.queued("ACC1", 6)
    assert cursor.resume_after("ACC1") == 6
    cursor.rewind("ACC1")
    assert cursor.resume_after("ACC1") == 4
