"""``semtrace.connect()``: a DuckDB connection with every view of the SQL contract ready."""

from __future__ import annotations

import os
from typing import cast

import duckdb

from semtrace.store.database import connect_readonly, get_open_store, resolve_path
from semtrace.tracer.setup import DEFAULT_DB, ENV_DB, STATE, force_flush

__all__ = ["connect", "default_db"]


def default_db() -> str:
    """The database file in force: the configured one, else ``SEMTRACE_DB``, else the default."""
    if STATE.settings is not None:
        return STATE.settings.db
    return resolve_path(os.environ.get(ENV_DB, DEFAULT_DB))


def connect(db: str | os.PathLike[str] | None = None) -> duckdb.DuckDBPyConnection:
    """Open ``db`` for queries (``.df()``, ``.pl()``, ``.arrow()`` work as usual).

    In the process that writes the file, everything queued is flushed first so the query
    sees it. A collector that owns the file is queried through its SQL endpoint.
    """
    path = resolve_path(db) if db is not None else default_db()
    if STATE.settings is not None and STATE.settings.db == path:
        force_flush()
    if get_open_store(path) is None:
        try:
            from semtrace.collector.announce import read_announcement
        except ImportError:
            return connect_readonly(path)
        if (ann := read_announcement(path)) is not None:
            from semtrace.collector.client import connect_via_collector

            # Duck-typed: answers .sql()/.execute() like a DuckDB connection, over HTTP.
            return cast(duckdb.DuckDBPyConnection, connect_via_collector(ann))
    return connect_readonly(path)
