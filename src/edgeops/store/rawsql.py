"""Inserts run on the SQLite driver's cursor, for the ingestion committer's hot path.

SQLAlchemy Core spends 0.1-0.3 ms of Python on every statement it runs (its compiled cache,
parameter processing, result objects); the committer runs five per group commit, and on SQLite
that made it the largest cost of an uploaded sample after HTTP itself (measured: 1.7 ms of CPU
per group of eight for the inserts, 0.4 ms of it in SQLite). Here a statement's SQL is written
once and values go through the columns' own SQLAlchemy bind processors, so rows are stored
exactly as Core stores them, in the session's transaction.

SQLite only: PostgreSQL's driver adapts JSON and time zones its own way, and there Core's cost
is small beside the round trips to the server, so the callers keep Core for it.
"""

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

from edgeops.store.tables import Base


def cursor(connection: Connection) -> Any | None:
    """A driver cursor in `connection`'s transaction, or None where Core should run instead."""
    if connection.dialect.name != "sqlite":
        return None
    return connection.connection.cursor()


class Insert:
    """INSERT INTO a table's `columns`, for rows given as mappings by column name, followed by
    `suffix` (ON CONFLICT …, RETURNING …). Column defaults are not applied: a missing value is
    None, processed as Core would process None."""

    def __init__(
        self, table: Table, columns: Sequence[str], dialect: Dialect, suffix: str = ""
    ) -> None:
        quote = dialect.identifier_preparer.quote
        self.columns = tuple(columns)
        self._head = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES "
        self._row = "(" + ", ".join("?" * len(columns)) + ")"
        self._suffix = f" {suffix}" if suffix else ""
        self._processors = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
        ]

    def values(self, row: Mapping[str, Any]) -> list[Any]:
        values = (row.get(name) for name in self.columns)
        return [
            value if process is None else process(value)
            for process, value in zip(self._processors, values, strict=True)
        ]

    def many(self, cursor: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert `rows` with the driver's executemany."""
        cursor.executemany(self._head + self._row + self._suffix, [self.values(r) for r in rows])

    def returning(self, cursor: Any, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Insert `rows` in one statement and return what its RETURNING clause gives."""
        sql = self._head + ", ".join([self._row] * len(rows)) + self._suffix
        cursor.execute(sql, [value for row in rows for value in self.values(row)])
        return list(cursor.fetchall())


@cache
def insert(dialect: Dialect, table_name: str, suffix: str = "", without: str = "") -> Insert:
    """The `Insert` into every column of a table (but `without`), built once per dialect."""
    table = Base.metadata.tables[table_name]
    columns = [c.name for c in table.columns if c.name != without]
    return Insert(table, columns, dialect, suffix)
