"""The store: one group commit per batch, and the reads the engine and API need."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oms_server.domain.accounts import Account
from oms_server.domain.child import ChildOrder, ChildState
from oms_server.domain.enums import TERMINAL_STATES, OrderState
from oms_server.domain.executions import Execution
from oms_server.domain.order import Order
from oms_server.domain.reports import ExecutionReport
from oms_server.engine.ports import ChangeSet, Halt
from oms_server.store import schema
from oms_server.store.changes import encode_changes, row_to_halt, rows_to_accounts
from oms_server.store.database import create_engine, create_schema, sqlite_file_path
from oms_server.store.journal import JournalBatch, Row
from oms_server.store.lease import StoreLease, check_fence
from oms_server.store.rows import row_to_child, row_to_execution, row_to_order, row_to_report
from oms_server.store.sqlite_writer import SqliteWriter

#: Tables in the order they are written within a commit.
WRITE_ORDER: tuple[Table, ...] = (
    schema.accounts,
    schema.orders,
    schema.child_orders,
    schema.order_events,
    schema.executions,
    schema.positions,
    schema.halts,
)
_TABLES = {table.name: table for table in WRITE_ORDER}
#: Tables of facts keyed by their primary key (a venue report by (venue, exec_id)):
#: storing one twice is a no-op.
IGNORE_DUPLICATES = frozenset({schema.executions.name})
#: Columns of a fill's TRADE event that the fills list shows with the venue's report.
_FILL_EVENT = ("sequence", "account_id", "order_id", "client_order_id", "symbol", "side")
#: Rows per read when start-up walks every idempotency key.
CLIENT_IDS_CHUNK = 50_000


class Store:
    """Durable journal of orders, events, child orders and executions.

    Reads go through the SQLAlchemy async ``engine``. Commits do too, unless a
    ``writer`` is given: on a SQLite file, a stdlib sqlite3 thread writes them. With a
    ``lease``, every commit checks its fencing token in the same transaction: once the
    lease is lost (or released), nothing more is committed.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        writer: SqliteWriter | None = None,
        *,
        lease: StoreLease | None = None,
    ) -> None:
        self.engine = engine
        self._writer = writer
        self._lease = lease
        self._updates = {t.name: _update_statement(t) for t in WRITE_ORDER}
        self._deletes = {t.name: _delete_statement(t) for t in WRITE_ORDER}
        self._inserts = {t.name: t.insert() for t in WRITE_ORDER}
        for name in IGNORE_DUPLICATES:
            self._inserts[name] = _insert_ignoring_duplicates(_TABLES[name], self.dialect)

    @classmethod
    async def open(cls, url: str, *, lease: StoreLease | None = None) -> Store:
        """Connect to ``url`` and create the schema if needed; commits check ``lease``."""
        engine = create_engine(url)
        try:
            await create_schema(engine)
            writer = await _open_writer(url, engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, writer, lease=lease)

    async def close(self) -> None:
        try:
            if self._writer is not None:
                await self._writer.close()
        finally:
            await self.engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def seal(self, changes: ChangeSet) -> JournalBatch:
        """Encode an engine change set as rows, now (see store.changes)."""
        return encode_changes(changes)

    async def commit(self, batch: JournalBatch) -> None:
        """Write every row of ``batch`` in one transaction (LeaseLostError, and nothing
        stored, if this store's lease was taken over)."""
        fence_token = None if self._lease is None else self._lease.fence_token()
        if self._writer is not None:
            await self._writer.commit(batch, fence_token)
            return
        async with self.engine.begin() as conn:
            if fence_token is not None:
                await check_fence(conn, fence_token)
            for table in WRITE_ORDER:
                await self._write_table(conn, table, batch)

    async def _write_table(self, conn: AsyncConnection, table: Table, batch: JournalBatch) -> None:
        writes = batch.writes_of(table.name)
        if writes.deleted:
            keys = [_key_params(table, k) for k in writes.deleted]
            await conn.execute(self._deletes[table.name], keys)
        if writes.inserted:
            await conn.execute(self._inserts[table.name], writes.inserted)
        if writes.updated:
            rows = [_with_key_params(table, r) for r in writes.updated]
            await conn.execute(self._updates[table.name], rows)

    # -- start-up reads -----------------------------------------------------------------

    async def load_accounts(self) -> list[Account]:
        """Every account with its positions."""
        return rows_to_accounts(await self.load_rows("accounts"), await self.load_rows("positions"))

    async def load_halts(self) -> list[Halt]:
        return [row_to_halt(row) for row in await self.load_rows("halts")]

    async def load_working_orders(self) -> list[Order]:
        """Every order not in a terminal state."""
        terminal = [s.value for s in TERMINAL_STATES]
        query = select(schema.orders).where(schema.orders.c.state.not_in(terminal))
        return [row_to_order(r) for r in await self._fetch(query)]

    async def list_members(self, list_ids: Sequence[str]) -> list[Order]:
        """Every order of the contingent lists ``list_ids`` (finished ones too)."""
        o = schema.orders.c
        found: list[Order] = []
        for start in range(0, len(list_ids), 500):
            chunk = list(list_ids[start : start + 500])
            query = select(schema.orders).where(o.list_id.in_(chunk)).order_by(o.order_id)
            found.extend(row_to_order(r) for r in await self._fetch(query))
        return found

    async def client_order_ids(
        self, chunk: int = CLIENT_IDS_CHUNK
    ) -> AsyncIterator[list[tuple[str, str, str]]]:
        """(account_id, client_order_id, order_id) of every stored order, ``chunk`` rows
        at a time (a large journal never sits in memory whole), in order id order: ids
        start with their creation time in hex, so that is oldest first."""
        o = schema.orders.c
        after = ""
        while True:
            query = (
                select(o.account_id, o.client_order_id, o.order_id)
                .where(o.order_id > after)
                .order_by(o.order_id)
                .limit(chunk)
            )
            rows = await self._fetch(query)
            if rows:
                yield [(r["account_id"], r["client_order_id"], r["order_id"]) for r in rows]
            if len(rows) < chunk:
                return
            after = rows[-1]["order_id"]

    async def order_id_for_client_id(self, account_id: str, client_order_id: str) -> str | None:
        """The id of the stored order with this idempotency key, or None."""
        o = schema.orders.c
        query = select(o.order_id).where(
            and_(o.account_id == account_id, o.client_order_id == client_order_id)
        )
        rows = await self._fetch(query)
        return str(rows[0]["order_id"]) if rows else None

    async def load_last_sequences(self) -> dict[str, int]:
        """account_id -> the highest event sequence stored."""
        e = schema.order_events.c
        rows = await self._fetch(
            select(e.account_id, func.max(e.sequence).label("seq")).group_by(e.account_id)
        )
        return {r["account_id"]: int(r["seq"]) for r in rows}

    async def load_open_children(self) -> list[ChildOrder]:
        """Children the venue has not finished, or whose fills are not all applied."""
        c = schema.child_orders.c
        working = [state.value for state in ChildState if not state.is_final]
        # Texts are canonical (fmt), so unequal texts mean fills still to be applied.
        query = select(schema.child_orders).where(
            or_(c.venue_done == 0, c.state.in_(working), c.cum_qty != c.venue_cum_qty)
        )
        rows = await self._fetch(query)
        ids = [r["child_order_id"] for r in rows]
        seen: dict[str, set[str]] = {i: set() for i in ids}
        x = schema.executions.c
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for r in await self._fetch(
                select(x.child_order_id, x.exec_id).where(x.child_order_id.in_(chunk))
            ):
                seen[r["child_order_id"]].add(r["exec_id"])
        children = [row_to_child(r, seen[r["child_order_id"]]) for r in rows]
        return [child for child in children if not child.is_done or not child.state.is_final]

    async def child_counts(self, parent_ids: Sequence[str]) -> dict[str, int]:
        """parent_order_id -> number of children ever created."""
        c = schema.child_orders.c
        counts: dict[str, int] = {}
        for start in range(0, len(parent_ids), 500):
            chunk = list(parent_ids[start : start + 500])
            query = (
                select(c.parent_order_id, func.count().label("n"))
                .where(c.parent_order_id.in_(chunk))
                .group_by(c.parent_order_id)
            )
            counts.update({r["parent_order_id"]: int(r["n"]) for r in await self._fetch(query)})
        return counts

    async def children_of(self, parent_order_id: str) -> list[ChildOrder]:
        c = schema.child_orders.c
        rows = await self._fetch(
            select(schema.child_orders)
            .where(c.parent_order_id == parent_order_id)
            .order_by(c.created_ns)
        )
        return [row_to_child(r, set()) for r in rows]

    async def load_rows(self, table: str) -> list[Row]:
        """Every row of a small table (accounts, positions, working children)."""
        return [dict(r) for r in await self._fetch(select(_TABLES[table]))]

    # -- queries ----------------------------------------------------------------------

    async def get_order(self, order_id: str) -> Order | None:
        rows = await self._fetch(select(schema.orders).where(schema.orders.c.order_id == order_id))
        return row_to_order(rows[0]) if rows else None

    async def list_orders(
        self,
        account_id: str,
        *,
        states: Sequence[OrderState] = (),
        symbol: str = "",
        limit: int,
        before: tuple[int, str] | None = None,
    ) -> list[Order]:
        """An account's orders, newest first, strictly older than the ``before`` cursor."""
        o = schema.orders.c
        query = select(schema.orders).where(o.account_id == account_id)
        if states:
            query = query.where(o.state.in_([s.value for s in states]))
        if symbol:
            query = query.where(o.symbol == symbol)
        if before is not None:
            created, order_id = before
            query = query.where(
                or_(o.created_ns < created, and_(o.created_ns == created, o.order_id < order_id))
            )
        query = query.order_by(o.created_ns.desc(), o.order_id.desc()).limit(limit)
        return [row_to_order(r) for r in await self._fetch(query)]

    async def order_events(self, order_id: str) -> list[ExecutionReport]:
        e = schema.order_events.c
        query = select(schema.order_events).where(e.order_id == order_id).order_by(e.sequence)
        return [row_to_report(r) for r in await self._fetch(query)]

    async def list_executions(
        self,
        account_id: str,
        *,
        order_id: str = "",
        symbol: str = "",
        limit: int,
        before: int | None = None,
    ) -> list[Execution]:
        """An account's fills, newest first: each stored venue fill joined with the TRADE
        event it made, ordered by that event's sequence (below ``before``, if given)."""
        x, e = schema.executions.c, schema.order_events.c
        query = (
            select(schema.executions, *(e[name].label(f"event_{name}") for name in _FILL_EVENT))
            .select_from(schema.order_events.join(schema.executions, x.fill_exec_id == e.exec_id))
            .where(e.account_id == account_id)
        )
        if order_id:
            query = query.where(e.order_id == order_id)
        if symbol:
            query = query.where(e.symbol == symbol)
        if before is not None:
            query = query.where(e.sequence < before)
        query = query.order_by(e.sequence.desc()).limit(limit)
        return [row_to_execution(r) for r in await self._fetch(query)]

    async def reports_after(
        self, account_id: str, after: int, *, limit: int, up_to: int | None = None
    ) -> list[ExecutionReport]:
        """An account's reports with sequence > ``after`` (and <= ``up_to``), in order."""
        e = schema.order_events.c
        query = select(schema.order_events).where(e.account_id == account_id, e.sequence > after)
        if up_to is not None:
            query = query.where(e.sequence <= up_to)
        query = query.order_by(e.sequence).limit(limit)
        return [row_to_report(r) for r in await self._fetch(query)]

    async def count(self, table: str) -> int:
        """Number of rows in a table (tests and benchmarks)."""
        rows = await self._fetch(select(func.count()).select_from(_TABLES[table]))
        return int(next(iter(rows[0].values())))

    async def _fetch(self, query: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            result = await conn.execute(query)
            return list(result.mappings().all())


async def _open_writer(url: str, engine: AsyncEngine) -> SqliteWriter | None:
    """A stdlib writer for a SQLite file; in-memory databases keep the engine's connection."""
    path = sqlite_file_path(url)
    if path is None:
        return None
    return await SqliteWriter.open(path, WRITE_ORDER, engine.dialect, IGNORE_DUPLICATES)


def _insert_ignoring_duplicates(table: Table, dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return table.insert().prefix_with("OR IGNORE", dialect="sqlite")


def _key_condition(table: Table) -> Any:
    """``primary key = :key_<column>`` for every primary-key column."""
    return and_(*(col == bindparam(f"key_{col.name}") for col in table.primary_key.columns))


def _delete_statement(table: Table) -> Any:
    return table.delete().where(_key_condition(table))


def _key_params(table: Table, key: Any) -> Row:
    """Bind parameters of a primary key (a value, or a tuple for a composite key)."""
    values = key if isinstance(key, tuple) else (key,)
    return {f"key_{col.name}": v for col, v in zip(table.primary_key.columns, values, strict=True)}


def _update_statement(table: Table) -> Any:
    return update(table).where(_key_condition(table))


def _with_key_params(table: Table, row: Row) -> Row:
    params = dict(row)
    for col in table.primary_key.columns:
        params[f"key_{col.name}"] = row[col.name]
    return params
