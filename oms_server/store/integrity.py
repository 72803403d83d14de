"""The store's integrity, checked before the engine starts: a SQLite file with a corrupt
page is refused at start-up with a message naming the file, instead of failing later in
a client's call."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from oms_server.domain.errors import UnavailableError
from oms_server.store.database import sqlite_file_path

#: Problems quick_check reports at most (the first few name the damage well enough).
MAX_REPORTED_PROBLEMS = 5


class StoreCorruptError(UnavailableError):
    """The store failed its integrity check: the OMS will not start on it."""

    reason = "STORE_CORRUPT"


def check_store_integrity(db_url: str) -> None:
    """Run SQLite's ``PRAGMA quick_check`` on the store's file, if it is one and exists.

    Raises StoreCorruptError naming the file and the first problems found.
    """
    path = sqlite_file_path(db_url)
    if path is None or not Path(path).exists():
        return
    problems = _quick_check(path)
    if problems:
        raise StoreCorruptError(
            f"the SQLite store {path} is corrupt (PRAGMA quick_check): {'; '.join(problems)};"
            " restore it from a backup before starting the OMS"
        )


def _quick_check(path: str) -> list[str]:
    """quick_check's problems (none: an empty list); a file SQLite cannot read is one."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = connection.execute(f"PRAGMA quick_check({MAX_REPORTED_PROBLEMS})").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    problems = [str(row[0]) for row in rows]
    return [] if problems == ["ok"] else problems
