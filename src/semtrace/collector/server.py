"""``semtrace serve``: an OTLP/HTTP receiver that owns one DuckDB file and answers SQL.

Endpoints (all behind an optional bearer token):

- ``POST /v1/traces``, ``POST /v1/logs``: OTLP/HTTP, ``application/x-protobuf`` or
  ``application/json``, optionally gzip/deflate; 200 only after the records are committed.
- ``POST /v1/metrics``: 404 with a clear reason (semtrace stores traces and logs).
- ``POST /v1/query``: ``{"sql": ..., "params": [...], "format": "json"|"arrow", "limit": n}``,
  read-only (see :mod:`semtrace.collector.sql`).
- ``GET /health``: status and counters as JSON.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from semtrace import redaction
from semtrace.collector._http import Handler, HttpError, Server
from semtrace.collector._workers import DecodePool
from semtrace.collector.announce import Announcement, remove_announcement, write_announcement
from semtrace.collector.ingest import IngestClosed, IngestQueue, QueueFull, Ticket
from semtrace.collector.sql import SqlSandbox, lock_down
from semtrace.store.database import Store, resolve_path

__all__ = ["ENV_TOKEN", "Collector", "CollectorConfig"]

ENV_TOKEN = "SEMTRACE_TOKEN"


@dataclass(frozen=True)
class CollectorConfig:
    """How a collector listens and how much it takes before pushing back."""

    db: str
    host: str = "127.0.0.1"
    port: int = 4318  # 0 picks a free port (tests)
    token: str | None = None
    max_body_bytes: int = 64 * 1024 * 1024  # after decompression, as the OTLP spec says
    max_pending: int = 16_384  # records waiting for a commit before 429
    max_inflight: int = 8  # requests being read/decoded/queued at once before 429
    # Decoding is pure Python: more decoders than this only fight the writer for the GIL.
    max_decoders: int = 1
    # Worker processes decoding bodies into Arrow tables (0: decode in request threads).
    decode_workers: int = 0
    ack_timeout_s: float = 30.0  # a request waits this long for its commit, then 503
    retry_after_s: int = 1
    query_max_rows: int = 100_000
    query_timeout_s: float = 30.0


class Collector:
    """The collector process's core: HTTP server, group-commit queue, SQL sandbox, announcement."""

    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        self.db = resolve_path(config.db)
        self.store = Store(self.db)
        redaction.use_database(self.db)  # the key agents writing this file use too
        # DuckDB checkpoints when its WAL reaches 16 MB (~22,000 spans), re-compressing the
        # last, partly filled row group each time: at 64 MB ingest costs ~2 us/span less CPU.
        self.store.execute("SET checkpoint_threshold = '64MB'")
        lock_down(self.store.cursor())
        self.ingest = IngestQueue(self.store, max_pending=config.max_pending)
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
        write_announcement(
            Announcement(
                url=self.url,
                pid=os.getpid(),
                db=self.db,
                token_required=self.config.token is not None,
                started_at=self.started_at,
            )
        )

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
            if self.pool is not None:
                self.pool.shutdown()
            remove_announcement(self.db, pid=os.getpid())
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
        return {
            "status": "closing" if self._closing else "ok",
            "db": self.db,
            "pid": os.getpid(),
            "url": self.url,
            "pending": self.ingest.pending,
            "spans_committed": st.spans_committed,
            "logs_committed": st.logs_committed,
            "commits": st.commits,
            "refused_full": st.refused_full,
            "failed": st.failed,
            "pending_peak": st.pending_peak,
            "decode_seconds": round(st.decode_seconds, 6),
            "commit_seconds": round(st.commit_seconds, 6),
        }

    def submit(self, spans: list[Any], logs: list[Any]) -> Ticket | None:
        """Queue records for the next group commit (raises HttpError on push-back)."""
        if not spans and not logs:
            return None
        return self._submit(lambda: self.ingest.submit(spans, logs))

    def submit_tables(self, tables: list[Any], *, spans: int, logs: int) -> Ticket | None:
        """Queue a decode worker's Arrow tables for the next group commit."""
        if not spans and not logs:
            return None
        return self._submit(
            lambda: self.ingest.submit((), (), tables=tables, table_spans=spans, table_logs=logs)
        )

    def _submit(self, submit: Callable[[], Ticket]) -> Ticket:
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
