"""``semtrace serve``: an OTLP/HTTP receiver that owns one DuckDB file and answers SQL.

Endpoints (all behind an optional bearer token):

- ``POST /v1/traces``, ``POST /v1/logs``: OTLP/HTTP, ``application/x-protobuf`` or
  ``application/json``, optionally gzip/deflate, ``Content-Length`` or chunked; 200 only
  after the records are committed. A request over the body limit is 413; one holding more
  records (or bytes) than the queue's bound is split into several commits.
- ``POST /v1/metrics``: 404 with a clear reason (semtrace stores traces and logs).
- ``POST /v1/query``: ``{"sql": ..., "params": [...], "format": "json"|"arrow", "limit": n}``,
  read-only (see :mod:`semtrace.collector.sql`).
- ``POST /v1/records?table=NAME``: rows for diagnoses and heal attempts (see ``records``).
- ``GET /health``: status and counters as JSON.

Other modules add routes and commit hooks (:mod:`semtrace.collector.extensions`):
``collector.routes.add(...)`` and ``collector.hooks.add(...)`` on a running collector, or
``add_route``/``add_commit_hook`` for every collector started afterwards.
"""

from __future__ import annotations

import contextlib
import faulthandler
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from semtrace import redaction
from semtrace.collector._http import BUILTIN_ROUTES, Handler, Server
from semtrace.collector._workers import DecodedTables, DecodePool
from semtrace.collector.answers import ANSWER_ROUTES
from semtrace.collector.batches import batches_route
from semtrace.collector.extensions import (
    CommitHooks,
    HttpError,
    registered_commit_hooks,
    registered_routes,
)
from semtrace.collector.ingest import IngestClosed, IngestQueue, QueueFull, Ticket
from semtrace.collector.records import records_route
from semtrace.collector.sql import SqlSandbox, lock_down
from semtrace.config import ENV_TOKEN
from semtrace.lake.sink import DEFAULT_SETTLE_S, LakeSink
from semtrace.store import schema
from semtrace.store.batching import MAX_QUEUED_RECORDS
from semtrace.store.database import SERVER_MEMORY_LIMIT, Store, resolve_path
from semtrace.store.ownership import Announcement, remove_announcement, write_announcement

__all__ = ["ENV_TOKEN", "Collector", "CollectorConfig"]


@dataclass(frozen=True)
class CollectorConfig:
    """How a collector listens and how much it takes before pushing back."""

    db: str
    host: str = "127.0.0.1"
    port: int = 4318  # 0 picks a free port (tests)
    token: str | None = None
    max_body_bytes: int = 64 * 1024 * 1024  # after decompression, as the OTLP spec says
    max_pending: int = MAX_QUEUED_RECORDS  # records waiting for a commit before 429
    max_pending_bytes: int = 128 * 1024 * 1024  # bytes of Arrow tables waiting, before 429
    max_inflight: int = 8  # requests being read/decoded/queued at once before 429
    # Decoding is pure Python: more decoders than this only fight the writer for the GIL.
    max_decoders: int = 1
    # Worker processes decoding bodies into Arrow tables (0: decode in request threads).
    decode_workers: int = 0
    ack_timeout_s: float = 30.0  # a request waits this long for its commit, then 503
    retry_after_s: int = 1
    query_max_rows: int = 100_000
    query_timeout_s: float = 30.0
    # Stop after this long with no connection, no request and nothing pending (None: never).
    idle_timeout_s: float | None = None
    on_demand: bool = False  # started by ensure_owner for a process that needed the file
    lake: str | None = None  # a Parquet lake folder every commit is published to
    lake_settle_s: float = DEFAULT_SETTLE_S  # rows reach the lake once this old


