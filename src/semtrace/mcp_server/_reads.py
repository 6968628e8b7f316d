"""How the MCP server reads a database: one short-lived connection per tool call.

The file is never held open between calls, so agents keep writing it (or its owner keeps
owning it). A file with no owner is opened read-only and locked down like the collector's
SQL endpoint (no file or network access, settings frozen); a file an owner serves is read
through the owner, whose ``/v1/query`` runs the same sandbox.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa

from semtrace._connect import connect
from semtrace.collector.sql import (
    QueryRefused,
    QueryResult,
    SqlSandbox,
    check_read_only,
    lock_down,
)
from semtrace.store.database import get_open_store, resolve_path
from semtrace.store.queries import list_relations

__all__ = ["Reader"]


def _lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """:func:`lock_down`, once per database instance: connections of one process share the
    instance of a file, and a second call finds its configuration already locked."""
    with contextlib.suppress(duckdb.Error):
        lock_down(con)
    row = con.execute("SELECT current_setting('enable_external_access')").fetchone()
    if row is None or row[0]:
        con.close()
        raise QueryRefused("the database could not be locked down for queries; try again")


class Reader:
    """Read access to one database for the MCP tools; ``max_rows`` bounds every SQL result."""

    def __init__(
        self, db: str | os.PathLike[str], *, max_rows: int = 500, timeout_s: float = 20.0
    ) -> None:
        self.db = resolve_path(db)
        self.max_rows = max_rows
        self.timeout_s = timeout_s

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A query connection for one tool call (a DuckDB one, or the owner's over HTTP)."""
        con = connect(self.db)
        try:
            yield con
        finally:
            con.close()

    def sql(self, query: str, limit: int) -> QueryResult:
        """Run one read-only query with at most ``limit`` rows (capped at ``max_rows``).

        ``QueryRefused`` for anything but a single SELECT, ``QueryTimeout`` past the time
        limit, ``QueryError``/``duckdb.Error`` for what DuckDB refuses."""
        check_read_only(query)
        limit = max(0, min(limit, self.max_rows))
        con = connect(self.db)
        if not isinstance(con, duckdb.DuckDBPyConnection):
            # The owner sandboxes and bounds it; its result is cut to our limit.
            try:
                table: pa.Table = con.sql(query).to_arrow_table()
            finally:
                con.close()
            return QueryResult(table.slice(0, limit), table.num_rows > limit, 0.0)
        if get_open_store(self.db) is None:
            _lock_down(con)  # our own read-only connection: lock it like /v1/query's
        sandbox = SqlSandbox(lambda: con, max_rows=self.max_rows, timeout_s=self.timeout_s)
        return sandbox.run(query, limit=limit)  # closes the connection

    def catalog(self) -> dict[str, list[tuple[str, str]]]:
        """``(name, DuckDB type)`` of each column of each table and view of the contract."""
        with self.connection() as con:
            return {
                name: [
                    (str(col), str(type_))
                    for col, type_ in con.sql(
                        f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {name})"
                    ).fetchall()
                ]
                for name in list_relations(con)
            }
