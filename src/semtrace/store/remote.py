"""The writer of a process that does not own its database file: batches go to the owner.

An agent in owner mode (and any process whose file a live owner announced, or that was
pointed at a collector with ``endpoint=``) builds the same Arrow tables the embedded writer
would and sends them, framed (:func:`~semtrace.store.spool.encode_tables`), to the owner's
``POST /v1/batches``. The owner answers once they are committed. Nothing costs the agent more
than the embedded writer (no OTLP protobuf built in Python), and the agent never waits on
DuckDB: this runs on the exporter's background thread.

What cannot be delivered is never lost without a count:

- 429, 502, 503 and 504 (OTLP's retryable answers) are retried, honouring ``Retry-After``
  (seconds or an HTTP date), for up to ``max_retry_s``; every resend is counted
  (``semtrace_stats.retries``): these, a batch sent again on a new connection after a kept-alive
  one broke, and the first attempt after a failure.
- An owner that does not answer (gone, killed) is a failure (``export_errors``): the batch goes
  to the spool beside the database (``spooled``), and the owner is looked up again off the
  sender's thread (``resolve`` starts a new one in owner mode) while later batches are spooled
  too. Once an owner answers, the spool is replayed to it, oldest first (``replayed``); replays
  carry the batch's id, so a batch committed just before its owner died is not stored twice.
- A batch the owner refuses for good (400) is dropped and counted (``spans_dropped``).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import pyarrow as pa

from semtrace._errors import handle_internal_errors
from semtrace._retry_after import retry_after_seconds
from semtrace.store import schema
from semtrace.store.batching import MAX_QUEUED_RECORDS
from semtrace.store.database import batch_tables, resolve_path
from semtrace.store.model import LogRecord, SpanRecord
from semtrace.store.spool import DEFAULT_MAX_SPOOL_BYTES, Spool, encode_tables, spool_dir_for
from semtrace.store.stats import STATS, Stats

__all__ = [
    "BATCHES_PATH",
    "BATCH_HEADER",
    "BATCH_TYPE",
    "MAX_REQUEST_RECORDS",
    "REPLAY_HEADER",
    "SENDERS",
    "WRITER_HEADER",
    "RemoteWriter",
    "Target",
    "Undeliverable",
]

BATCHES_PATH = "/v1/batches"
BATCH_TYPE = "application/vnd.semtrace.batch"
BATCH_HEADER = "X-Semtrace-Batch"
REPLAY_HEADER = "X-Semtrace-Replay"  # "1": the owner checks the id was not committed before
WRITER_HEADER = "X-Semtrace-Writer"  # one id per writer: its connections count as one writer
RETRYABLE = frozenset({429, 502, 503, 504})
_STATS_EVERY_S = 10.0
_SPOOL_CHECK_EVERY_S = 5.0
_REPLAY_PER_WRITE = 16  # batches replayed before the next new batch is sent
# Batches waiting for the sender, and what one request may carry: while a request is out the
# next ones queue up to this, and go together (one owner commit of up to half its queue's
# bound instead of one per batch: a commit costs the owner per request, and an agent's
# batches come faster than one round trip each).
MAX_REQUEST_RECORDS = MAX_QUEUED_RECORDS // 2
MAX_REQUEST_BYTES = 32 * 1024 * 1024
# Requests out at once: while the owner commits one, it reads and decodes the next, so
# neither waits on the other's round trip (one agent's throughput: about 1.7x one sender).
SENDERS = 2
_BACKOFF_MIN_S = 0.25
_BACKOFF_MAX_S = 5.0

_log = logging.getLogger("semtrace.store")


@dataclass(frozen=True)
class Target:
    """Where batches go: the owner's base URL and its token."""

    url: str
    token: str | None = None


@dataclass(frozen=True, slots=True)
class _Batch:
    """One hand-over waiting for the sender."""

    tables: list[tuple[str, pa.Table]]
    spans: int
    logs: int
    nbytes: int

    @property
    def records(self) -> int:
        return self.spans + self.logs


