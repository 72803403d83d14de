"""One owner per store: an exclusive lease, and a fencing token that every commit checks.

A process takes the store's lease before its engine starts and holds it until it stops:

- on a SQLite file, an OS lock (``flock``) on a lock file beside it (``oms.db.lock``)
  that names the holder; the OS lets go of it when the process dies, however it dies;
- on PostgreSQL, a session advisory lock, keyed by the database and schema, on a
  connection of its own; the holder is found through ``pg_locks``.

Taking the lease increments the ``token`` of the one ``store_lease`` row. Every journal
commit first updates that row where the token is still the one it took, in the same
transaction (``check_fence``; the SQLite writer thread runs ``FenceSql``): a process
whose lease was taken over commits nothing more, it gets LeaseLostError. In-memory SQLite
needs no lease: no other process can open it.

A process stopped with SIGSTOP keeps its OS lock: a standby that decides its owner is
gone (it stopped announcing itself, oms_server.shards) takes the token anyway
(``seize``), and the fence keeps the stopped owner from committing once it runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Dialect, bindparam, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from oms_server.domain.errors import UnavailableError
from oms_server.store.database import create_engine, parse_url, sqlite_file_path
from oms_server.store.schema import store_lease

log = logging.getLogger(__name__)

#: Seconds between attempts while ``acquire`` waits for a lease another process holds.
ACQUIRE_POLL_INTERVAL_S = 0.2
#: The lock file of a SQLite store is the database file's path with this suffix.
LOCK_FILE_SUFFIX = ".lock"
#: The one row of the store_lease table.
LEASE_ROW_ID = 1
#: PostgreSQL truncates an application_name to this many characters.
PG_APPLICATION_NAME_CHARS = 63


class StoreOwnedError(UnavailableError):
    """Another process holds the store's lease."""

    reason = "STORE_OWNED"


class LeaseLostError(UnavailableError):
    """The lease this process took was taken over: it may commit nothing more."""

    reason = "STORE_LEASE_LOST"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lease: ``who`` (e.g. "pid 1234 on host x"), since when, seen how."""

    who: str
    #: UTC, ISO 8601 to the second: 2026-12-03T11:00:00Z.
    since: str
    #: How the holder was found, beyond ``who`` (PostgreSQL: its backend and client).
    via: str = ""

    @classmethod
    def this_process(cls) -> Holder:
        return cls(f"pid {os.getpid()} on host {socket.gethostname()}", utc_text(time.time()))

    @classmethod
    def from_json(cls, text: str) -> Holder | None:
        """The holder a lock file or lease row names; None if it names none."""
        try:
            fields = json.loads(text)
            return cls(str(fields["who"]), str(fields["since"]))
        except (ValueError, TypeError, KeyError):
            return None

    def to_json(self) -> str:
        return json.dumps({"who": self.who, "since": self.since})

    def __str__(self) -> str:
        via = f" ({self.via})" if self.via else ""
        return f"{self.who}{via} since {self.since}"


class StoreLease(ABC):
    """The exclusive lease on one store. ``try_acquire`` or ``acquire``, then ``release``.

    While held, ``token`` is the fencing token it took; commits check it (``fence_token``).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.token: int | None = None

    @property
    def display_url(self) -> str:
        """The store's URL as printed: without its password."""
        return parse_url(self.url).render_as_string(hide_password=True)

    @property
    def held(self) -> bool:
        return self.token is not None

    def fence_token(self) -> int | None:
        """The token a commit must find in the store; LeaseLostError when not held.

        None for a store no other process can open (nothing to fence).
        """
        if self.token is None:
            raise LeaseLostError(f"this OMS does not hold the lease on {self.display_url}")
        return self.token

    async def try_acquire(self) -> bool:
        """Take the lease if no other process holds it; True once held."""
        if self.token is not None:
            return True
        holder = Holder.this_process()
        if not await self._lock(holder):
            return False
        try:
            self.token = await self._take_token(holder)
        except BaseException:
            await self._unlock()
            raise
        log.info("took the lease on %s (token %d)", self.display_url, self.token)
        return True

    async def acquire(self, timeout_s: float | None = None) -> None:
        """Take the lease, waiting up to ``timeout_s`` for its holder to let go.

        ``timeout_s`` 0 tries once; None waits as long as it takes (a standby). Raises
        StoreOwnedError, naming the holder, when another process still holds it.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not await self.try_acquire():
            left_s = None if deadline is None else deadline - time.monotonic()
            if left_s is not None and left_s <= 0:
                raise await self.refusal()
            await asyncio.sleep(
                ACQUIRE_POLL_INTERVAL_S if left_s is None else min(ACQUIRE_POLL_INTERVAL_S, left_s)
            )

    async def seize(self) -> None:
        """Take the token without the lock: a standby deposing an owner that went silent
        but still holds the lock (stopped, not dead). The deposed owner's next commit
        fails its fence. The lock stays where it is (freed when the deposed owner goes).
        """
        if self.token is not None:
            return
        self.token = await self._take_token(Holder.this_process())
        log.warning("seized the lease on %s (token %d)", self.display_url, self.token)

    async def refusal(self) -> StoreOwnedError:
        """The error telling that another process owns this store, and which."""
        holder = await self.holder()
        owner = "another process" if holder is None else str(holder)
        return StoreOwnedError(f"store {self.display_url} is owned by {owner}; stop that OMS first")

    async def release(self) -> None:
        """Let go of the lease (if held) and of everything held for it; it may be taken
        again later."""
        self.token = None
        await self._unlock()

    @abstractmethod
    async def holder(self) -> Holder | None:
        """Who holds the lease now, as far as can be told."""

    @abstractmethod
    async def _lock(self, holder: Holder) -> bool:
        """Take the exclusive lock without waiting; False if another process holds it."""

    @abstractmethod
    async def _unlock(self) -> None:
        """Let go of the lock and its resources (safe to call when not locked)."""

    @abstractmethod
    async def _take_token(self, holder: Holder) -> int:
        """Increment the store's token (the lock is held) and return it."""


