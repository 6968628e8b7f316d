"""Named query functions: how the CLI, the dashboard and diagnose read the store.

Each takes a DuckDB connection (from :func:`semtrace.connect`) and returns an Arrow table or
plain Python values. SQL lives here, not in the pages and commands that show the results.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from semtrace.exceptions import QueryError
from semtrace.store.schema import TABLES
from semtrace.store.views import VIEWS

__all__ = [
    "arrow",
    "list_relations",
    "list_traces",
    "messages",
    "resolve_trace_id",
    "run_sql",
    "tasks",
    "trace_logs",
    "trace_spans",
]


def arrow(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pa.Table:
    """Run a query and return its result as an Arrow table (empty for statements)."""
    rel = con.sql(sql, params=params) if params else con.sql(sql)
    return rel.to_arrow_table() if rel is not None else pa.table({})


def list_relations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables and views a user can query, in contract order."""
    return [*TABLES, *VIEWS]


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pa.Table:
    """Run a user's query; a failure becomes a :class:`QueryError` naming what can be queried."""
    try:
        return arrow(con, sql, params)
    except duckdb.Error as exc:
        raise QueryError(
            f"{exc}\n\nTables: {', '.join(TABLES)}\nViews: {', '.join(VIEWS)}"
        ) from exc


def list_traces(
    con: duckdb.DuckDBPyConnection,
    *,
    limit: int = 20,
    status: str | None = None,
    service: str | None = None,
    agent: str | None = None,
) -> pa.Table:
    """Most recent traces first, from the ``traces`` view, optionally filtered."""
    where: list[str] = []
    params: list[Any] = []
    if status:
        where.append("status = ?")
        params.append(status.upper())
    if service:
        where.append("list_contains(services, ?)")
        params.append(service)
    if agent:
        where.append("list_contains(agents, ?)")
        params.append(agent)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    params.append(limit)
    return arrow(
        con,
        f"""SELECT trace_id, root_name, services, agents, start_time,
                   round(duration_ms, 1) AS duration_ms, span_count, error_count, status,
                   input_tokens, output_tokens, round(cost_usd, 6) AS cost_usd
            FROM traces {clause} ORDER BY start_time DESC LIMIT ?""",
        params,
    )


def resolve_trace_id(con: duckdb.DuckDBPyConnection, prefix: str) -> str | None:
    """The full trace id for an id or a unique prefix of one (as users copy them)."""
    prefix = prefix.strip().lower()
    rows = con.execute(
        "SELECT DISTINCT trace_id FROM spans WHERE starts_with(trace_id, ?) "
        "ORDER BY trace_id LIMIT 11",
        [prefix],
    ).fetchall()
    if len(rows) == 1:
        return str(rows[0][0])
    if len(rows) > 1:
        # Up to ten of the matching ids, so the user can copy the one they meant.
        ids = ", ".join(str(r[0]) for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
        raise QueryError(
            f"trace id prefix {prefix!r} is ambiguous; give more characters. "
            f"{'More than 10' if len(rows) > 10 else len(rows)} traces match: {ids}"
        )
    return None


def trace_spans(
    con: duckdb.DuckDBPyConnection, trace_id: str, *, with_attributes: bool = False
) -> pa.Table:
    """The spans of one trace in start order (attributes only when asked: they are big)."""
    extra = ", attributes" if with_attributes else ""
    return arrow(
        con,
        f"""SELECT span_id, parent_span_id, name, kind, start_time, start_time_ns, end_time_ns,
                   duration_ms, status_code, status_message, service_name, agent_name, operation,
                   tool_name, model, input_tokens, output_tokens, cost_usd, error_type{extra}
            FROM spans WHERE trace_id = ? ORDER BY start_time_ns, span_id""",
        [trace_id],
    )


def trace_logs(con: duckdb.DuckDBPyConnection, trace_id: str) -> pa.Table:
    """The log records of one trace in time order."""
    return arrow(
        con,
        """SELECT log_id, time, time_ns, span_id, severity, agent_name, message, template,
                  action, cause, impact
           FROM logs WHERE trace_id = ? ORDER BY time_ns""",
        [trace_id],
    )


def messages(
    con: duckdb.DuckDBPyConnection, *, topic: str | None = None, limit: int = 200
) -> pa.Table:
    """Messages between agents, newest first, from the ``messages`` view."""
    where, params = ("WHERE topic = ?", [topic]) if topic else ("", [])
    return arrow(
        con,
        f"""SELECT message_id, topic, producer_agent, consumer_agents, publish_time,
                   round(queue_wait_ms, 1) AS queue_wait_ms, outcome, error_message
            FROM messages {where} ORDER BY publish_time DESC LIMIT ?""",
        [*params, limit],
    )


def tasks(
    con: duckdb.DuckDBPyConnection, *, status: str | None = None, limit: int = 200
) -> pa.Table:
    """Long-running tasks, newest first, from the ``tasks`` view (state history, human wait)."""
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    return arrow(
        con, f"SELECT * FROM tasks {where} ORDER BY created_at DESC LIMIT ?", [*params, limit]
    )
