"""The lake sink: an owner's committed rows, appended to a Parquet lake exactly once.

The sink follows the database file rather than the batches in flight. Tables of the
contract are append-only, so DuckDB's ``rowid`` numbers a table's rows in commit order; the
sink keeps, per table, how far it has published (its *watermark*) in a state file in the lake,
``_semtrace/owners/<owner>.json``. A *cycle* reads, in one snapshot, every table's rows from
its watermark up to the newest committed row, writes them into their partitions as hidden
temporary files, records the cycle (its files and new watermarks) in the state file, renames
the files to their final names and finally clears the cycle from the state file.

What that guarantees, whatever moment the owner dies at:

- **nothing committed is lost**: a row is in the DuckDB file before the sink reads it, and
  the watermark moves past it only once its file is published. An owner killed between the
  DuckDB commit and the Parquet write (or with a commit it never got to) catches up from its
  watermark when the next owner of the file starts: the lake lags, it does not lose.
- **nothing is written twice**: a cycle's files are published under final names only after
  the cycle was recorded; on restart a recorded cycle is rolled forward (its remaining
  temporaries renamed, the watermark moved), and an unrecorded one rolled back (its
  temporaries deleted, its rows read again).

That holds on a file system with atomic rename (local disks, NFS, most shared file systems;
an object store mounted without atomic rename does not give it). The lake is as durable as
the DuckDB file: rows committed there but not yet in the lake are published by the next
owner of that file; a DuckDB file deleted before that takes them with it.

Owners on many machines write one lake without coordinating: every file name carries the
owner's id and a cycle number only that owner increments. The id is the host name's first
40 characters (for people) and a hash of the whole host name, the database's path and the
database's random key (``X.duckdb.redact-key``, made once beside the file): two pods whose
names share a long prefix, or two containers with the same name and path, get different
ids. ``SEMTRACE_LAKE_OWNER`` names an owner instead. Two safeguards stand behind the id: a
file is published only under a name no file has (a taken name is counted in ``/health`` and
the file published under another), and a state file written for another host or database is
refused, at start and before every save, instead of being taken over.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from semtrace.exceptions import ConfigurationError
from semtrace.lake.layout import (
    LAYOUTS,
    PARQUET,
    TMP_SUFFIX,
    NameTaken,
    PartitionedWriter,
    publish,
    select_sql,
    write_atomic,
)
from semtrace.redaction import database_key
from semtrace.store import schema
from semtrace.store.database import Store

__all__ = [
    "DEFAULT_FLUSH_INTERVAL_S",
    "DEFAULT_SETTLE_S",
    "ENV_LAKE_OWNER",
    "LakeSink",
    "OwnerConflict",
    "SinkStats",
    "owner_id",
    "state_dir",
]

_log = logging.getLogger("semtrace.lake")

ENV_LAKE_OWNER = "SEMTRACE_LAKE_OWNER"
DEFAULT_FLUSH_INTERVAL_S = 5.0
# The writer fixes a few rows already written when a late parent span arrives (inherited
# agent, agent_call, error_origin: semtrace.store.lineage). The background cycles publish a
# row once it is this old, so fixes within that time reach the lake with it.
DEFAULT_SETTLE_S = 30.0
_MIN_INTERVAL_S = 0.25  # a short settle shortens the interval between cycles down to this
_RENAME_ATTEMPTS = 5
STATE_DIR = "_semtrace"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_READ_BATCH = 65_536


def state_dir(lake: Path) -> Path:
    """Where a lake keeps its bookkeeping (owners' state, the compaction lock)."""
    return lake / STATE_DIR


class OwnerConflict(ConfigurationError):
    """The owner id's state file belongs to another host or database."""


def _database_secret(db: str) -> str:
    """The database's random key, hashed (empty for ``:memory:`` or an unwritable folder)."""
    if db == ":memory:":
        return ""
    try:
        key = database_key(db)
    except (OSError, ValueError) as exc:
        _log.warning("semtrace lake sink: no key for %s (%s): id from host and path only", db, exc)
        return ""
    return hashlib.sha256(b"semtrace-lake-owner\0" + key).hexdigest()


def owner_id(db: str, override: str | None = None, *, host: str | None = None) -> str:
    """A name unique to one database file on one machine, stable across its owners'
    restarts: ``<host name, 40 characters>-<hash of the whole host name, the database's path
    and its random key>``; ``override`` (or ``SEMTRACE_LAKE_OWNER``) instead, as given."""
    given = override or os.environ.get(ENV_LAKE_OWNER)
    if given:
        return _SAFE.sub("-", given).strip("-") or "owner"
    full = socket.gethostname() if host is None else host
    label = _SAFE.sub("-", full).strip("-")[:40] or "host"
    digest = hashlib.sha256("\0".join((full, db, _database_secret(db))).encode()).hexdigest()
    return f"{label}-{digest[:16]}"


@dataclass
class SinkStats:
    """What the sink did, for ``/health`` and the benchmark."""

    cycles: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    name_collisions: int = 0  # final names another file had: published under new names
    errors: int = 0
    last_error: str | None = None
    seconds: float = 0.0

    @property
    def spans(self) -> int:
        return self.rows.get(schema.SPANS, 0)


class _State:
    """The sink's state file: watermarks, the next cycle number, a cycle being published."""

    def __init__(self, path: Path, owner: str, db: str) -> None:
        self.path = path
        self.owner = owner
        self.db = db
        self.host = socket.gethostname()
        self.watermarks: dict[str, int] = {}
        self.next_cycle = 1
        self.identity: dict[str, str | None] = {}
        self.pending: dict[str, Any] | None = None

    def _read(self) -> dict[str, Any] | None:
        """The file as it is now, refused if another host or database wrote it."""
        try:
            doc: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        theirs = (doc.get("host"), doc.get("db"))
        if theirs != (self.host, self.db):
            raise OwnerConflict(
                f"lake owner id {self.owner!r} is in use by {theirs[1]} on host {theirs[0]} "
                f"({self.path}); this owner ({self.db} on {self.host}) will not take it over. "
                f"Give each owner its own {ENV_LAKE_OWNER} (or leave it unset), or delete that "
                "state file if its owner is gone for good."
            )
        return doc

    def load(self) -> None:
        doc = self._read()
        if doc is None:
            return
        self.watermarks = {str(k): int(v) for k, v in doc.get("watermarks", {}).items()}
        self.next_cycle = int(doc.get("next_cycle", 1))
        self.identity = dict(doc.get("identity", {}))
        self.pending = doc.get("pending")

    def save(self) -> None:
        self._read()  # another owner may have started under the same id meanwhile
        doc = {
            "format": "semtrace-lake-owner",
            "owner": self.owner,
            "db": self.db,
            "host": self.host,
            "updated_at": time.time(),
            "next_cycle": self.next_cycle,
            "watermarks": self.watermarks,
            "identity": self.identity,
            "pending": self.pending,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(doc, indent=1).encode())


def _identity(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """The first row of spans and of logs: tells this database file from a new one at the
    same path (whose rowids start again from 0)."""
    out: dict[str, str | None] = {}
    for table, expr in ((schema.SPANS, "trace_id || span_id"), (schema.LOGS, "log_id")):
        rows = con.execute(f"SELECT {expr} FROM {table} WHERE rowid = 0").fetchall()
        out[table] = str(rows[0][0]) if rows else None
    return out


class LakeSink:
    """Publishes every row committed to ``store`` into the lake at ``lake``, exactly once.

    ``start()`` runs cycles on a thread every ``flush_interval_s`` (sooner once ``notify``
    reports ``max_file_rows`` new rows), each publishing the rows committed ``settle_s`` ago
    or more; the interval defaults to 5 s, or ``settle_s`` when that is shorter (0.25 s at
    least). ``flush()`` publishes everything committed now; ``close()`` flushes and stops.
    The sink never raises into the owner: a failed cycle is counted, logged and retried at
    the next interval. A state file of another host or database under this owner's id
    raises :class:`OwnerConflict` from the constructor.
    """

    def __init__(
        self,
        store: Store,
        lake: str | os.PathLike[str],
        *,
        flush_interval_s: float | None = None,
        max_file_rows: int = 1_000_000,
        owner: str | None = None,
        tables: Sequence[str] = schema.TABLES,
        publisher: Callable[[Iterable[tuple[Path, Path]]], None] = publish,
        settle_s: float = DEFAULT_SETTLE_S,
    ) -> None:
        self.store = store
        self.lake = Path(lake).expanduser().resolve()
        self.owner = owner_id(store.path, owner)
        self.flush_interval_s = (
            min(DEFAULT_FLUSH_INTERVAL_S, max(settle_s, _MIN_INTERVAL_S))
            if flush_interval_s is None
            else flush_interval_s
        )
        self.max_file_rows = max_file_rows
        self.tables = tuple(t for t in tables if t in LAYOUTS)
        self.stats = SinkStats()
        self._publish = publisher  # how a cycle's files are renamed into place (a test seam)
        self.settle_s = settle_s
        self._marks: deque[tuple[float, dict[str, int]]] = deque()  # (when, rows per table)
        self._state = _State(
            state_dir(self.lake) / "owners" / f"{self.owner}.json", self.owner, store.path
        )
        self._cycle_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._notified = 0
        self._thread: threading.Thread | None = None
        self.lake.mkdir(parents=True, exist_ok=True)
        self._recover()

    # -- recovery ----------------------------------------------------------------------------
    def _recover(self) -> None:
        """Roll a recorded cycle forward, remove the temporaries of an unrecorded one."""
        state = self._state
        state.load()
        if state.pending is not None:
            self._roll_forward()
        state.save()  # also marks the folder as a lake from the first moment
        prefix = f".part-{self.owner}-"
        for table in self.tables:
            top = self.lake / table
            if not top.is_dir():
                continue
            for dirpath, _, filenames in os.walk(top):
                for name in filenames:
                    if name.startswith(prefix) and name.endswith(TMP_SUFFIX):
                        (Path(dirpath) / name).unlink(missing_ok=True)

    def _roll_forward(self) -> None:
        """Finish the recorded cycle: publish its files, move the watermarks, clear it."""
        state = self._state
        assert state.pending is not None
        self._publish_pending()
        state.watermarks.update({k: int(v) for k, v in state.pending["to"].items()})
        state.pending = None
        state.save()

    def _publish_pending(self) -> None:
        """Publish the recorded cycle's files. A final name another file has is counted, and
        that file recorded under a new name, then published: never written over."""
        state = self._state
        assert state.pending is not None
        for _ in range(_RENAME_ATTEMPTS):
            files = [(self.lake / tmp, self.lake / final) for tmp, final in state.pending["files"]]
            try:
                self._publish(files)
                return
            except NameTaken as exc:
                self.stats.name_collisions += len(exc.pairs)
                _log.error("semtrace lake sink (owner %s): %s; renaming", self.owner, exc)
                renamed = {
                    str(final.relative_to(self.lake)): str(
                        final.with_name(
                            f"{final.name.removesuffix(PARQUET)}-{uuid.uuid4().hex[:8]}{PARQUET}"
                        ).relative_to(self.lake)
                    )
                    for _, final in exc.pairs
                }
                state.pending["files"] = [[t, renamed.get(f, f)] for t, f in state.pending["files"]]
                state.save()  # the new names are recorded before any of them appears
        raise NameTaken([(self.lake / t, self.lake / f) for t, f in state.pending["files"]])

    # -- running -----------------------------------------------------------------------------
    def start(self) -> LakeSink:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="semtrace-lake", daemon=True)
            self._thread.start()
        return self

    def notify(self, tables: Sequence[tuple[str, pa.Table]] = ()) -> None:
        """A commit hook: new rows were committed (wakes the sink early past a file's worth)."""
        self._notified += sum(t.num_rows for name, t in tables if name == schema.SPANS)
        if self._notified >= self.max_file_rows:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.flush(settled=True)

    def close(self, timeout_s: float = 60.0) -> None:
        """Publish what is committed, then stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.flush()

    def flush(self, *, settled: bool = False) -> int:
        """One cycle now: publish every row committed so far (``settled``: only rows
        committed ``settle_s`` ago or more); the rows published."""
        with self._cycle_lock:
            started = time.perf_counter()
            try:
                return self._cycle(settled)
            except Exception as exc:  # the owner goes on; the next cycle retries these rows
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                if os.environ.get("SEMTRACE_RAISE_INTERNAL_ERRORS") == "1":
                    raise
                _log.warning("semtrace lake sink: cycle failed", exc_info=True)
                return 0
            finally:
                self.stats.seconds += time.perf_counter() - started

    def _settled(self, tops: dict[str, int]) -> dict[str, int] | None:
        """The tables' row counts as of ``settle_s`` ago (None: no cycle that old yet)."""
        now = time.monotonic()
        self._marks.append((now, tops))
        ripe = None
        while self._marks and self._marks[0][0] <= now - self.settle_s:
            ripe = self._marks.popleft()
        if ripe is not None:
            self._marks.appendleft(ripe)  # still the newest ripe mark next time
        return ripe[1] if ripe is not None else None

    def _cycle(self, settled: bool) -> int:
        state = self._state
        if state.pending is not None:  # a cycle recorded, then failed to publish: finish it
            self._roll_forward()
        self._notified = 0
        con = self.store.cursor()
        writers: list[PartitionedWriter] = []
        try:
            con.execute("BEGIN TRANSACTION")  # one snapshot: spans and their links together
            identity = _identity(con)
            if any(state.identity.get(t) not in (None, identity[t]) for t in identity):
                _log.warning(
                    "semtrace lake sink: %s is a new database; starting over", self.store.path
                )
                state.watermarks = {}
                self._marks.clear()
            state.identity.update({k: v for k, v in identity.items() if v is not None})
            tops: dict[str, int] = {}
            for table in self.tables:
                ((top,),) = con.execute(f"SELECT max(rowid) FROM {table}").fetchall()
                tops[table] = int(top) + 1 if top is not None else 0
            highs = self._settled(tops) if settled else tops
            ranges: dict[str, tuple[int, int]] = {}
            for table, high in (highs or {}).items():
                low = state.watermarks.get(table, 0)
                if low > high:  # fewer rows than published: a new file at this path
                    low = 0
                if high > low:
                    ranges[table] = (low, high)
            if not ranges:
                return 0
            cycle = state.next_cycle
            low_s, high_s = ranges.get(schema.SPANS, (0, 0))
            spans = f"(SELECT * FROM {schema.SPANS} WHERE rowid >= {low_s} AND rowid < {high_s})"
            for table, (low, high) in ranges.items():
                writer = PartitionedWriter(
                    self.lake,
                    table,
                    f"part-{self.owner}-{cycle:010d}",
                    max_rows=self.max_file_rows,
                )
                writers.append(writer)
                sql = select_sql(
                    LAYOUTS[table], f"t.rowid >= {low} AND t.rowid < {high}", spans=spans
                )
                reader = con.sql(sql).to_arrow_reader(_READ_BATCH)
                for batch in reader:
                    writer.write(batch)
            con.execute("COMMIT")
            files = [pair for writer in writers for pair in writer.close()]
        except BaseException:
            for writer in writers:
                writer.abort()
            raise
        finally:
            con.close()
        # Record the cycle, publish, then clear it: a crash in between rolls it forward.
        state.next_cycle = cycle + 1
        state.pending = {
            "cycle": cycle,
            "to": {t: high for t, (_, high) in ranges.items()},
            "files": [
                [str(t.relative_to(self.lake)), str(f.relative_to(self.lake))] for t, f in files
            ],
        }
        try:
            state.save()
        except BaseException:  # not recorded: these temporaries are nobody's
            state.next_cycle, state.pending = cycle, None
            for tmp, _ in files:
                tmp.unlink(missing_ok=True)
            raise
        self._roll_forward()
        st = self.stats
        st.cycles += 1
        st.files += len(files)
        for table, (low, high) in ranges.items():
            st.rows[table] = st.rows.get(table, 0) + high - low
        return sum(high - low for low, high in ranges.values())

    def health(self) -> dict[str, Any]:
        """The sink's counters, as ``/health`` shows them."""
        st = self.stats
        return {
            "dir": str(self.lake),
            "owner": self.owner,
            "cycles": st.cycles,
            "files": st.files,
            "name_collisions": st.name_collisions,
            "settle_s": self.settle_s,
            "rows": dict(st.rows),
            "errors": st.errors,
            "last_error": st.last_error,
            "seconds": round(st.seconds, 6),
            "published": self.watermarks,
        }

    @property
    def watermarks(self) -> dict[str, int]:
        """Rows published per table (DuckDB rowids below these are in the lake)."""
        return dict(self._state.watermarks)
