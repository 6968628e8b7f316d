"""The writer telemetry goes through: it never raises, and nothing it accepted is lost while
the database is unavailable (locked by another process, read-only, deleted, disk full).

Batches the store cannot take are spooled to a bounded folder beside the file and replayed,
oldest first, once the store takes writes again; while it is down, the store is retried with
exponential backoff instead of on every batch. Everything is counted in :data:`STATS`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

import pyarrow as pa

from semtrace._errors import handle_internal_errors
from semtrace.store import schema
from semtrace.store.database import Store, batch_tables, open_store, resolve_path
from semtrace.store.model import LogRecord, SpanRecord
from semtrace.store.spool import DEFAULT_MAX_SPOOL_BYTES, Spool, SpooledBatch, spool_dir_for
from semtrace.store.stats import STATS, Stats

__all__ = [
    "ResilientWriter",
    "Writer",
    "close_writers",
    "flush_writers",
    "get_writer",
    "set_writer",
]

_log = logging.getLogger("semtrace.store")
_BACKOFF_MIN_S = 0.5
_BACKOFF_MAX_S = 30.0
_STATS_EVERY_S = 10.0


class Writer(Protocol):
    """How a process writes one database file: itself (:class:`ResilientWriter`) or through
    the file's owner (:class:`~semtrace.store.remote.RemoteWriter`)."""

    path: str
    spool: Spool

    def write(self, spans: Sequence[SpanRecord] = (), logs: Sequence[LogRecord] = ()) -> bool: ...

    def write_tables(self, tables: Sequence[tuple[str, pa.Table]]) -> bool: ...

    def flush_spool(self) -> int: ...

    def flush(self, timeout_s: float = 30.0) -> bool: ...

    def retry_now(self) -> None: ...

    def close(self) -> None: ...


_writers: dict[str, Writer] = {}
_writers_lock = threading.Lock()


def get_writer(path: str | os.PathLike[str], component: str = "embedded") -> Writer:
    """The process-wide writer of ``path``: the one :func:`set_writer` installed (the owner
    route), else a resilient in-process writer."""
    key = resolve_path(path)
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = ResilientWriter(key, component=component)
        return writer


def set_writer(path: str | os.PathLike[str], writer: Writer | None) -> None:
    """Make ``writer`` this process's writer of ``path`` (None: back to in-process writes);
    the writer it replaces is closed."""
    key = resolve_path(path)
    with _writers_lock:
        old = _writers.pop(key, None)
        if writer is not None:
            _writers[key] = writer
    if old is not None and old is not writer:
        old.close()


