"""Where the dashboard's data comes from: the database or collector it was started for.

``semtrace dashboard`` passes the target through environment variables, so the Streamlit
script (and ``AppTest`` in the tests) finds it without command-line parsing. A connection is
opened for one script run and closed at its end: a dashboard left open all day never holds a
DuckDB file between reruns, so agents can keep writing to it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

from semtrace.dashboard import queries as q
from semtrace.dashboard._launch import ENV_DB, ENV_LAKE, ENV_SERVER

__all__ = [
    "ENV_DB",
    "ENV_LAKE",
    "ENV_SERVER",
    "RUNNING_WITHIN_S",
    "connection",
    "critical_path",
    "database_missing",
    "describe_target",
    "filter_options",
    "is_running",
    "recent_traces",
    "trace_tree",
]

# A trace whose root has not arrived counts as running while its newest span is this recent.
RUNNING_WITHIN_S = 600


def describe_target() -> str:
    """What the dashboard reads, for the sidebar."""
    if lake := os.environ.get(ENV_LAKE):
        return f"lake {lake}"
    server = os.environ.get(ENV_SERVER)
    if server:
        return f"collector {server}"
    from semtrace._connect import default_db

    return os.environ.get(ENV_DB) or default_db()


def database_missing() -> str | None:
    """The database file the dashboard waits for, when it does not exist yet (else None)."""
    if os.environ.get(ENV_SERVER) or os.environ.get(ENV_LAKE):
        return None
    path = describe_target()
    return None if os.path.exists(path) else path


def is_running(tree: q.TraceTree) -> bool:
    """Whether a trace is still running: some of its spans wait for a parent that has not
    ended (spans are stored when they end, so an open root is missing), and its newest span
    ended recently."""
    return bool(tree.open_parents) and time.time() - tree.bounds[1] / 1e9 < RUNNING_WITHIN_S


def _open() -> Any:
    if lake := os.environ.get(ENV_LAKE):  # reopened each run: sees files published since
        import semtrace

        return semtrace.connect(lake=lake)
    server = os.environ.get(ENV_SERVER)
    if server:
        from semtrace.collector.client import CollectorConnection

        return CollectorConnection(server)
    import semtrace

    return semtrace.connect(os.environ.get(ENV_DB) or None)


@contextmanager
def connection() -> Iterator[Any]:
    """A connection for one script run; a missing or locked file stops the page with the
    message that says what to do."""
    try:
        con = _open()
    except Exception as exc:  # shown to the user instead of a traceback
        st.error(f"Cannot open the semtrace database: {exc}")
        st.stop()
    try:
        yield con
    finally:
        close = getattr(con, "close", None)
        if close is not None:
            close()


# cache_resource, not cache_data: a 100,000-span skeleton and tree are kept as they are, not
# pickled and copied on every rerun. span_count is part of the key: a growing trace is reread.
@st.cache_resource(ttl=600, max_entries=8, show_spinner=False)
def _tree(target: str, trace_id: str, span_count: int) -> q.TraceTree:
    with connection() as con:
        return q.TraceTree.from_table(q.trace_skeleton(con, trace_id))


def trace_tree(trace_id: str, span_count: int) -> q.TraceTree:
    """The trace's tree, built once per (trace, span count) and shared between reruns."""
    return _tree(describe_target(), trace_id, int(span_count))


@st.cache_resource(ttl=600, max_entries=8, show_spinner=False)
def _critical(target: str, trace_id: str, span_count: int) -> frozenset[str]:
    return frozenset(_tree(target, trace_id, span_count).critical_path())


def critical_path(trace_id: str, span_count: int) -> frozenset[str]:
    """The span ids on the trace's critical path, computed once per (trace, span count)."""
    return _critical(describe_target(), trace_id, int(span_count))


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def _filter_options(target: str) -> dict[str, list[str]]:
    with connection() as con:
        return q.filter_options(con)


def filter_options() -> dict[str, list[str]]:
    """The services and agents to filter by, read at most every 30 s (a scan of all spans)."""
    return _filter_options(describe_target())


@st.cache_data(ttl=15, max_entries=4, show_spinner=False)
def _recent(target: str, limit: int) -> list[dict[str, Any]]:
    with connection() as con:
        return q.trace_list(con, limit=limit).to_pylist()


def recent_traces(limit: int = 50) -> list[dict[str, Any]]:
    """The newest traces for a page's trace picker, read at most every 15 s."""
    return _recent(describe_target(), limit)
