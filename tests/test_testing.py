"""semtrace.testing: the in-memory capture, deterministic ids, span_tree and the db fixture."""

from __future__ import annotations

import asyncio

import semtrace
from semtrace.store.model import SpanRecord
from semtrace.testing import TracedDB, capture, deterministic_ids, semtrace_db, span_tree
from semtrace.tracer.setup import STATE

__all__ = ["semtrace_db"]  # the fixture, imported so tests here can use it


@semtrace.agent("supervisor")
def plan() -> None:
    with semtrace.tool("search"):
        pass


def test_capture_returns_span_records() -> None:
    """capture() hands back SpanRecords of everything traced inside, and unconfigures after."""
    with capture(service_name="unit") as cap:
        plan()
        records = cap.spans()
    assert all(isinstance(r, SpanRecord) for r in records)
    assert span_tree(records, "kind", "service_name") == [
        "invoke_agent supervisor INTERNAL unit",
        "  execute_tool search INTERNAL unit",
    ]
    assert STATE.settings is None


def test_capture_clear_and_async() -> None:
    """clear() forgets what was captured; async work is captured like sync work."""

    @semtrace.tool("fetch")
    async def fetch() -> int:
        return 1

    with capture() as cap:
        plan()
        cap.clear()
        asyncio.run(fetch())
        assert [r.name for r in cap.spans()] == ["execute_tool fetch"]


def test_capture_logs() -> None:
    """Semantic log records made inside a capture are returned by logs()."""
    with capture() as cap:
        with semtrace.agent("procurement"):
            semtrace.get_logger(agent="procurement").error("vendor lookup failed")
        logs = cap.logs()
    assert [(r.severity, r.agent_name) for r in logs] == [("ERROR", "procurement")]
    assert "vendor lookup failed" in logs[0].message


def test_deterministic_ids() -> None:
    """With deterministic ids, trace and span ids count up from 1 in each block."""
    with capture(deterministic=True) as cap:
        plan()
        plan()
        rows = [(r.trace_id, r.span_id, r.parent_span_id) for r in cap.spans()]
    t1, t2 = f"{1:032x}", f"{2:032x}"
    assert sorted(rows) == [
        (t1, f"{1:016x}", None),
        (t1, f"{2:016x}", f"{1:016x}"),
        (t2, f"{3:016x}", None),
        (t2, f"{4:016x}", f"{3:016x}"),
    ]
    with capture() as cap, deterministic_ids():
        plan()
        assert {r.trace_id for r in cap.spans()} == {t1}


def test_span_tree_orders_children_by_start() -> None:
    """span_tree nests children under parents in start order; orphans become roots."""
    spans = [
        SpanRecord("t", "c", "a", "second", "INTERNAL", 20, 30),
        SpanRecord("t", "b", "a", "first", "INTERNAL", 10, 15),
        SpanRecord("t", "a", None, "root", "INTERNAL", 0, 40),
        SpanRecord("t", "d", "missing", "orphan", "INTERNAL", 50, 60),
    ]
    assert span_tree(spans) == ["root", "  first", "  second", "orphan"]


def test_semtrace_db_fixture(semtrace_db: TracedDB) -> None:
    """The semtrace_db fixture writes to a real DuckDB file and reads it back with rows()."""
    plan()
    assert semtrace_db.path.name == "semtrace.duckdb"
    assert semtrace_db.rows("select name, agent_name from spans order by name") == [
        {"name": "execute_tool search", "agent_name": "supervisor"},
        {"name": "invoke_agent supervisor", "agent_name": "supervisor"},
    ]
