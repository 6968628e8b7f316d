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
owner's id (host name and a hash of the database path, or ``SEMTRACE_LAKE_OWNER``) and a
cycle number only that owner increments.
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
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from semtrace.lake.layout import (
    LAYOUTS,
    TMP_SUFFIX,
    PartitionedWriter,
    publish,
    select_sql,
    write_atomic,
)
from semtrace.store import schema
from semtrace.store.database import Store

__all__ = [
    "DEFAULT_FLUSH_INTERVAL_S",
    "DEFAULT_SETTLE_S",
    "ENV_LAKE_OWNER",
    "LakeSink",
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
STATE_DIR = "_semtrace"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_READ_BATCH = 65_536


def state_dir(lake: Path) -> Path:
    """Where a lake keeps its bookkeeping (owners' state, the compaction lock)."""
    return lake / STATE_DIR


def owner_id(db: str, override: str | None = None) -> str:
    """A name unique to one database file on one machine, stable across its owners' restarts."""
    given = override or os.environ.get(ENV_LAKE_OWNER)
    if given:
        return _SAFE.sub("-", given).strip("-") or "owner"
    host = _SAFE.sub("-", socket.gethostname()).strip("-")[:40] or "host"
    return f"{host}-{hashlib.sha1(db.encode()).hexdigest()[:10]}"


@dataclass
class SinkStats:
    """What the sink did, for ``/health`` and the benchmark."""

    cycles: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
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
        self.watermarks: dict[str, int] = {}
        self.next_cycle = 1
        self.identity: dict[str, str | None] = {}
        self.pending: dict[str, Any] | None = None

    def load(self) -> None:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        self.watermarks = {str(k): int(v) for k, v in doc.get("watermarks", {}).items()}
        self.next_cycle = int(doc.get("next_cycle", 1))
        self.identity = dict(doc.get("identity", {}))
        self.pending = doc.get("pending")

    def save(self) -> None:
        doc = {
            "format": "semtrace-lake-owner",
            "owner": self.owner,
            "db": self.db,
            "host": socket.gethostname(),
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
    or more; ``flush()`` publishes everything committed now; ``close()`` flushes and stops. The sink never raises into the owner: a failed cycle is counted, logged and
    retried at the next interval.
    """

    def __init__(
        self,
        store: Store,
        lake: str | os.PathLike[str],
        *,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        max_file_rows: int = 1_000_000,
        owner: str | None = None,
        tables: Sequence[str] = schema.TABLES,
        publisher: Callable[[Iterable[tuple[Path, Path]]], None] = publish,
        settle_s: float = DEFAULT_SETTLE_S,
    ) -> None:
        self.store = store
        self.lake = Path(lake).expanduser().resolve()
        self.owner = owner_id(store.path, owner)
        self.flush_interval_s = flush_interval_s
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
            files = [(self.lake / tmp, self.lake / final) for tmp, final in state.pending["files"]]
            publish(files)
            state.watermarks.update({k: int(v) for k, v in state.pending["to"].items()})
            state.pending = None
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
        state.save()
        self._publish(files)
        state.watermarks.update({t: high for t, (_, high) in ranges.items()})
        state.pending = None
        state.save()
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
