"""Group commits: many HTTP requests, one writer thread, one DuckDB transaction per round.

Request threads decode their body into Arrow tables and :meth:`IngestQueue.submit` them; the
writer thread takes everything pending, appends it in one transaction (one commit) and then
releases every request in that commit. A request is answered 200 only after the commit
holding its records returned, so an acknowledged span survives ``kill -9``. Memory is
bounded by records and by bytes: when more than ``max_pending`` records or
``max_pending_bytes`` bytes wait, ``submit`` refuses (the server answers 429 with
``Retry-After``) instead of queueing more. After each successful commit the committed tables
go to ``on_commit`` (the collector's commit hooks).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import pyarrow as pa

from semtrace.collector._workers import group_tables
from semtrace.store.batching import MAX_QUEUED_RECORDS
from semtrace.store.database import Store

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
    commit_seconds: float = 0.0  # in Store.append_tables (DuckDB's append and commit)
    decode_seconds: float = 0.0  # in request threads: a body -> Arrow tables
    pending_peak: int = 0
    pending_bytes_peak: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_decode(self, seconds: float) -> None:
        with self._lock:
            self.decode_seconds += seconds


@dataclass
class _Pending:
    tables: list[tuple[str, pa.Table]] = field(default_factory=list)
    spans: int = 0
    logs: int = 0
    tickets: list[Ticket] = field(default_factory=list)
    size: int = 0  # records (spans and logs)
    nbytes: int = 0


class IngestQueue:
    """Bounded queue of decoded tables and the one thread that commits them to a Store."""

    def __init__(
        self,
        store: Store,
        *,
        max_pending: int = MAX_QUEUED_RECORDS,
        max_pending_bytes: int = 128 * 1024 * 1024,
        linger_s: float = 0.02,
        min_commit: int = 8_192,
        on_commit: Callable[[Sequence[tuple[str, pa.Table]]], None] | None = None,
    ) -> None:
        self.store = store
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        # A commit has a fixed cost (about 3 ms in DuckDB, a WAL write), so a commit of 512
        # spans costs twice the CPU per span of one of 4,096: while requests are still being
        # decoded, the writer waits up to ``linger_s`` for them to join its commit (never
        # past ``min_commit`` records).
        self.linger_s = linger_s
        self.min_commit = min_commit
        self.on_commit = on_commit
        self._decoding = 0
        self.stats = IngestStats()
        self._pending = _Pending()
        self._cond = threading.Condition()
        self._closed = False
        self._hold = threading.Lock()  # taken around each commit; paused() holds it
        self._thread = threading.Thread(target=self._run, name="semtrace-ingest", daemon=True)
        self._thread.start()

    @property
    def full(self) -> bool:
        """True while the queue holds its bound of records or bytes: a request arriving now
        would be refused after decoding, so it is refused before (no work wasted)."""
        p = self._pending
        return p.size >= self.max_pending or p.nbytes >= self.max_pending_bytes

    @property
    def pending(self) -> int:
        """How many records wait for a commit."""
        return self._pending.size

    @property
    def pending_bytes(self) -> int:
        """How many bytes of Arrow tables wait for a commit."""
        return self._pending.nbytes

    def submit(
        self,
        tables: Sequence[tuple[str, pa.Table]],
        *,
        spans: int = 0,
        logs: int = 0,
        wait_s: float = 0.0,
    ) -> Ticket:
        """Queue Arrow tables holding ``spans`` spans and ``logs`` logs for the next commit.

        Raises QueueFull when the bound would be passed (after waiting up to ``wait_s`` for
        room), or IngestClosed. A request larger than the bound on its own is taken when
        nothing else waits (the caller splits requests to the bound first)."""
        size = spans + logs
        nbytes = sum(t.nbytes for _, t in tables)
        ticket = Ticket(size)
        deadline = time.monotonic() + wait_s
        with self._cond:
            while True:
                if self._closed:
                    raise IngestClosed("the collector is shutting down")
                p = self._pending
                over = (
                    p.size + size > self.max_pending or p.nbytes + nbytes > self.max_pending_bytes
                )
                if not (p.tickets and over):
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stats.refused_full += 1
                    raise QueueFull(f"{p.size} records ({p.nbytes} bytes) wait for a commit")
                self._cond.wait(left)
            p.tables.extend(tables)
            p.spans += spans
            p.logs += logs
            p.tickets.append(ticket)
            p.size += size
            p.nbytes += nbytes
            self.stats.pending_peak = max(self.stats.pending_peak, p.size)
            self.stats.pending_bytes_peak = max(self.stats.pending_bytes_peak, p.nbytes)
            self._cond.notify_all()
        return ticket

    @contextmanager
    def decoding(self) -> Iterator[None]:
        """``with queue.decoding():`` around a request's decode, so the writer knows more
        records are coming and may wait for them (see ``linger_s``)."""
        with self._cond:
            self._decoding += 1
        try:
            yield
        finally:
            with self._cond:
                self._decoding -= 1
                self._cond.notify_all()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the writer before its next commit (maintenance, tests of push-back): what it
        took waits, and new records queue up to the bound."""
        with self._hold:
            yield

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
            self._cond.notify_all()  # room for submitters waiting on the bound
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
        tables = group_tables(batch.tables)
        try:
            with self._hold:
                self.store.append_tables(tables)
        except Exception as exc:  # the senders get a 503 and retry; the collector keeps going
            _log.error("semtrace collector: commit of %d records failed", batch.size, exc_info=True)
            error = exc
        elapsed = time.perf_counter() - started
        st = self.stats
        if error is None:
            st.spans_committed += batch.spans
            st.logs_committed += batch.logs
            st.commits += 1
        else:
            st.failed += batch.size
        st.commit_seconds += elapsed
        for ticket in batch.tickets:
            ticket._finish(error)
        if error is None and self.on_commit is not None:
            self.on_commit(tables)

    def close(self, timeout_s: float = 60.0) -> None:
        """Refuse new records, commit everything accepted so far, stop the writer thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
