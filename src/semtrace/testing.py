"""Test helpers for code that semtrace instruments, the same ones semtrace's own tests use.

Capture spans and logs in memory, with deterministic ids if you like::

    from semtrace.testing import capture, span_tree

    def test_plan_trip():
        with capture() as cap:
            plan_trip("Lisbon")
        assert span_tree(cap.spans()) == [
            "invoke_agent supervisor",
            "  execute_tool search_flights",
        ]

or write to a real DuckDB file with the ``semtrace_db`` fixture (add
``pytest_plugins = ["semtrace.testing"]`` to your ``conftest.py``)::

    def test_cost(semtrace_db):
        ask_model("hi")
        assert semtrace_db.rows("select model, cost_usd from llm_calls") == [...]
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

from semtrace._connect import connect
from semtrace.store.model import LogRecord, SpanRecord
from semtrace.tracer.convert import span_to_record
from semtrace.tracer.setup import ID_GENERATOR, STATE, configure, force_flush, shutdown

__all__ = [
    "Capture",
    "SequentialIdGenerator",
    "TracedDB",
    "capture",
    "deterministic_ids",
    "semtrace_db",
    "span_tree",
    "traced_db",
]


class _CaptureExporter(InMemorySpanExporter):
    """The SDK's in-memory exporter, kept open across ``shutdown()``: semtrace shuts the old
    exporter down when it is configured again, and a capture must outlive that."""

    def shutdown(self) -> None:
        pass


@dataclass
class Capture:
    """Spans and log records that semtrace recorded while a :func:`capture` block ran."""

    _exporter: _CaptureExporter = field(default_factory=_CaptureExporter)
    _logs: list[LogRecord] = field(default_factory=list)

    def spans(self) -> list[SpanRecord]:
        """Every finished span so far as a :class:`SpanRecord`, in the order they ended."""
        force_flush()
        cache: dict[int, Mapping[str, Any]] = {}
        return [span_to_record(s, cache) for s in self._exporter.get_finished_spans()]

    def logs(self) -> list[LogRecord]:
        """Every semantic log record so far."""
        force_flush()
        return list(self._logs)

    def clear(self) -> None:
        force_flush()
        self._exporter.clear()
        self._logs.clear()


@contextmanager
def capture(*, service_name: str = "test", deterministic: bool = False) -> Iterator[Capture]:
    """Configure semtrace to keep spans and logs in memory for the block, then shut it down.

    With ``deterministic=True`` trace and span ids count up from 1 (see :func:`deterministic_ids`).
    """
    cap = Capture()

    def write_logs(records: Sequence[LogRecord]) -> None:
        cap._logs.extend(records)

    configure(
        service_name=service_name,
        db=os.devnull,  # never opened: both factories below keep everything in memory
        span_exporter_factory=lambda _settings: cap._exporter,
        log_flush_factory=lambda _settings: write_logs,
        batch_interval_s=0.05,
    )
    try:
        if deterministic:
            with deterministic_ids():
                yield cap
        else:
            yield cap
    finally:
        shutdown()
        STATE.settings = None


class SequentialIdGenerator(IdGenerator):
    """Trace and span ids 1, 2, 3, ... so ids in a test's expected output are stable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trace = 0
        self._span = 0

    def generate_trace_id(self) -> int:
        with self._lock:
            self._trace += 1
            return self._trace

    def generate_span_id(self) -> int:
        with self._lock:
            self._span += 1
            return self._span


@contextmanager
def deterministic_ids() -> Iterator[SequentialIdGenerator]:
    """Sequential ids inside the block (trace ``000...001``, spans ``000...001``, ...).

    Works on the provider semtrace created; an application's own provider keeps its ids.
    """
    previous = ID_GENERATOR.inner
    gen = SequentialIdGenerator()
    ID_GENERATOR.inner = gen
    try:
        yield gen
    finally:
        ID_GENERATOR.inner = previous


def _get(item: Any, key: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def span_tree(spans: Iterable[Any], *fields: str) -> list[str]:
    """A span tree as indented lines (two spaces a level), children in start order.

    ``spans`` are :class:`SpanRecord` objects or rows (mappings) from the ``spans`` table;
    ``fields`` adds columns/attributes after the name, e.g. ``span_tree(spans, "kind",
    "status_code")`` gives ``"invoke_agent a INTERNAL UNSET"``. Whole-tree assertions read
    as the tree itself.
    """
    items = list(spans)
    ids = {_get(s, "span_id") for s in items}

    def start(s: Any) -> int:
        value = _get(s, "start_ns")
        if value is None:
            value = _get(s, "start_time_ns")
        return int(value or 0)

    children: dict[Any, list[Any]] = {}
    for s in sorted(items, key=lambda s: (start(s), str(_get(s, "span_id")))):
        parent = _get(s, "parent_span_id")
        children.setdefault(parent if parent in ids else None, []).append(s)
    lines: list[str] = []

    def walk(parent: Any, depth: int) -> None:
        for s in children.get(parent, []):
            extra = [str(_get(s, f)) for f in fields]
            lines.append("  " * depth + " ".join([str(_get(s, "name")), *extra]))
            walk(_get(s, "span_id"), depth + 1)

    walk(None, 0)
    return lines


@dataclass
class TracedDB:
    """A DuckDB file semtrace is configured to write to, with quick ways to read it back."""

    path: Path

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Flush everything queued, then a query connection with every view ready."""
        force_flush()
        return connect(self.path)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """The result of one query as a list of dicts (after a flush)."""
        con = self.connect()
        rel = con.sql(sql, params=params) if params else con.sql(sql)
        return rel.to_arrow_table().to_pylist()


@contextmanager
def traced_db(path: str | os.PathLike[str], *, service_name: str = "test") -> Iterator[TracedDB]:
    """semtrace configured into ``path`` for the block; flushed and shut down after."""
    configure(service_name=service_name, db=path, batch_interval_s=0.2)
    try:
        yield TracedDB(Path(path))
    finally:
        shutdown()
        STATE.settings = None


try:  # the fixture is there when pytest is (it is a dev dependency, not a runtime one)
    import pytest
except ImportError:  # pragma: no cover
    pass
else:

    @pytest.fixture
    def semtrace_db(tmp_path: Path) -> Iterator[TracedDB]:
        """semtrace configured into a fresh DuckDB file in the test's temp folder."""
        with traced_db(tmp_path / "semtrace.duckdb") as db:
            yield db