def open_lease(url: str) -> StoreLease:
    """The lease for the store at ``url`` (not acquired yet)."""
    parsed = parse_url(url)
    path = sqlite_file_path(url)
    if path is not None:
        return SqliteLease(url, path)
    if parsed.get_backend_name() == "postgresql":
        return PostgresLease(url)
    return UnsharedLease(url)


class UnsharedLease(StoreLease):
    """The lease of a store only this process can open (in-memory SQLite): always free."""

    def fence_token(self) -> int | None:
        return None

    async def holder(self) -> Holder | None:
        return None

    async def _lock(self, holder: Holder) -> bool:
        return True

    async def _unlock(self) -> None:
        return None

    async def _take_token(self, holder: Holder) -> int:
        return 0


class SqliteLease(StoreLease):
    """A ``flock`` on ``<database file>.lock``, which holds the holder's pid, host and start."""

    def __init__(self, url: str, path: str) -> None:
        super().__init__(url)
        self.lock_path = Path(path + LOCK_FILE_SUFFIX)
        self._fd: int | None = None

    async def holder(self) -> Holder | None:
        try:
            return Holder.from_json(self.lock_path.read_text())
        except OSError:
            return None

    async def _lock(self, holder: Holder) -> bool:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.to_json().encode(), 0)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    async def _unlock(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # names nobody once free
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    async def _take_token(self, holder: Holder) -> int:
        engine = create_engine(self.url)
        try:
            async with engine.begin() as conn:
                return await take_token(conn, holder)
        finally:
            await engine.dispose()


class PostgresLease(StoreLease):
    """A session advisory lock, on a connection held for the lease's lifetime.

    The key is derived from the database and schema names, so every process that opens
    the same store asks for the same lock. The connection carries the holder in its
    application_name, which ``pg_stat_activity`` shows to a refused process.
    """

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None
        self._key: int | None = None
        self._locked = False

    async def holder(self) -> Holder | None:
        conn, key = await self._connection()
        high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
        row = (await conn.execute(_PG_HOLDER, {"high": high, "low": low})).mappings().first()
        await conn.commit()
        if row is None:
            return None
        name = str(row["application_name"] or "")
        who = (
            name.removeprefix(_APP_PREFIX)
            if name.startswith(_APP_PREFIX)
            else (f"application {name!r}" if name else "a session")
        )
        client = row["client_addr"] or "a local socket"
        recorded = await self._recorded_holder(conn)
        if recorded is not None and recorded.who == who:
            since = recorded.since  # when it took the lease
        else:
            since = utc_text(row["backend_start"].timestamp())  # when its session began
        return Holder(who, since, f"PostgreSQL backend {row['pid']} from {client}")

    @staticmethod
    async def _recorded_holder(conn: AsyncConnection) -> Holder | None:
        """The holder the store_lease row names (None if there is no row or no table)."""
        try:
            row = (await conn.execute(_CURRENT)).first()
            await conn.commit()
        except DBAPIError:
            await conn.rollback()
            return None
        return None if row is None else Holder.from_json(str(row[1]))

    async def _lock(self, holder: Holder) -> bool:
        conn, key = await self._connection(holder)
        locked = (await conn.execute(select(func.pg_try_advisory_lock(key)))).scalar_one()
        await conn.commit()
        self._locked = bool(locked)
        return self._locked

    async def _unlock(self) -> None:
        conn, engine = self._conn, self._engine
        self._conn = self._engine = None
        try:
            if conn is not None:
                if self._locked:
                    with contextlib.suppress(DBAPIError, OSError):  # gone: the lock went too
                        await conn.execute(select(func.pg_advisory_unlock(self._key)))
                        await conn.commit()
                await conn.close()
        finally:
            self._locked = False
            if engine is not None:
                await engine.dispose()

    async def _take_token(self, holder: Holder) -> int:
        conn, _ = await self._connection()
        try:
            token = await take_token(conn, holder)
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
        return token

    async def _connection(self, holder: Holder | None = None) -> tuple[AsyncConnection, int]:
        """The lease's own connection (opened on first use) and the lock's key."""
        if self._conn is None or self._key is None:
            name = _APP_PREFIX + (holder or Holder.this_process()).who
            engine = create_async_engine(
                self.url,
                poolclass=NullPool,
                connect_args={
                    "server_settings": {"application_name": name[:PG_APPLICATION_NAME_CHARS]}
                },
            )
            try:
                conn = await engine.connect()
                names = (
                    await conn.execute(select(func.current_database(), func.current_schema()))
                ).one()
                await conn.commit()
            except BaseException:
                await engine.dispose()
                raise
            self._engine, self._conn = engine, conn
            self._key = lock_key(f"oms-store:{names[0]}:{names[1]}")
        return self._conn, self._key


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name`` (the same in every process)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def take_token(conn: AsyncConnection, holder: Holder) -> int:
    """Increment the store's lease token (making the table and row if missing); the new one.

    Runs in the caller's transaction, while the caller holds the lock.
    """
    await conn.run_sync(lambda sync: store_lease.create(sync, checkfirst=True))
    row = store_lease.c
    taken = {"holder": holder.to_json(), "acquired_ns": time.time_ns()}
    bumped = update(store_lease).where(row.lease_id == LEASE_ROW_ID)
    result = await conn.execute(bumped.values(token=row.token + 1, **taken).returning(row.token))
    token = result.scalar_one_or_none()
    if token is None:
        first = {"lease_id": LEASE_ROW_ID, "token": 1, "committed_ns": 0, **taken}
        await conn.execute(insert(store_lease).values(**first))
        token = 1
    return int(token)


# -- the fence every commit runs ------------------------------------------------------


def fence_statement() -> Any:
    """``UPDATE store_lease SET committed_ns = :fence_ns WHERE token = :fence_token``:
    one row while the lease is still ours, none once another process took it."""
    return (
        update(store_lease)
        .where(store_lease.c.token == bindparam("fence_token"))
        .values(committed_ns=bindparam("fence_ns"))
    )


def current_lease_statement() -> Any:
    """The store's token and holder now (read when the fence failed, to say who has it)."""
    return select(store_lease.c.token, store_lease.c.holder)


async def check_fence(conn: AsyncConnection, token: int) -> None:
    """First statement of a commit: LeaseLostError (and the transaction rolls back) unless
    the store's token is still ``token``."""
    result = await conn.execute(_FENCE, {"fence_token": token, "fence_ns": time.time_ns()})
    if result.rowcount != 1:
        current = (await conn.execute(_CURRENT)).first()
        raise lease_lost(token, None if current is None else tuple(current))


class FenceSql:
    """The fence as SQL text for a DB-API connection (the SQLite writer thread)."""

    def __init__(self, dialect: Dialect) -> None:
        fence = fence_statement().compile(dialect=dialect)
        self.fence = str(fence)
        self._names: Sequence[str] = fence.positiontup or ()
        self.current = str(current_lease_statement().compile(dialect=dialect))

    def fence_params(self, token: int) -> list[Any]:
        values: Mapping[str, int] = {"fence_token": token, "fence_ns": time.time_ns()}
        return [values[name] for name in self._names]


def lease_lost(token: int, current: tuple[Any, ...] | None) -> LeaseLostError:
    """The error of a commit whose fence failed; ``current`` is the store's (token, holder)."""
    if current is None:
        now = "the store has no lease row"
    else:
        holder = Holder.from_json(str(current[1]))
        now = f"the store has token {current[0]}" + (f", taken by {holder}" if holder else "")
    return LeaseLostError(
        f"the store lease was taken over (this OMS holds token {token}, {now}); "
        "nothing of this batch was stored"
    )


def utc_text(epoch_s: float) -> str:
    """``epoch_s`` as UTC ISO 8601 to the second: 2026-12-03T11:00:00Z."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_APP_PREFIX = "oms "
_FENCE = fence_statement()
_CURRENT = current_lease_statement()
_PG_HOLDER = text(
    """
    SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.backend_start
    FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = CAST(:high AS oid) AND l.objid = CAST(:low AS oid)
    """
)