class Collector:
    """The collector process's core: HTTP server, group-commit queue, SQL sandbox, announcement."""

    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        self.db = resolve_path(config.db)
        self.store = Store(self.db, memory_limit=SERVER_MEMORY_LIMIT)
        redaction.use_database(self.db)  # the key agents writing this file use too
        # DuckDB checkpoints when its WAL reaches 16 MB (~22,000 spans), re-compressing the
        # last, partly filled row group each time: at 64 MB ingest costs ~2 us/span less CPU.
        self.store.execute("SET checkpoint_threshold = '64MB'")
        lock_down(self.store.cursor())
        try:  # recovers the lake's last cycle; its thread starts with the collector
            self.lake = (
                LakeSink(self.store, config.lake, settle_s=config.lake_settle_s)
                if config.lake
                else None
            )
        except BaseException:
            self.store.close()
            raise
        self.hooks = CommitHooks(registered_commit_hooks())
        if self.lake is not None:
            self.hooks.add(self.lake.notify)  # wakes the sink early on a file's worth of rows
        self.routes = registered_routes()
        for method, path, route in [
            *BUILTIN_ROUTES,
            ("POST", "/v1/records", records_route),
            ("POST", "/v1/batches", batches_route),
            *ANSWER_ROUTES,
        ]:
            self.routes.add(method, path, route)
        self.ingest = IngestQueue(
            self.store,
            max_pending=config.max_pending,
            max_pending_bytes=config.max_pending_bytes,
            on_commit=self.hooks.committed,
        )
        self.pool = (
            DecodePool(config.decode_workers, self.db) if config.decode_workers > 0 else None
        )
        self.sandbox = SqlSandbox(
            self.store.cursor, max_rows=config.query_max_rows, timeout_s=config.query_timeout_s
        )
        try:
            self._server = Server((config.host, config.port), Handler)
        except OSError:
            self.ingest.close()
            if self.pool is not None:
                self.pool.shutdown()
            self.store.close()  # the port is taken: leave the file free for its next owner
            raise
        self._server.collector = self
        self._inflight = threading.BoundedSemaphore(config.max_inflight)
        self._decoding = threading.BoundedSemaphore(config.max_decoders)
        self._connections: dict[int, Handler] = {}
        self._conn_lock = threading.Lock()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.started_at = time.time()
        self._last_activity = time.monotonic()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def closing(self) -> bool:
        return self._closing

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Serve in a background thread and announce ownership of the file (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how fast stop() ends the accept loop
            name="semtrace-http",
            daemon=True,
        )
        self._thread.start()
        if self.lake is not None:
            self.lake.start()
        write_announcement(
            Announcement(
                url=self.url,
                pid=os.getpid(),
                db=self.db,
                token=self.config.token,
                started_at=self.started_at,
                on_demand=self.config.on_demand,
            )
        )
        if self.config.idle_timeout_s is not None:
            threading.Thread(target=self._watch_idle, name="semtrace-idle", daemon=True).start()

    def touch(self) -> None:
        """Note activity (a request): the idle clock starts again."""
        self._last_activity = time.monotonic()

    def idle_for(self) -> float:
        """Seconds without a connection, a request or a pending record (0 while busy)."""
        with self._conn_lock:
            connected = bool(self._connections)
        if connected or self.ingest.pending or self.hooks.pending:
            self._last_activity = time.monotonic()
            return 0.0
        return time.monotonic() - self._last_activity

    def _watch_idle(self) -> None:
        timeout = self.config.idle_timeout_s
        assert timeout is not None
        while not self._stopped.wait(min(1.0, max(0.05, timeout / 4))):
            if not self._closing and self.idle_for() >= timeout:
                self.stop()
                return

    def serve_forever(self) -> None:
        """Start and block until :meth:`stop` (a signal handler calls it) has finished."""
        self.start()
        # Wait in short slices: a signal delivered to another thread only runs its Python
        # handler once the main thread executes bytecode again.
        while not self._stopped.wait(0.2):
            pass

    def serve_until_signal(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop gracefully (the process's main loop).

        ``kill -USR1 <pid>`` prints every thread's stack, for a collector that seems stuck."""

        def on_signal(signum: int, frame: object) -> None:
            # stop() joins request threads: run it off the main thread's signal frame.
            threading.Thread(target=self.stop, name="semtrace-stop", daemon=True).start()

        if hasattr(signal, "SIGUSR1"):
            faulthandler.register(signal.SIGUSR1)
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.serve_forever()

    def stop(self) -> None:
        """Stop accepting, answer what was accepted (committing it), close the file."""
        if self._closing:
            self._stopped.wait()
            return
        self._closing = True
        try:
            self._server.shutdown()  # the accept loop ends; open connections continue
            self._close_idle_connections()
            self._server.server_close()  # joins request threads (each waits for its commit)
            self.ingest.close()
            self.hooks.close()
            if self.pool is not None:
                self.pool.shutdown()
            if self.lake is not None:
                self.lake.close()  # publish the last commits before the file closes
            remove_announcement(self.db, pid=os.getpid())
            with contextlib.suppress(Exception):
                self.store.checkpoint()  # the next opener finds a clean file, no WAL to replay
            self.store.close()
        finally:
            self._stopped.set()

    def _close_idle_connections(self) -> None:
        with self._conn_lock:
            handlers = list(self._connections.values())
        for h in handlers:
            if not h.busy:
                with contextlib.suppress(OSError):
                    h.connection.shutdown(socket.SHUT_RDWR)

    def register(self, handler: Handler, alive: bool) -> None:
        with self._conn_lock:
            if alive:
                self._connections[id(handler)] = handler
            else:
                self._connections.pop(id(handler), None)

    # -- request work (called from handler threads) -----------------------------------------
    def health(self) -> dict[str, Any]:
        st = self.ingest.stats
        with self._conn_lock:
            handlers = list(self._connections.values())
        connections = len(handlers)
        # writers: distinct senders of batches (one agent keeps several connections)
        writers = len({w for h in handlers if (w := getattr(h, "state", {}).get("writer"))})
        return {
            "status": "closing" if self._closing else "ok",
            "db": self.db,
            "pid": os.getpid(),
            "url": self.url,
            "started_at": self.started_at,
            "uptime_s": round(time.time() - self.started_at, 3),
            "on_demand": self.config.on_demand,
            "idle_timeout_s": self.config.idle_timeout_s,
            "connections": connections,
            "writers": writers,
            "pending": self.ingest.pending,
            "pending_bytes": self.ingest.pending_bytes,
            "spans_committed": st.spans_committed,
            "logs_committed": st.logs_committed,
            "commits": st.commits,
            "refused_full": st.refused_full,
            "failed": st.failed,
            "pending_peak": st.pending_peak,
            "pending_bytes_peak": st.pending_bytes_peak,
            "decode_seconds": round(st.decode_seconds, 6),
            "commit_seconds": round(st.commit_seconds, 6),
            "hooks_pending": self.hooks.pending,
            "hooks_dropped": self.hooks.dropped,
            "hook_errors": self.hooks.errors,
            **({"lake": self.lake.health()} if self.lake is not None else {}),
        }

    @contextmanager
    def decoding_slot(self) -> Iterator[None]:
        """One of ``max_decoders`` slots for decoding in a request thread."""
        with self._decoding:
            yield

    def admit(
        self, decode: Callable[[], DecodedTables], *, room_wait_s: float = 0.0
    ) -> DecodedTables:
        """Read, decode and commit one request's records; returns once they are committed.

        ``decode`` reads the body and returns its tables. Raises HttpError: 429 while too many
        requests are in flight or the queue is full (after waiting up to ``room_wait_s`` for
        room, for senders that would only wait and send it again), 503 when the commit
        failed or took too long. A request holding more records or bytes than the queue's
        bound goes in several commits, so the queue never holds more than its bound."""
        retry = self.config.retry_after_s
        if self._closing:
            raise HttpError(503, "the collector is shutting down", retry_after=5)
        if not self._inflight.acquire(blocking=False):
            raise HttpError(429, "too many requests in flight", retry_after=retry)
        try:
            if self.ingest.full and not room_wait_s:  # refuse before decoding in vain
                self.ingest.stats.refused_full += 1
                raise HttpError(
                    429,
                    f"too many records wait for a commit ({self.ingest.pending})",
                    retry_after=retry,
                )
            # Counted from reading to queueing: the writer may wait for these records to
            # join its commit (IngestQueue.linger_s).
            with self.ingest.decoding():
                decoded = decode()
                parts = _split(
                    decoded.tables,
                    decoded.records,
                    self.config.max_pending,
                    self.config.max_pending_bytes // 2,
                )
                first = self._submit(parts[0], wait_s=room_wait_s) if parts else None
        finally:
            self._inflight.release()
        self.wait_for_commit(first)
        for part in parts[1:]:
            # Earlier parts are committed: wait for room rather than refuse (a retry of
            # the whole request would store those parts twice).
            self.wait_for_commit(self._submit(part, wait_s=self.config.ack_timeout_s))
        return decoded

    def _submit(
        self, part: tuple[list[tuple[str, pa.Table]], int], *, wait_s: float
    ) -> Ticket | None:
        tables = [(name, t) for name, t in part[0] if t.num_rows]
        if not tables:
            return None
        spans = sum(t.num_rows for name, t in tables if name == schema.SPANS)
        logs = sum(t.num_rows for name, t in tables if name == schema.LOGS)
        return self._queue(
            lambda: self.ingest.submit(tables, spans=spans, logs=logs, wait_s=wait_s)
        )

    def _queue(self, submit: Callable[[], Ticket]) -> Ticket:
        if self._closing:
            raise HttpError(503, "the collector is shutting down", retry_after=5)
        try:
            ticket = submit()
        except QueueFull as exc:
            raise HttpError(
                429,
                f"too many records wait for a commit ({exc})",
                retry_after=self.config.retry_after_s,
            ) from None
        except IngestClosed:
            raise HttpError(503, "the collector is shutting down", retry_after=5) from None
        return ticket

    def wait_for_commit(self, ticket: Ticket | None) -> None:
        """Block until the commit holding ``ticket`` finished (HttpError 503 if it failed)."""
        if ticket is None:
            return
        try:
            committed = ticket.wait(self.config.ack_timeout_s)
        except Exception as exc:
            raise HttpError(
                503,
                f"the records could not be committed: {exc}",
                retry_after=self.config.retry_after_s,
            ) from None
        if not committed:
            raise HttpError(
                503, "the commit did not finish in time", retry_after=self.config.retry_after_s
            )


def _split(
    tables: list[tuple[str, pa.Table]], records: int, max_records: int, max_bytes: int
) -> list[tuple[list[tuple[str, pa.Table]], int]]:
    """One request's tables in parts of at most ``max_records`` records and about
    ``max_bytes`` bytes each, every table sliced in the same proportion."""
    nbytes = sum(t.nbytes for _, t in tables)
    n = max(1, math.ceil(records / max(1, max_records)), math.ceil(nbytes / max(1, max_bytes)))
    if n == 1:
        return [(tables, records)]
    parts: list[tuple[list[tuple[str, pa.Table]], int]] = []
    for k in range(n):
        lo, hi = records * k // n, records * (k + 1) // n
        part = []
        for name, table in tables:
            start, stop = table.num_rows * k // n, table.num_rows * (k + 1) // n
            if stop > start:
                part.append((name, table.slice(start, stop - start)))
        parts.append((part, hi - lo))
    return parts
