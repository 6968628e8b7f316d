"""Read-only SQL for the collector's ``POST /v1/query``: one SELECT, bounded rows and time.

Three layers keep a query from doing anything but reading the store:

1. only a single ``SELECT``/``WITH``/``FROM`` statement is accepted (DuckDB's own parser
   classifies it: ``duckdb.extract_statements``), so ``COPY``, ``ATTACH``, ``INSTALL``,
   ``LOAD``, ``PRAGMA``, ``SET``, DDL, DML and multiple statements are refused up front;
2. the database runs with ``enable_external_access=false`` and ``lock_configuration=true``
   (set once by :func:`lock_down`), so table functions like ``read_csv('/etc/passwd')``
   cannot touch files and no setting can be changed back;
3. each query runs inside a ``READ ONLY`` transaction on its own cursor.

Rows are capped (the result says when it was truncated) and a timer interrupts a query that
runs past its time limit.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from semtrace.store.columns import with_unique_names

__all__ = [
    "QueryRefused",
    "QueryResult",
    "QueryTimeout",
    "SqlSandbox",
    "check_read_only",
    "lock_down",
]

_ALLOWED = frozenset({duckdb.StatementType.SELECT})


class QueryRefused(ValueError):
    """The SQL is not a single read-only query (HTTP 400 with this message)."""


class QueryTimeout(Exception):
    """The query ran past the time limit and was interrupted."""


@dataclass(frozen=True)
class QueryResult:
    """The rows of one query, at most ``limit`` of them."""

    table: pa.Table
    truncated: bool
    elapsed_s: float


def check_read_only(sql: str) -> str:
    """The single statement in ``sql``, or QueryRefused saying why it is not allowed."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"the SQL does not parse: {exc}") from exc
    if not statements:
        raise QueryRefused("no SQL statement given")
    if len(statements) > 1:
        raise QueryRefused(
            f"only one statement per query is allowed ({len(statements)} given); "
            "send them one at a time"
        )
    stmt = statements[0]
    if stmt.type not in _ALLOWED:
        kind = stmt.type.name
        raise QueryRefused(
            f"{kind} statements are not allowed: the query endpoint is read-only "
            "(SELECT / WITH / FROM only; no COPY, ATTACH, INSTALL, LOAD, PRAGMA, SET, DDL or DML)"
        )
    return sql


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """Forbid file and network access and freeze the settings for the whole database.

    Call it after the writer has migrated the file: the settings are database-wide, and
    registered Arrow tables (how the writer appends) keep working."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


class SqlSandbox:
    """Runs read-only queries on cursors of a (locked-down) DuckDB connection."""

    def __init__(
        self,
        cursor_factory: Any,
        *,
        max_rows: int = 100_000,
        timeout_s: float = 30.0,
    ) -> None:
        self._cursor_factory = cursor_factory
        self.max_rows = max_rows
        self.timeout_s = timeout_s

    def run(
        self,
        sql: str,
        params: Sequence[Any] | None = None,
        *,
        limit: int | None = None,
        timeout_s: float | None = None,
    ) -> QueryResult:
        """Run one read-only query; QueryRefused, QueryTimeout or duckdb.Error on failure."""
        import time

        check_read_only(sql)
        limit = self.max_rows if limit is None else max(0, min(limit, self.max_rows))
        timeout = self.timeout_s if timeout_s is None else min(timeout_s, self.timeout_s)
        cur: duckdb.DuckDBPyConnection = self._cursor_factory()
        timed_out = threading.Event()

        def interrupt() -> None:
            timed_out.set()
            cur.interrupt()

        timer = threading.Timer(timeout, interrupt)
        timer.daemon = True
        started = time.perf_counter()
        try:
            cur.execute("BEGIN TRANSACTION READ ONLY")
            timer.start()
            try:
                rel = cur.sql(sql, params=list(params)) if params else cur.sql(sql)
                if rel is None:
                    raise QueryRefused("the statement returns no rows")
                reader = rel.to_arrow_reader(8192)
                batches: list[pa.RecordBatch] = []
                rows = 0
                truncated = False
                for batch in reader:
                    if rows + batch.num_rows > limit:
                        batches.append(batch.slice(0, limit - rows))
                        truncated = True
                        break
                    batches.append(batch)
                    rows += batch.num_rows
                table = pa.Table.from_batches(batches, schema=reader.schema)
            except (duckdb.InterruptException, duckdb.Error) as exc:
                if timed_out.is_set():
                    raise QueryTimeout(
                        f"the query ran longer than {timeout:g} s and was stopped; "
                        "add a WHERE clause or a LIMIT"
                    ) from exc
                raise
            finally:
                timer.cancel()
        finally:
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            cur.close()
        # Repeated names (``select s.name, e.name``) would hide a column in JSON or Arrow
        # consumers that key by name: renamed as DuckDB does, name_1.
        return QueryResult(with_unique_names(table), truncated, time.perf_counter() - started)
