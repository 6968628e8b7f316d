"""Compare: the spans of two runs with what they took in and gave back, and the runs of
the same workflow to compare a trace with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from semtrace.dashboard.queries._common import Con, arrow, parse_json, rows
from semtrace.store.views import traces_select

__all__ = ["MAX_COMPARED_SPANS", "run_spans", "similar_traces"]

MAX_COMPARED_SPANS = 5000  # per run: a comparison is read whole, with attributes


def run_spans(con: Con, trace_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The spans of the traces, attributes parsed, in start order (at most
    :data:`MAX_COMPARED_SPANS`)."""
    found = rows(
        arrow(
            con,
            """SELECT trace_id, span_id, parent_span_id, name, start_time_ns, end_time_ns, duration_ms,
                      status_code, status_message, agent_name, operation, attributes
               FROM spans WHERE list_contains(?, trace_id)
               ORDER BY start_time_ns, span_id LIMIT ?""",
            [list(trace_ids), MAX_COMPARED_SPANS],
        )
    )
    for span in found:
        span["attributes"] = parse_json(span["attributes"]) or {}
    return found


def similar_traces(con: Con, trace_id: str, *, limit: int = 30) -> list[dict[str, Any]]:
    """Other traces of the same workflow (the same root span name), newest first, with
    their status: what a trace is usually compared with."""
    sql = traces_select(
        """WHERE trace_id IN (
            SELECT trace_id FROM spans
            WHERE parent_span_id IS NULL AND name = (
                SELECT arg_min(name, start_time_ns) FROM spans
                WHERE trace_id = ? AND parent_span_id IS NULL)
              AND trace_id <> ?
            ORDER BY start_time_ns DESC LIMIT ?)"""
    )
    return rows(
        arrow(con, f"SELECT * FROM ({sql}) ORDER BY start_time DESC", [trace_id, trace_id, limit])
    )