class ResilientWriter:
    """Append spans and logs to one database file; spool and retry when it cannot."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_spool_bytes: int = DEFAULT_MAX_SPOOL_BYTES,
        stats: Stats = STATS,
        component: str = "embedded",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = resolve_path(path)
        self.clock = clock
        self.spool = Spool(spool_dir_for(self.path), max_spool_bytes)
        self.stats = stats
        self.component = component
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._inode: tuple[int, int] | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._last_stats = clock()

    # -- public ------------------------------------------------------------------------------
    def write(self, spans: Sequence[SpanRecord] = (), logs: Sequence[LogRecord] = ()) -> bool:
        """Store a batch, or spool it; ``True`` when it reached the database now."""
        if not spans and not logs:
            return True
        started = time.perf_counter()
        tables = batch_tables(spans, logs)
        with self._lock:
            stored = self._try_store(tables)
            if stored:
                self.stats.add(spans_written=len(spans), logs_written=len(logs))
                self.stats.set_latency((time.perf_counter() - started) * 1000)
                self._maybe_write_stats()
                return True
            if self.spool.put(tables, uuid.uuid4().hex):
                self.stats.add(spooled=len(spans) + len(logs))
            else:
                self.stats.add(spans_dropped=len(spans), logs_dropped=len(logs))
                _log.warning("semtrace: spool full at %s; dropped a batch", self.spool.directory)
            return False

    def write_tables(self, tables: Sequence[tuple[str, pa.Table]]) -> bool:
        """Store ``(table_name, arrow_table)`` pairs of other tables (heal_attempts, diagnoses)
        in one transaction, or spool them like :meth:`write`; ``True`` when stored now."""
        batch = [(name, table) for name, table in tables if table.num_rows]
        if not batch:
            return True
        with self._lock:
            if self._try_store(batch):
                self._maybe_write_stats()
                return True
            if not self.spool.put(batch, uuid.uuid4().hex):
                _log.warning("semtrace: spool full at %s; dropped a batch", self.spool.directory)
            return False

    def flush_spool(self) -> int:
        """Replay what was spooled, if the store takes writes; returns batches replayed."""
        with self._lock:
            store = self._open()
            return self._drain(store) if store is not None else 0

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Nothing to wait for: :meth:`write` stores (or spools) before it returns."""
        return True

    def retry_now(self) -> None:
        """Forget the backoff: the next write tries the file at once (tests, ``doctor``)."""
        with self._lock:
            self._retry_at = 0.0

    @property
    def backing_off(self) -> bool:
        """True while writes go to the spool without trying the file (after a failure)."""
        return self.clock() < self._retry_at

    def close(self) -> None:
        with self._lock:
            if self._store is not None and not self._store.closed:
                self._write_stats_row(self._store)
            self._store = None

    # -- internals ---------------------------------------------------------------------------
    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def _open(self) -> Store | None:
        if self.clock() < self._retry_at:
            return None
        store = self._store
        if store is not None and not store.closed and self._file_identity() != self._inode:
            # The file was deleted or replaced under us: writes would go to a dead inode.
            _log.warning("semtrace: %s was deleted or replaced; reopening it", self.path)
            store.close()
            store = self._store = None
        if store is None or store.closed:
            try:
                store = open_store(self.path)
            except Exception as exc:
                self._failed(exc)
                return None
            self._store = store
            self._inode = self._file_identity()
        return store

    def _try_store(self, tables: list[tuple[str, pa.Table]]) -> bool:
        store = self._open()
        if store is None:
            return False
        try:
            self._drain(store)
            store.append_tables(tables)
        except Exception as exc:
            self._failed(exc)
            return False
        self._failures = 0
        return True

    def _drain(self, store: Store) -> int:
        replayed = 0
        for batch in self.spool.batches():
            try:
                if not store.has_batch(batch.batch_id):  # an owner may have stored it
                    store.append_tables(batch.tables)
            except BaseException:
                self.spool.release(batch)
                raise
            self.spool.discard(batch)
            self._count_replayed(batch)
            replayed += 1
        return replayed

    def _count_replayed(self, batch: SpooledBatch) -> None:
        rows = batch.rows
        n = rows.get(schema.SPANS, 0) + rows.get(schema.LOGS, 0)
        self.stats.add(spooled=-n, replayed=n)

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        self.stats.add(export_errors=1, retries=1 if self._failures > 1 else 0)
        delay = min(_BACKOFF_MAX_S, _BACKOFF_MIN_S * 2 ** (self._failures - 1))
        self._retry_at = self.clock() + delay
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = None
        if self._failures == 1:
            _log.warning("semtrace: cannot write %s (%s); spooling until it can", self.path, exc)

    def _maybe_write_stats(self) -> None:
        now = self.clock()
        if now - self._last_stats < _STATS_EVERY_S or self._store is None:
            return
        self._last_stats = now
        self._write_stats_row(self._store)

    def _write_stats_row(self, store: Store) -> None:
        with handle_internal_errors("write semtrace_stats"):
            store.append_arrow(schema.SEMTRACE_STATS, self.stats.as_row(self.component))


def flush_writers(timeout_s: float = 30.0) -> None:
    """Wait until every writer of this process delivered (or spooled) what it was given."""
    with _writers_lock:
        writers = list(_writers.values())
    for writer in writers:
        writer.flush(timeout_s)


def close_writers() -> None:
    """Write a last stats row for every writer of this process and forget them."""
    with _writers_lock:
        writers = list(_writers.values())
        _writers.clear()
    for writer in writers:
        writer.close()
