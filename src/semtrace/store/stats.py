"""semtrace's own health: counters of what was written, dropped, spooled and retried, kept in
memory and persisted now and then as rows of the ``semtrace_stats`` table."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

import pyarrow as pa

from semtrace.store import schema

__all__ = ["STATS", "Stats"]


@dataclass
class Stats:
    """Process-wide counters; ``add()`` is thread-safe and cheap."""

    spans_written: int = 0
    logs_written: int = 0
    spans_dropped: int = 0
    logs_dropped: int = 0
    spooled: int = 0  # rows waiting in the spool, spooled by this process
    replayed: int = 0  # rows replayed from the spool so far
    retries: int = 0
    export_errors: int = 0
    export_latency_ms: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for key, value in deltas.items():
                setattr(self, key, getattr(self, key) + value)

    def set_latency(self, ms: float) -> None:
        self.export_latency_ms = ms

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}

    def reset(self) -> None:
        with self._lock:
            for key in (
                "spans_written",
                "logs_written",
                "spans_dropped",
                "logs_dropped",
                "spooled",
                "replayed",
                "retries",
                "export_errors",
            ):
                setattr(self, key, 0)
            self.export_latency_ms = 0.0

    def as_row(self, component: str) -> pa.Table:
        """One ``semtrace_stats`` row (cumulative counters for this process)."""
        snap = self.snapshot()
        row: dict[str, list[Any]] = {
            "time": [int(time.time() * 1_000_000)],
            "pid": [os.getpid()],
            "component": [component],
        }
        for key, value in snap.items():
            row[key] = [value]
        return pa.Table.from_pydict(row, schema=schema.STATS_TABLE.arrow)


STATS = Stats()
