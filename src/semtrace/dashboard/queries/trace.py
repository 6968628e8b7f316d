"""One trace: its overview, its skeleton (the narrow columns the tree needs), the markers
drawn on its bars, the hints that explain its gaps, one span's details, its failures.

Huge traces stay cheap: the skeleton reads no attributes, markers and hints are read for
the rows on screen only, and a span's attributes, events and links when it is selected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from semtrace import semconv as sc
from semtrace.dashboard.queries._common import (
    NOT_AMBIENT,
    Con,
    arrow,
    parse_json,
    rows,
)
from semtrace.store.views import traces_select

__all__ = [
    "SKELETON_COLUMNS",
    "span_detail",
    "span_hints",
    "trace_log_window",
    "trace_markers",
    "trace_overview",
    "trace_skeleton",
]

SKELETON_COLUMNS = (
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_time_ns",
    "end_time_ns",
    "duration_ms",
    "status_code",
    "agent_name",
    "operation",
    "service_name",
)


def trace_overview(con: Con, trace_id: str) -> dict[str, Any] | None:
    """The ``traces`` row of one trace (root, agents, duration, counts, tokens, cost),
    computed for that trace only."""
    found = rows(arrow(con, traces_select("WHERE trace_id = ?"), [trace_id]))
    return found[0] if found else None


def trace_skeleton(con: Con, trace_id: str) -> pa.Table:
    """The narrow columns of every span of a trace (no attributes): what the tree needs."""
    return arrow(
        con,
        f"SELECT {', '.join(SKELETON_COLUMNS)} FROM spans WHERE trace_id = ? "
        "ORDER BY start_time_ns, span_id",
        [trace_id],
    )


def trace_markers(
    con: Con, trace_id: str, span_ids: Sequence[str], *, limit: int = 2000
) -> list[dict[str, Any]]:
    """What happened inside the given spans, to draw on their bars: log sentences and span
    events (exceptions, task state changes, others), in time order.

    Columns: time_ns, span_id, kind (``log``, ``exception``, ``task``, ``event``), level
    (a severity, or a task status), text (the sentence, or what the event says).
    """
    if not span_ids:
        return []
    status = f'$."{sc.MCP_TASK_STATUS}"'
    message = f'$."{sc.MCP_TASK_STATUS_MESSAGE}"'
    return rows(
        arrow(
            con,
            f"""
            SELECT time_ns, span_id, 'log' AS kind, severity AS level, message AS text
            FROM logs WHERE trace_id = ? AND list_contains(?, span_id)
            UNION ALL
            SELECT time_ns, span_id,
                   CASE WHEN exception_type IS NOT NULL OR name = '{sc.EXCEPTION_EVENT}'
                            THEN 'exception'
                        WHEN json_extract_string(attributes, '{status}') IS NOT NULL
                            THEN 'task'
                        ELSE 'event' END,
                   coalesce(json_extract_string(attributes, '{status}'),
                            CASE WHEN exception_type IS NOT NULL THEN 'ERROR' END),
                   CASE WHEN exception_type IS NOT NULL
                            THEN exception_type || ': ' || coalesce(exception_message, '')
                        WHEN json_extract_string(attributes, '{status}') IS NOT NULL
                            THEN 'task ' || json_extract_string(attributes, '{status}')
                                 || coalesce(': ' || json_extract_string(attributes,
                                                                         '{message}'), '')
                        ELSE name END
            FROM span_events
            WHERE trace_id = ? AND list_contains(?, span_id)
              AND name <> '{sc.SEMTRACE_LOG_EVENT}'
            ORDER BY time_ns LIMIT ?
            """,
            [trace_id, list(span_ids), trace_id, list(span_ids), int(limit)],
        )
    )


def span_hints(con: Con, trace_id: str, span_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Why a span may have started late, for the given spans: the backoff a heal attempt
    waited (``heal_action``, ``heal_delay_s``) and, for a span that consumed a message, when
    that message was published (``published_ns``, maybe in another trace)."""
    if not span_ids:
        return {}
    found = rows(
        arrow(
            con,
            f"""
            WITH s AS (
                SELECT span_id,
                       json_extract_string(attributes, '$."{sc.SEMTRACE_HEAL_ACTION}"')
                           AS heal_action,
                       TRY_CAST(json_extract(attributes, '$."{sc.SEMTRACE_HEAL_DELAY_S}"')
                                AS DOUBLE) AS heal_delay_s
                FROM spans WHERE trace_id = ? AND list_contains(?, span_id)
            ),
            pub AS (
                SELECT k.span_id, min(p.start_time_ns) AS published_ns
                FROM span_links k
                JOIN spans p ON p.trace_id = k.linked_trace_id AND p.span_id = k.linked_span_id
                WHERE k.trace_id = ? AND list_contains(?, k.span_id) AND {NOT_AMBIENT}
                GROUP BY k.span_id
            )
            SELECT s.*, pub.published_ns FROM s LEFT JOIN pub USING (span_id)
            """,
            [trace_id, list(span_ids), trace_id, list(span_ids)],
        )
    )
    return {r["span_id"]: r for r in found}


def span_detail(con: Con, trace_id: str, span_id: str) -> dict[str, Any] | None:
    """One span with its attributes, resource, events, links and log sentences (lazy load)."""
    spans = rows(
        arrow(con, "SELECT * FROM spans WHERE trace_id = ? AND span_id = ?", [trace_id, span_id])
    )
    if not spans:
        return None
    span = spans[0]
    span["attributes"] = parse_json(span.get("attributes")) or {}
    span["resource"] = parse_json(span.get("resource")) or {}
    events = rows(
        arrow(
            con,
            """SELECT time, time_ns, name, exception_type, exception_message,
                      exception_stacktrace, attributes
               FROM span_events WHERE trace_id = ? AND span_id = ? ORDER BY time_ns""",
            [trace_id, span_id],
        )
    )
    for e in events:
        e["attributes"] = parse_json(e.get("attributes"))
    links = rows(
        arrow(
            con,
            """SELECT linked_trace_id, linked_span_id, attributes FROM span_links
               WHERE trace_id = ? AND span_id = ?""",
            [trace_id, span_id],
        )
    )
    logs = rows(
        arrow(
            con,
            """SELECT time, time_ns, severity, agent_name, message FROM logs
               WHERE trace_id = ? AND span_id = ? ORDER BY time_ns LIMIT 200""",
            [trace_id, span_id],
        )
    )
    return {"span": span, "events": events, "links": links, "logs": logs}


def trace_log_window(
    con: Con,
    trace_id: str,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    limit: int = 500,
) -> pa.Table:
    """The log sentences of a trace inside a time range (the focus), in time order."""
    where = ["trace_id = ?"]
    params: list[Any] = [trace_id]
    if start_ns is not None:
        where.append("time_ns >= ?")
        params.append(int(start_ns))
    if end_ns is not None:
        where.append("time_ns <= ?")
        params.append(int(end_ns))
    params.append(int(limit))
    return arrow(
        con,
        f"""SELECT time, time_ns, span_id, severity, agent_name, message
            FROM logs WHERE {" AND ".join(where)} ORDER BY time_ns LIMIT ?""",
        params,
    )
