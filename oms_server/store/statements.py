"""SQL text and parameters for the stdlib sqlite3 writer, built once per table.

Each table gets an INSERT (or INSERT OR IGNORE), an UPDATE and a DELETE keyed by its
primary key, written from the SQLAlchemy ``Table``. Rows become parameter sequences in
column order with the columns' bind processing applied: DecimalString values exactly as
``DecimalString.process_bind_param`` does, other types through their bind processors.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Dialect, Table

from oms_server.domain.decimals import fmt
from oms_server.store.journal import JournalBatch, Row
from oms_server.store.schema import DecimalString

Params = list[Any]
#: One ``executemany``: SQL text and the parameters of each row.
Step = tuple[str, list[Params]]


def batch_steps(tables: Sequence[TableStatements], batch: JournalBatch) -> list[Step]:
    """Every statement of ``batch``, table by table in the order of ``tables``."""
    return [step for table in tables for step in table.steps(batch)]


class TableStatements:
    """The writes of one table: deletes, then inserts, then updates."""

    def __init__(self, table: Table, dialect: Dialect, *, ignore_duplicates: bool) -> None:
        quote = dialect.identifier_preparer
        name = quote.format_table(table)
        columns = list(table.columns)
        keys = list(table.primary_key.columns)
        key_names = {c.name for c in keys}
        others = [c for c in columns if c.name not in key_names]
        where = " AND ".join(f"{quote.format_column(c)} = ?" for c in keys)
        sets = ", ".join(f"{quote.format_column(c)} = ?" for c in others)
        names = ", ".join(quote.format_column(c) for c in columns)
        verb = "INSERT OR IGNORE" if ignore_duplicates else "INSERT"
        self.name = table.name
        self.insert = f"{verb} INTO {name} ({names}) VALUES ({', '.join('?' * len(columns))})"
        self.update = f"UPDATE {name} SET {sets} WHERE {where}"
        self.delete = f"DELETE FROM {name} WHERE {where}"
        self._insert_params = RowParams(columns, dialect, defaults=_scalar_defaults(columns))
        self._update_params = RowParams(others + keys, dialect)
        self._key_params = RowParams(keys, dialect)

    def steps(self, batch: JournalBatch) -> Iterator[Step]:
        """This table's statements for ``batch`` (JournalBatch's delete-before-insert)."""
        writes = batch.writes_of(self.name)
        if writes.deleted:
            yield self.delete, self._key_params.of_keys(writes.deleted)
        if writes.inserted:
            yield self.insert, self._insert_params.of_rows(writes.inserted)
        if writes.updated:
            yield self.update, self._update_params.of_rows(writes.updated)


class RowParams:
    """Parameters of rows for a fixed list of columns, in that order, ready to bind.

    With ``defaults``, a row may leave out a column: it takes the column's default (or
    NULL), as an SQLAlchemy insert does. Without, every column must be present.
    """

    def __init__(
        self, columns: Sequence[Column[Any]], dialect: Dialect, defaults: Row | None = None
    ) -> None:
        self._names = tuple(c.name for c in columns)
        self._get = _getter(self._names)
        self._defaults = defaults
        self._decimals = tuple(
            i for i, c in enumerate(columns) if isinstance(c.type, DecimalString)
        )
        self._processors = tuple(
            (i, process)
            for i, c in enumerate(columns)
            if not isinstance(c.type, DecimalString)
            and (process := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        )

    def of_rows(self, rows: Sequence[Row]) -> list[Params]:
        """One parameter list per row (lists, to convert decimals in place)."""
        get = self._get
        try:
            values = [list(get(row)) for row in rows]
        except KeyError:
            values = [self._with_defaults(row) for row in rows]
        return self._processed(values)

    def of_keys(self, keys: Collection[Any]) -> list[Params]:
        """Parameters of primary keys: a value, or a tuple for a composite key."""
        return self._processed([list(k) if isinstance(k, tuple) else [k] for k in keys])

    def _processed(self, values: list[Params]) -> list[Params]:
        decimals, processors = self._decimals, self._processors
        if decimals:
            _format_decimals(values, decimals)
        if processors:
            for params in values:
                for i, process in processors:
                    params[i] = process(params[i])
        return values

    def _with_defaults(self, row: Row) -> Params:
        if self._defaults is None:
            missing = [name for name in self._names if name not in row]
            raise KeyError(f"a row to update lacks columns {missing}")
        defaults = self._defaults
        return [row.get(name, defaults.get(name)) for name in self._names]


def _format_decimals(values: list[Params], decimals: tuple[int, ...]) -> None:
    """DecimalString.process_bind_param in place: ``fmt(Decimal(v))``, None stays None."""
    decimal, format_ = Decimal, fmt
    for params in values:
        for i in decimals:
            value = params[i]
            if value is not None:
                # Decimal(d) is d itself for a Decimal: skip the call, same result.
                params[i] = format_(value if value.__class__ is decimal else decimal(value))


def _getter(names: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...]]:
    """``row -> tuple of its values for names``; itemgetter of one name returns no tuple."""
    if len(names) == 1:
        (name,) = names
        return lambda row: (row[name],)
    return itemgetter(*names)


def _scalar_defaults(columns: Sequence[Column[Any]]) -> Row:
    defaults: Row = {}
    for column in columns:
        default: Any = column.default
        if default is None:
            continue
        if not default.is_scalar:
            raise TypeError(f"column {column.name}: only scalar defaults are supported")
        defaults[column.name] = default.arg
    return defaults
