"""Open DuckDB files the semtrace way: migrated, with views, and errors a user can act on.

:class:`Store` is the one writer of a file inside a process. It appends batches of domain
records as Arrow tables (never a row at a time) under a lock, in one transaction per batch,
so a crash loses at most the batch in flight.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from semtrace.exceptions import ConfigurationError, DatabaseLockedError, NotADatabaseError
from semtrace.store import schema
from semtrace.store._arrow import logs_table, spans_tables
from semtrace.store._paths import resolve_path
from semtrace.store.lineage import Lineage
from semtrace.store.model import LogRecord, SpanRecord
from semtrace.store.ownership import read_announcement
from semtrace.store.views import create_views

__all__ = [
    "Store",
    "batch_tables",
    "check_database_file",
    "close_stores",
    "connect_readonly",
    "get_open_store",
    "missing_database_message",
    "open_store",
    "resolve_path",
]

_LOCK_PID = re.compile(r"PID (\d+)")
_open_stores: dict[str, Store] = {}
_open_lock = threading.Lock()


def missing_database_message(path: str) -> str:
    """What to say when ``path`` has no database: how to get one, never by filling the
    user's own path with demo data."""
    return (
        f"no semtrace database at {path}. Point --db (db=) at an existing file, write "
        "telemetry there with semtrace.configure(db=...), or try semtrace on demo data: "
        "`semtrace demo` writes semtrace-demo.duckdb, then "
        '`semtrace sql --db semtrace-demo.duckdb "select * from traces"`.'
    )


def _not_a_database(path: str) -> NotADatabaseError:
    return NotADatabaseError(
        f"{path} exists but is not a DuckDB database file. Point db= at a new path "
        "(it is created) or at a file semtrace wrote."
    )


