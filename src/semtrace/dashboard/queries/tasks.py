"""Long-running tasks: their state changes and the time spent waiting on a human."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from semtrace import semconv as sc
from semtrace.dashboard.queries._common import Con, arrow

__all__ = ["task_list", "task_state_changes", "task_summaries"]


def task_list(con: Con, *, limit: int = 200) -> pa.Table:
    """Rows of the ``tasks`` view (in every database), newest first."""
    cols = arrow(con, "SELECT * FROM tasks LIMIT 0").column_names
    order = next((c for c in ("created_at", "start_time", "started_at") if c in cols), None)
    by = f"ORDER BY {order} DESC" if order else ""
    return arrow(con, f"SELECT * FROM tasks {by} LIMIT ?", [int(limit)])


def task_state_changes(con: Con, *, task_id: str | None = None) -> pa.Table:
    """Task state changes recorded as span events (``mcp.task.status``), in time order."""
    status = f'$."{sc.MCP_TASK_STATUS}"'
    where = [f"json_extract_string(e.attributes, '{status}') IS NOT NULL"]
    params: list[Any] = []
    tid = f"""coalesce(json_extract_string(e.attributes, '$."{sc.MCP_TASK_ID}"'), s.task_id)"""
    if task_id:
        where.append(f"{tid} = ?")
        params.append(task_id)
    return arrow(
        con,
        f"""SELECT {tid} AS task_id, e.time, e.time_ns, s.agent_name, e.trace_id, e.span_id,
                   json_extract_string(e.attributes, '{status}') AS status,
                   json_extract_string(e.attributes,
                       '$."{sc.MCP_TASK_STATUS_MESSAGE}"') AS status_message
            FROM span_events e
            LEFT JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id
            WHERE {" AND ".join(where)}
            ORDER BY e.time_ns""",
        params,
    )


def task_summaries(
    changes: Sequence[dict[str, Any]], *, now_ns: int | None = None
) -> list[dict[str, Any]]:
    """One row per task from its state changes (as :func:`task_state_changes` returns them):
    current status, agent, number of changes, time working and time waiting on a human
    (``input_required``), in milliseconds. An open state counts until ``now_ns`` if given."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for c in changes:
        by_task.setdefault(str(c["task_id"]), []).append(c)
    out: list[dict[str, Any]] = []
    for task, items in by_task.items():
        spent: dict[str, float] = {}
        for i, c in enumerate(items):
            nxt = items[i + 1]["time_ns"] if i + 1 < len(items) else now_ns
            if nxt is not None:
                spent[c["status"]] = spent.get(c["status"], 0.0) + (nxt - c["time_ns"]) / 1e6
        out.append(
            {
                "task_id": task,
                "agent_name": items[0].get("agent_name"),
                "status": items[-1]["status"],
                "status_message": items[-1].get("status_message"),
                "changes": len(items),
                "working_ms": round(spent.get("working", 0.0), 3),
                "human_wait_ms": round(spent.get("input_required", 0.0), 3),
                "trace_id": items[0].get("trace_id"),
            }
        )
    return out


# -- SQL console -----------------------------------------------------------------------------