class Undeliverable(Exception):
    """The batch could not be delivered now (``permanent``: it never will be)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class RemoteWriter:
    """Send spans, logs and other tables to the owner of ``db``; spool what cannot go.

    ``resolve`` returns where to send (it may start an owner; it raises when none can be had):
    called on the sender's thread until an owner was found once, then, after that owner stopped
    answering, on a thread of its own while batches are spooled. ``clock`` and ``sleep`` are
    injectable so tests need not wait for backoffs, ``wall_clock`` so that a ``Retry-After``
    date is measured from a known time.
    """

    def __init__(
        self,
        db: str,
        resolve: Callable[[], Target],
        *,
        stats: Stats = STATS,
        component: str = "agent",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        timeout_s: float = 60.0,
        max_retry_s: float = 10.0,
        max_spool_bytes: int = DEFAULT_MAX_SPOOL_BYTES,
        pipeline: bool = True,
    ) -> None:
        self.path = resolve_path(db)
        # Pipelined: SENDERS threads deliver what was handed over while the caller builds
        # the next batches, which wait (up to MAX_REQUEST_RECORDS/BYTES) and go together in
        # the next request a free sender takes; the caller only waits when that much waits.
        self.pipeline = pipeline
        self.resolve = resolve
        self.stats = stats
        self.component = component
        self.clock = clock
        self.sleep = sleep
        self.wall_clock = wall_clock
        self.timeout_s = timeout_s
        self.max_retry_s = max_retry_s
        self.spool = Spool(spool_dir_for(self.path), max_spool_bytes)
        self.writer_id = uuid.uuid4().hex
        self._lock = threading.Lock()  # the state below; never held across a request
        self._replaying = threading.Lock()  # one replay of the spool at a time
        self._target: Target | None = None
        self._found = False  # an owner was found once: later lookups run off the sender
        self._finder: threading.Thread | None = None  # looking up a new owner
        self._conns: list[http.client.HTTPConnection] = []  # kept alive, not in use
        self._failures = 0
        self._retry_at = 0.0
        self._spool_check_at = 0.0  # look for batches left by earlier runs at once
        self._last_stats = clock()
        self.closed = False
        self._cond = threading.Condition()
        self._outbox: deque[_Batch] = deque()
        self._waiting_records = 0
        self._waiting_bytes = 0
        self._sending = 0  # requests taken from the outbox and not yet delivered or spooled
        self._senders: list[threading.Thread] = []

    # -- public ------------------------------------------------------------------------------
    def connect(self) -> bool:
        """Find (or start) the owner now rather than at the first batch; False if none."""
        with self._lock:
            if self._target is not None:
                return True
            try:
                self._target = self.resolve()
            except Exception as exc:
                _log.warning(
                    "semtrace: no owner for %s yet (%s); spooling until one", self.path, exc
                )
                return False
            self._found = True
            return True

    def write(self, spans: Sequence[SpanRecord] = (), logs: Sequence[LogRecord] = ()) -> bool:
        """Deliver a batch, or spool it. Pipelined, ``True`` means handed to the sender
        (:meth:`flush` waits for it); else ``True`` when the owner committed it now."""
        if not spans and not logs:
            return True
        return self._hand_over(batch_tables(spans, logs), len(spans), len(logs))

    def write_tables(self, tables: Sequence[tuple[str, pa.Table]]) -> bool:
        """Deliver ``(table_name, arrow_table)`` pairs of other tables (heal_attempts, ...)."""
        batch = [(name, table) for name, table in tables if table.num_rows]
        if not batch:
            return True
        return self._hand_over(batch, 0, 0)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every batch handed over was delivered or spooled; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._outbox and not self._sending, timeout_s)

    def flush_spool(self) -> int:
        """Replay what was spooled, if the owner answers; returns batches replayed."""
        with self._lock:
            self._spool_check_at = 0.0
        return self._replay(limit=None)

    def retry_now(self) -> None:
        """Forget the backoff: the next batch tries the owner at once."""
        with self._lock:
            self._retry_at = 0.0
            self._spool_check_at = 0.0

    @property
    def backing_off(self) -> bool:
        """True while batches go to the spool without trying the owner: after a failure, and
        while a new owner is looked up (started) after the last one stopped answering."""
        return self.clock() < self._retry_at or self.finding_owner

    @property
    def finding_owner(self) -> bool:
        """True while a new owner is looked up (or started) after the last one was lost."""
        finder = self._finder
        return finder is not None and finder.is_alive()

    def close(self) -> None:
        """Deliver what was handed over, try once more to deliver what is spooled, send a
        last stats row (spooled if it cannot go) and close the connection."""
        self.flush()
        with self._cond:
            self._cond.notify_all()
        finder = self._finder
        if finder is not None:  # a new owner is starting: what was spooled goes to it
            finder.join(self.timeout_s)
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._retry_at = 0.0
            self._spool_check_at = 0.0
        with handle_internal_errors("RemoteWriter.close"):
            self._replay(limit=None)
        with handle_internal_errors("RemoteWriter.close"):
            self._write([(schema.SEMTRACE_STATS, self.stats.as_row(self.component))], 0, 0)
        self._disconnect()

    # -- internals ---------------------------------------------------------------------------
    def _hand_over(self, tables: list[tuple[str, pa.Table]], spans: int, logs: int) -> bool:
        if not self.pipeline or self.closed:
            return self._write(tables, spans, logs)
        batch = _Batch(tables, spans, logs, sum(t.nbytes for _, t in tables))
        with self._cond:
            while self._outbox and (
                self._waiting_records + batch.records > MAX_REQUEST_RECORDS
                or self._waiting_bytes + batch.nbytes > MAX_REQUEST_BYTES
            ):
                self._cond.wait()
            self._outbox.append(batch)
            self._waiting_records += batch.records
            self._waiting_bytes += batch.nbytes
            self._senders = [t for t in self._senders if t.is_alive()]
            if len(self._senders) < SENDERS:
                sender = threading.Thread(
                    target=self._send_loop, name="semtrace-sender", daemon=True
                )
                sender.start()
                self._senders.append(sender)
            self._cond.notify_all()
        return True

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: self._outbox or self.closed, 1.0):
                    continue
                if not self._outbox:
                    return
                # Everything waiting goes in one request (it fits: hand-over bounds it).
                taken = list(self._outbox)
                self._outbox.clear()
                self._waiting_records = self._waiting_bytes = 0
                self._sending += 1
                self._cond.notify_all()  # room for the caller while this one is out
            try:
                with handle_internal_errors("RemoteWriter.send"):
                    spans, logs = sum(b.spans for b in taken), sum(b.logs for b in taken)
                    # Encoded, the tables are let go: a resend or the spool needs the body only
                    # (half the memory a request holds while it is out).
                    body = encode_tables([pair for batch in taken for pair in batch.tables])
                    del taken
                    self._write_body(body, spans, logs)
            finally:
                with self._cond:
                    self._sending -= 1
                    self._cond.notify_all()

    def _write(self, tables: list[tuple[str, pa.Table]], spans: int, logs: int) -> bool:
        return self._write_body(encode_tables(tables), spans, logs)

    def _write_body(self, body: bytes, spans: int, logs: int) -> bool:
        """Deliver one encoded batch (:func:`encode_tables`), or spool it."""
        started = time.perf_counter()
        batch_id = uuid.uuid4().hex
        with self._lock:
            stats_due = self.clock() - self._last_stats >= _STATS_EVERY_S
            if stats_due:
                self._last_stats = self.clock()
            try_owner = not self.backing_off
        if stats_due:  # framed streams concatenate: the stats row rides along
            body += encode_tables([(schema.SEMTRACE_STATS, self.stats.as_row(self.component))])
        if try_owner:
            try:
                self._send(body, batch_id, replay=False)
            except Undeliverable as exc:
                if exc.permanent:
                    self.stats.add(spans_dropped=spans, logs_dropped=logs, export_errors=1)
                    _log.warning("semtrace: the owner of %s refused a batch: %s", self.path, exc)
                    return False
                with self._lock:
                    self._failed(exc)
            else:
                self.stats.add(spans_written=spans, logs_written=logs)
                self.stats.set_latency((time.perf_counter() - started) * 1000)
                self._replay(limit=_REPLAY_PER_WRITE)
                return True
        if self.spool.put_encoded(body, batch_id):
            self.stats.add(spooled=spans + logs)
            with self._lock:
                self._spool_check_at = 0.0
        else:
            self.stats.add(spans_dropped=spans, logs_dropped=logs)
            _log.warning("semtrace: spool full at %s; dropped a batch", self.spool.directory)
        return False

    def _replay(self, limit: int | None) -> int:
        """Send spooled batches (this process's and those others left), oldest first; one
        thread at a time (another sender that finds it replaying goes on with new batches)."""
        if self.clock() < self._spool_check_at or self.backing_off:
            return 0
        if not self._replaying.acquire(blocking=limit is None):
            return 0
        try:
            return self._replay_locked(limit)
        finally:
            self._replaying.release()

    def _replay_locked(self, limit: int | None) -> int:
        replayed = 0
        for batch in self.spool.batches():
            try:
                self._send(encode_tables(batch.tables), batch.batch_id, replay=True)
            except Undeliverable as exc:
                if exc.permanent:  # it will never be taken: set aside, counted as dropped
                    self.spool.discard(batch)
                    rows = batch.rows
                    self.stats.add(
                        spans_dropped=rows.get(schema.SPANS, 0),
                        logs_dropped=rows.get(schema.LOGS, 0),
                    )
                    continue
                self.spool.release(batch)
                with self._lock:
                    self._failed(exc)
                return replayed
            except BaseException:
                self.spool.release(batch)
                raise
            self.spool.discard(batch)
            rows = batch.rows
            n = rows.get(schema.SPANS, 0) + rows.get(schema.LOGS, 0)
            self.stats.add(spooled=-n, replayed=n)
            replayed += 1
            if limit is not None and replayed >= limit:
                return replayed  # more next time: new batches must not wait behind all
        with self._lock:
            self._spool_check_at = self.clock() + _SPOOL_CHECK_EVERY_S
        return replayed

    def _send(self, body: bytes, batch_id: str, *, replay: bool) -> None:
        """POST one batch until the owner commits it (200), retrying what OTLP says is
        retryable within the budget; raises Undeliverable. Holds the lock only to read and
        change the writer's state, never across the request."""
        deadline = self.clock() + self.max_retry_s
        retry = self._failures > 0  # the first attempt after a failure is a retry
        token_refreshed = False
        while True:
            with self._lock:
                target = self._owner()
            headers = {
                "Content-Type": BATCH_TYPE,
                BATCH_HEADER: batch_id,
                REPLAY_HEADER: "1" if replay else "0",
                WRITER_HEADER: self.writer_id,
            }
            if target.token:
                headers["Authorization"] = f"Bearer {target.token}"
            if retry:
                self.stats.add(retries=1)
            retry = True  # whatever is sent again in this loop is a resend
            conn, reused = self._connection(target)
            try:
                status, retry_after, text, keep = self._post(conn, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                with contextlib.suppress(Exception):
                    conn.close()
                # The owner may have committed it before the connection broke: from now on
                # it is sent as a replay, which the owner checks against the ids it committed.
                replay = True
                if reused:  # a kept-alive connection the owner closed, or died: a new one
                    continue
                self._disconnect()
                with self._lock:
                    self._lost(target)
                raise Undeliverable(f"{target.url} did not answer: {exc}") from None
            if keep:
                with self._lock:
                    self._conns.append(conn)
            else:
                conn.close()
            if status == 200:
                with self._lock:
                    self._failures = 0
                return
            if status == 401 and not token_refreshed:  # the owner was replaced (a new token)
                token_refreshed = True
                self._disconnect()
                with self._lock:
                    self._target = None
                    self._lookup()
                continue
            if status in RETRYABLE:
                wait = 0.5 if retry_after is None else retry_after
                if self.clock() + wait > deadline:
                    raise Undeliverable(f"{target.url} answered {status} until the retry budget")
                self.sleep(wait)
                continue
            raise Undeliverable(f"{target.url} answered {status}: {text}", permanent=True)

    def _owner(self) -> Target:
        """Where to send now. Until an owner was found once (and while closing) it is looked
        up here; after one was lost, a lookup runs on its own thread and this raises."""
        target = self._target
        if target is not None:
            return target
        if not self._found or self.closed:
            return self._lookup()
        self._find_in_background(lost=None)
        raise Undeliverable("the owner stopped answering; a new one is being found")

    def _lookup(self) -> Target:
        try:
            target = self.resolve()
        except Exception as exc:
            raise Undeliverable(f"no owner: {exc}") from None
        self._target = target
        self._found = True
        return target

    def _lost(self, target: Target) -> None:
        """The owner at ``target`` does not answer: forget it and look for another."""
        self._target = None
        self._find_in_background(lost=target.url)

    def _find_in_background(self, lost: str | None) -> None:
        if self.finding_owner:
            return

        def find() -> None:
            try:
                target = self.resolve()
            except Exception as exc:
                _log.info("semtrace: no new owner for %s yet: %s", self.path, exc)
                return
            with self._lock:
                if self._target is None:
                    self._target = target
                if target.url != lost:  # a new owner (not the one that did not answer)
                    self._retry_at = 0.0  # try it, and replay the spool to it, at once
                    self._spool_check_at = 0.0

        self._finder = threading.Thread(target=find, name="semtrace-owner-find", daemon=True)
        self._finder.start()

    def _connection(self, target: Target) -> tuple[http.client.HTTPConnection, bool]:
        """A kept-alive connection to ``target`` (True: reused), or a new one."""
        parts = urlsplit(target.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        with self._lock:
            while self._conns:
                conn = self._conns.pop()
                if (conn.host, conn.port) == (host, port):
                    return conn, True
                with contextlib.suppress(Exception):
                    conn.close()
        return http.client.HTTPConnection(host, port, timeout=self.timeout_s), False

    def _post(
        self, conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str]
    ) -> tuple[int, float | None, str, bool]:
        """Status, Retry-After (seconds), the start of the answer, and whether the
        connection may be used again."""
        conn.request("POST", BATCHES_PATH, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        keep = response.getheader("Connection", "").lower() != "close"
        retry_after = retry_after_seconds(response.getheader("Retry-After"), self.wall_clock())
        if retry_after is not None:
            retry_after = min(retry_after, self.max_retry_s)
        return response.status, retry_after, data[:300].decode("utf-8", "replace"), keep

    def _disconnect(self) -> None:
        """Close the kept-alive connections (the owner went away, or this writer closes)."""
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        self.stats.add(export_errors=1)
        delay = min(_BACKOFF_MAX_S, _BACKOFF_MIN_S * 2 ** (self._failures - 1))
        self._retry_at = self.clock() + delay
        if self._failures == 1:
            _log.warning(
                "semtrace: cannot deliver to the owner of %s (%s); spooling", self.path, exc
            )
