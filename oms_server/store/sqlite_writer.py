"""Group commits on SQLite through the stdlib sqlite3 module, on one writer thread.

SQLAlchemy's per-statement work costs the event loop more than the rows themselves.
Here the event loop turns a batch into parameter lists for SQL text built once per
table, and hands them to a thread that owns a sqlite3 connection: one hand-off per
commit. The thread spends most of its time in fsync, with the GIL released.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import Dialect, Table

from oms_server.store.database import connect_sqlite
from oms_server.store.journal import JournalBatch
from oms_server.store.lease import FenceSql, lease_lost
from oms_server.store.statements import Step, TableStatements, batch_steps

#: Name of the writer thread.
THREAD_NAME = "sqlite-writer"

_Job = tuple[Callable[[Any], Any], Any, asyncio.AbstractEventLoop, "asyncio.Future[Any]"]
#: What one commit writes: its statements, and the lease token to check first (or None).
_Write = tuple[list[Step], int | None]


class WriterClosedError(RuntimeError):
    """The SQLite writer was closed; nothing more can be committed."""

    def __str__(self) -> str:
        return f"sqlite writer: {self.args[0]}"


class SqliteWriter:
    """One thread owning one sqlite3 connection; it writes each batch in one transaction."""

    def __init__(
        self, tables: Sequence[Table], dialect: Dialect, ignore_duplicates: Collection[str]
    ) -> None:
        self._tables = [
            TableStatements(t, dialect, ignore_duplicates=t.name in ignore_duplicates)
            for t in tables
        ]
        self._fence = FenceSql(dialect)
        self._connection: sqlite3.Connection | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=THREAD_NAME, daemon=True)
        self._closed = False
        self._thread.start()

    @classmethod
    async def open(
        cls,
        path: str,
        tables: Sequence[Table],
        dialect: Dialect,
        ignore_duplicates: Collection[str] = (),
    ) -> SqliteWriter:
        """Start the thread and connect to the database file at ``path``."""
        writer = cls(tables, dialect, ignore_duplicates)
        try:
            await writer._call(writer._connect, path)
        except BaseException:
            await writer.close()
            raise
        return writer

    async def commit(self, batch: JournalBatch, fence_token: int | None = None) -> None:
        """Write ``batch`` in one transaction; on any error nothing of it is stored.

        With a ``fence_token``, the transaction first checks the store's lease still has
        it (LeaseLostError otherwise). The rows become parameters here, on the event loop:
        that work holds the GIL in whichever thread does it, and here it costs no extra
        GIL hand-off. A commit whose caller is cancelled still finishes (or rolls back) in
        the thread.
        """
        steps = batch_steps(self._tables, batch)
        if steps:
            write: _Write = (steps, fence_token)
            await self._call(self._write, write)

    async def close(self) -> None:
        """Close the connection and end the thread (after any commit in flight)."""
        if self._closed:
            return
        try:
            await self._call(self._disconnect, None)
        finally:
            self._closed = True
            self._jobs.put(None)
            self._thread.join()

    async def _call(self, work: Callable[[Any], Any], arg: Any) -> Any:
        if self._closed:
            raise WriterClosedError("closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((work, arg, loop, future))
        return await future

    # -- the writer thread --------------------------------------------------------------

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            work, arg, loop, future = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = work(arg)
            except BaseException as exc:  # handed to the task awaiting this job
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, result, error)

    def _connect(self, path: str) -> None:
        self._connection = connect_sqlite(path)

    def _disconnect(self, _: None) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _write(self, write: _Write) -> None:
        steps, fence_token = write
        connection = self._connection
        if connection is None:
            raise WriterClosedError("not connected")
        connection.execute("BEGIN IMMEDIATE")
        try:
            if fence_token is not None:
                self._check_fence(connection, fence_token)
            for sql, params in steps:
                connection.executemany(sql, params)
            connection.execute("COMMIT")
        except BaseException:
            connection.rollback()
            raise

    def _check_fence(self, connection: sqlite3.Connection, token: int) -> None:
        """LeaseLostError unless the store's lease token is still ``token``."""
        if connection.execute(self._fence.fence, self._fence.fence_params(token)).rowcount != 1:
            raise lease_lost(token, connection.execute(self._fence.current).fetchone())


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