def check_database_file(path: str | os.PathLike[str]) -> None:
    """Raise :class:`NotADatabaseError` when ``path`` holds something other than a DuckDB file.

    Checked before DuckDB sees the path: DuckDB opens some other files (a ``.csv``, say) as an
    in-memory database instead of failing. A missing or empty file is fine (it becomes one).
    """
    p = Path(path)
    try:
        if not p.is_file() or p.stat().st_size == 0:
            return
        with open(p, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return  # unreadable: DuckDB's own error says why
    # A DuckDB file starts with an 8-byte checksum, then the magic bytes "DUCK".
    if head[8:12] != b"DUCK":
        raise _not_a_database(str(path))


def _owner_hint(path: str) -> str:
    ann = read_announcement(path)
    if ann is None:
        return ""
    return f" A semtrace owner at {ann.url} (pid {ann.pid}) serves it: query it there."


def _translate_open_error(exc: duckdb.Error, path: str) -> Exception:
    text = str(exc)
    if "not a valid DuckDB database file" in text:
        return _not_a_database(path)
    if "Could not set lock" in text or "Conflicting lock" in text:
        m = _LOCK_PID.search(text)
        pid = int(m.group(1)) if m else None
        who = f"process {pid}" if pid else "another process"
        return DatabaseLockedError(
            f"{path} is open for writing by {who}; DuckDB allows one writing process per file."
            f"{_owner_hint(path)} That process writes it in embedded mode. To share a file, let "
            "every process use owner mode (the default: SEMTRACE_MODE unset or "
            "configure(mode='owner')): one owner process writes it and the others, agents, "
            "`semtrace sql` and the dashboard, go through it. Or wait for that process to "
            "exit, or use another db= path.",
            pid=pid,
        )
    if isinstance(exc, duckdb.IOException):
        # A folder, a file without read/write permission, a path through a file...: say what
        # is wrong with the path and what to do, instead of DuckDB's raw IO error.
        reason = text.removeprefix("IO Error: ").rsplit(": ", 1)[-1].strip() or text
        lowered = reason.lower()
        if "directory" in lowered and "not a directory" not in lowered:
            example = Path(path) / "semtrace.duckdb"
            fix = f"it is a folder: point --db (db=) at a file, e.g. {example}"
        elif "permission" in lowered or "read-only file system" in lowered:
            fix = "check the permissions of the file and its folder, or use another --db (db=) path"
        else:
            fix = "check the path, or use another --db (db=) path"
        return ConfigurationError(f"cannot open {path}: {reason}; {fix}")
    return exc


ENV_MEMORY_LIMIT = "SEMTRACE_DUCKDB_MEMORY_LIMIT"  # overrides both limits below
# DuckDB's default cache is 80% of the machine's memory, and a writer's resident memory grows
# with the file towards it: inside an agent, telemetry must stay small. An agent's in-process
# writer only appends (its checkpoints are what fill the cache): 64 MB instead of 256 MB takes
# ~180 MB off its peak RSS at 1M spans (bench/memory.py). Queries that need more spill to disk.
DEFAULT_MEMORY_LIMIT = "64MB"
# The owner (or a collector) also answers every reader's SQL: more cache before queries spill.
SERVER_MEMORY_LIMIT = "256MB"


def _writer_config(memory_limit: str) -> dict[str, str | bool | int | float | list[str]]:
    return {"memory_limit": os.environ.get(ENV_MEMORY_LIMIT, memory_limit)}


class Store:
    """A read-write DuckDB file with the semtrace schema; thread-safe appends.

    ``memory_limit`` caps DuckDB's cache: small for an agent's own writer (the default), the
    larger ``SERVER_MEMORY_LIMIT`` for the process that serves queries as well.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, memory_limit: str = DEFAULT_MEMORY_LIMIT
    ) -> None:
        self.path = resolve_path(path)
        check_database_file(self.path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path, config=_writer_config(memory_limit))
        except duckdb.Error as exc:
            raise _translate_open_error(exc, self.path) from exc
        self._lock = threading.RLock()
        self.lineage = Lineage()
        self.closed = False
        with self._lock:
            try:
                schema.migrate(self._con)
                create_views(self._con)
            except BaseException:
                self._con.close()  # a failed migration must not keep the file locked
                raise

    # -- writing -----------------------------------------------------------------------------
    def write_spans(self, spans: Sequence[SpanRecord]) -> int:
        """Append a batch of spans (with their events and links) in one transaction."""
        if spans:
            self._append_many(batch_tables(spans, ()))
        return len(spans)

    def write_logs(self, logs: Sequence[LogRecord]) -> int:
        """Append a batch of log records in one transaction."""
        if logs:
            self._append_many(batch_tables((), logs))
        return len(logs)

    def append_arrow(self, table_name: str, table: pa.Table) -> None:
        """Append an Arrow table to one of the contract's tables, matching columns by name."""
        self._append_many([(table_name, table)])

    def append_tables(self, tables: Sequence[tuple[str, pa.Table]]) -> None:
        """Append several ``(table_name, arrow_table)`` pairs in one transaction."""
        self._append_many(tables)

    def _append_many(self, tables: Sequence[tuple[str, pa.Table]]) -> None:
        with self._lock:
            con = self._con
            # Inherited agents, agent calls and failure origins, settled against the spans
            # this writer saw before (see semtrace.store.lineage).
            prepared = self.lineage.prepare(tables)
            con.execute("BEGIN TRANSACTION")
            try:
                self.lineage.write_fixes(con, prepared)
                for i, (name, table) in enumerate(prepared.tables):
                    if table.num_rows == 0:
                        continue
                    view = f"__semtrace_batch_{i}"
                    con.register(view, table)
                    try:
                        con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM {view}")
                    finally:
                        con.unregister(view)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            self.lineage.commit(prepared)

    def execute(
        self, sql: str, params: Sequence[object] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """Run one statement on the writer's connection (used for small bookkeeping writes)."""
        with self._lock:
            return self._con.execute(sql, params) if params is not None else self._con.execute(sql)

    # -- reading -----------------------------------------------------------------------------
    def has_batch(self, batch_id: str) -> bool:
        """Whether a batch with this id was committed (by an owner, which records ids)."""
        with self._lock:
            row = self._con.execute(
                f"SELECT 1 FROM {schema.SEMTRACE_BATCHES} WHERE batch_id = ? LIMIT 1", [batch_id]
            ).fetchone()
        return row is not None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the same database, for reads inside this process."""
        with self._lock:
            return self._con.cursor()

    def checkpoint(self) -> None:
        with self._lock:
            self._con.execute("CHECKPOINT")

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._con.close()
            finally:
                with _open_lock:
                    if _open_stores.get(self.path) is self:
                        del _open_stores[self.path]


def open_store(path: str | os.PathLike[str]) -> Store:
    """The process-wide writer for ``path``, opened (and migrated) on first use."""
    key = resolve_path(path)
    with _open_lock:
        store = _open_stores.get(key)
        if store is not None and not store.closed:
            return store
    store = Store(key)
    with _open_lock:
        existing = _open_stores.get(key)
        if existing is not None and not existing.closed:
            store.close()
            return existing
        _open_stores[key] = store
    return store


def batch_tables(
    spans: Sequence[SpanRecord], logs: Sequence[LogRecord]
) -> list[tuple[str, pa.Table]]:
    """The ``(table_name, arrow_table)`` pairs one batch of spans and logs is stored as."""
    tables: list[tuple[str, pa.Table]] = []
    if spans:
        spans_t, events_t, links_t = spans_tables(spans)
        tables += [
            (schema.SPANS, spans_t),
            (schema.SPAN_EVENTS, events_t),
            (schema.SPAN_LINKS, links_t),
        ]
    if logs:
        tables.append((schema.LOGS, logs_table(logs)))
    return tables


def close_stores() -> None:
    """Close every writer this process opened (at shutdown: the files are free again)."""
    with _open_lock:
        stores = list(_open_stores.values())
    for store in stores:
        store.close()


def get_open_store(path: str | os.PathLike[str]) -> Store | None:
    """The writer this process already has open for ``path``, if any."""
    with _open_lock:
        store = _open_stores.get(resolve_path(path))
    return store if store is not None and not store.closed else None


def connect_readonly(path: str | os.PathLike[str]) -> duckdb.DuckDBPyConnection:
    """A connection for queries: the in-process writer's when this process writes ``path``,
    else a read-only connection with the views (re)created as temporary views."""
    key = resolve_path(path)
    store = get_open_store(key)
    if store is not None:
        return store.cursor()
    if not Path(key).exists():
        raise FileNotFoundError(missing_database_message(key))
    check_database_file(key)
    try:
        con = duckdb.connect(key, read_only=True)
    except duckdb.Error as exc:
        raise _translate_open_error(exc, key) from exc
    if schema.schema_version(con) == 0:
        con.close()
        raise NotADatabaseError(
            f"{key} is a DuckDB file but has no semtrace tables; point at a file semtrace wrote."
        )
    schema.shadow_missing(con)  # a file older than the declarations: new columns read NULL
    create_views(con, temporary=True)
    return con
