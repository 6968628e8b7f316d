"""Group commits: many HTTP requests, one writer thread, one DuckDB transaction per round.

Request threads decode their body and :meth:`IngestQueue.submit` the records; the writer
thread takes everything pending, writes it with one :meth:`Store.write_batch` (one commit)
and then releases every request in that commit. A request is answered 200 only after the
commit holding its records returned, so an acknowledged span survives ``kill -9``.
Memory is bounded: when more than ``max_pending`` records wait, ``submit`` refuses
(the server answers 429 with ``Retry-After``) instead of queueing more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from semtrace.collector._workers import group_tables
from semtrace.collector.otlp_decode import SpanRows
from semtrace.store import logs_table, record_row, schema, spans_tables
from semtrace.store.database import Store
from semtrace.store.model import LogRecord, SpanRecord

__all__ = ["IngestClosed", "IngestQueue", "IngestStats", "QueueFull", "Ticket"]

_log = logging.getLogger("semtrace.collector")


class QueueFull(Exception):
    """More records wait for a commit than the queue may hold: push back on the sender."""


class IngestClosed(Exception):
    """The collector is shutting down and takes no new records."""


class Ticket:
    """A request's place in a group commit: wait on it for the commit's outcome."""

    __slots__ = ("_done", "error", "size")

    def __init__(self, size: int) -> None:
        self._done = threading.Event()
        self.error: BaseException | None = None
        self.size = size

    def wait(self, timeout_s: float) -> bool:
        """True once committed; False on timeout; raises the commit's error if it failed."""
        if not self._done.wait(timeout_s):
            return False
        if self.error is not None:
            raise self.error
        return True

    def _finish(self, error: BaseException | None) -> None:
        self.error = error
        self._done.set()


@dataclass
class IngestStats:
    """Counters the health endpoint and the benchmark read."""

    spans_committed: int = 0
    logs_committed: int = 0
    commits: int = 0
    refused_full: int = 0
    failed: int = 0
    commit_seconds: float = 0.0  # in Store.write_batch: to Arrow (normalise, redact) + append
    decode_seconds: float = 0.0  # in request threads: OTLP body -> domain records
    pending_peak: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_decode(self, seconds: float) -> None:
        with self._lock:
            self.decode_seconds += seconds


@dataclass
class _Pending:
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # spans as SpanRow tuples
    logs: list[LogRecord] = field(default_factory=list)
    tables: list[tuple[str, pa.Table]] = field(default_factory=list)  # from decode workers
    table_spans: int = 0
    table_logs: int = 0
    tickets: list[Ticket] = field(default_factory=list)
    size: int = 0


class _Decoding:
    """Counts a request whose records are being decoded (the writer may wait for them)."""

    __slots__ = ("_queue",)

    def __init__(self, queue: IngestQueue) -> None:
        self._queue = queue

    def __enter__(self) -> None:
        q = self._queue
        with q._cond:
            q._decoding += 1

    def __exit__(self, *exc: object) -> None:
        q = self._queue
        with q._cond:
            q._decoding -= 1
            q._cond.notify_all()


class IngestQueue:
    """Bounded queue of decoded records and the one thread that commits them to a Store."""

    def __init__(
        self,
        store: Store,
        *,
        max_pending: int = 16_384,
        linger_s: float = 0.02,
        min_commit: int = 8_192,
    ) -> None:
        self.store = store
        self.max_pending = max_pending
        # A commit has a fixed cost (about 3 ms in DuckDB, a WAL write), so a commit of 512
        # spans costs twice the CPU per span of one of 4,096: while requests are still being
        # decoded, the writer waits up to ``linger_s`` for them to join its commit (never
        # past ``min_commit`` records).
        self.linger_s = linger_s
        self.min_commit = min_commit
        self._decoding = 0
        self.stats = IngestStats()
        self._pending = _Pending()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="semtrace-ingest", daemon=True)
        self._thread.start()

    @property
    def full(self) -> bool:
        """True while the queue holds ``max_pending`` records or more: a request arriving now
        would be refused after decoding, so it is refused before (no work wasted)."""
        return self._pending.size >= self.max_pending

    @property
    def pending(self) -> int:
        """How many records wait for a commit."""
        return self._pending.size

    def submit(
        self,
        spans: Sequence[SpanRecord],
        logs: Sequence[LogRecord] = (),
        *,
        rows: Sequence[tuple[Any, ...]] = (),
        tables: Sequence[tuple[str, pa.Table]] = (),
        table_spans: int = 0,
        table_logs: int = 0,
    ) -> Ticket:
        """Queue records, span rows (``SpanRow`` tuples from the protobuf decoder) or Arrow tables holding that many spans and logs, made by a
        decode worker) for the next commit; raises QueueFull or IngestClosed."""
        size = len(spans) + len(rows) + len(logs) + table_spans + table_logs
        ticket = Ticket(size)
        with self._cond:
            if self._closed:
                raise IngestClosed("the collector is shutting down")
            p = self._pending
            # An oversized single request is still taken when nothing else waits.
            if p.size and p.size + size > self.max_pending:
                self.stats.refused_full += 1
                raise QueueFull(f"{p.size} records wait for a commit")
            if rows:
                p.rows.extend(rows)
            if spans:
                p.rows.extend(map(record_row, spans))
            p.logs.extend(logs)
            if tables:
                p.tables.extend(tables)
                p.table_spans += table_spans
                p.table_logs += table_logs
            p.tickets.append(ticket)
            p.size += size
            self.stats.pending_peak = max(self.stats.pending_peak, p.size)
            self._cond.notify()
        return ticket

    def decoding(self) -> _Decoding:
        """``with queue.decoding():`` around a request's decode, so the writer knows more
        records are coming and may wait for them (see ``linger_s``)."""
        return _Decoding(self)

    def _take(self) -> _Pending | None:
        with self._cond:
            while not self._pending.tickets:
                if self._closed:
                    return None
                self._cond.wait()
            if self._decoding and self.linger_s > 0:
                deadline = time.monotonic() + self.linger_s
                while self._decoding and self._pending.size < self.min_commit and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            taken, self._pending = self._pending, _Pending()
            return taken

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            self._commit(batch)

    def _commit(self, batch: _Pending) -> None:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            self._write_tables(batch)
        except Exception as exc:  # the senders get a 503 and retry; the collector keeps going
            _log.error("semtrace collector: commit of %d records failed", batch.size, exc_info=True)
            error = exc
        elapsed = time.perf_counter() - started
        st = self.stats
        if error is None:
            st.spans_committed += len(batch.rows) + batch.table_spans
            st.logs_committed += len(batch.logs) + batch.table_logs
            st.commits += 1
        else:
            st.failed += batch.size
        st.commit_seconds += elapsed
        for ticket in batch.tickets:
            ticket._finish(error)

    def _write_tables(self, batch: _Pending) -> None:
        """Worker-made tables and any decoded records, in one transaction."""
        tables = list(batch.tables)
        if batch.rows:
            spans_t, events_t, links_t = spans_tables(SpanRows(batch.rows))
            tables += [
                (schema.SPANS, spans_t),
                (schema.SPAN_EVENTS, events_t),
                (schema.SPAN_LINKS, links_t),
            ]
        if batch.logs:
            tables.append((schema.LOGS, logs_table(batch.logs)))
        self.store.append_tables(group_tables(tables))

    def close(self, timeout_s: float = 60.0) -> None:
        """Refuse new records, commit everything accepted so far, stop the writer thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
