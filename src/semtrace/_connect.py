"""``semtrace.connect()``: a connection with every view of the SQL contract ready."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import cast

import duckdb

from semtrace.collector.client import CollectorConnection
from semtrace.config import DEFAULT_DB, ENV_DB, resolve_mode
from semtrace.exceptions import ConfigurationError
from semtrace.lake.read import connect_lake
from semtrace.store.database import connect_readonly, get_open_store, resolve_path
from semtrace.store.ownership import Announcement, OwnerUnavailable, ensure_owner, read_announcement
from semtrace.tracer.setup import STATE, force_flush

__all__ = ["connect", "default_db", "find_owner"]

_log = logging.getLogger("semtrace")


def default_db() -> str:
    """The database file in force: the configured one, else ``SEMTRACE_DB``, else the default."""
    if STATE.settings is not None:
        return STATE.settings.db
    return resolve_path(os.environ.get(ENV_DB, DEFAULT_DB))


def find_owner(path: str, *, start: bool | None = None) -> Announcement | None:
    """The owner to read ``path`` through: the live one, or (in owner mode, when the file
    exists) one started now. None: read the file directly (embedded mode, or no owner could
    start because another process writes the file in embedded mode)."""
    ann = read_announcement(path)
    if ann is not None:
        return ann
    if start is None:
        mode = STATE.settings.mode if STATE.settings is not None else resolve_mode(None)
        start = mode == "owner"
    if not start or not Path(path).exists():
        return None
    settings = STATE.settings
    idle = settings.owner_idle_timeout_s if settings is not None else None
    try:
        return ensure_owner(path, idle_timeout_s=idle)
    except OwnerUnavailable as exc:
        _log.info("semtrace: reading %s directly: %s", path, exc)
        return None


def connect(
    db: str | os.PathLike[str] | None = None, *, lake: str | os.PathLike[str] | None = None
) -> duckdb.DuckDBPyConnection:
    """Open ``db`` for queries (``.df()``, ``.pl()``, ``.arrow()`` work as usual).

    In the process that writes the file, everything queued is flushed first so the query
    sees it. In owner mode (the default) queries go to the process that owns the file,
    started on demand, so they run while agents write; they see rows committed up to about
    one batch interval ago. In embedded mode the file is opened read-only (or queried
    through an owner that already serves it). With ``lake=DIR``, the same tables and views
    over a Parquet lake instead (read-only).
    """
    if lake is not None:
        if db is not None:
            raise ConfigurationError("give either db= or lake=, not both")
        return connect_lake(lake)
    path = resolve_path(db) if db is not None else default_db()
    if STATE.settings is not None and STATE.settings.db == path:
        force_flush()
    if get_open_store(path) is None and (ann := find_owner(path)) is not None:
        # Duck-typed: answers .sql()/.execute() like a DuckDB connection, over HTTP.
        return cast(duckdb.DuckDBPyConnection, CollectorConnection(ann.url, token=ann.token))
    return connect_readonly(path)
