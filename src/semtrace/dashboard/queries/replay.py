"""Replay: the event flow of one run, in the order things happened."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from semtrace import semconv as sc
from semtrace.dashboard.queries._common import NOT_AMBIENT, Con, arrow
from semtrace.dashboard.queries.runs import CausalScope

__all__ = ["replay_events"]

_EVENT_ORDER = (
    "CASE kind WHEN 'span_start' THEN 0 WHEN 'message' THEN 1 WHEN 'log' THEN 2 "
    "WHEN 'task_state' THEN 3 ELSE 4 END"
)


def replay_events(con: Con, scope: CausalScope, *, max_events: int = 20_000) -> pa.Table:
    """The event flow of a run in time order: span starts and ends, log sentences, messages
    between agents (from links) and task state changes, over the spans of ``scope`` only.

    Columns: step, time_ns, kind (span_start, span_end, log, message, task_state), trace_id,
    span_id, span_name (the span the event happened in), agent, peer (the caller or producer
    agent: an arrow peer -> agent when they differ), name, status, text.
    """
    whole = list(scope.whole)
    part_traces = [t for t, spans in scope.partial.items() for _ in spans]
    part_spans = [s for spans in scope.partial.values() for s in spans]
    task_status = f'$."{sc.MCP_TASK_STATUS}"'
    task_message = f'$."{sc.MCP_TASK_STATUS_MESSAGE}"'
    task_id = f'$."{sc.MCP_TASK_ID}"'
    topic = f'$."{sc.MESSAGING_DESTINATION_NAME}"'
    params: list[Any] = [part_traces, part_spans, whole, int(max_events)]
    return arrow(
        con,
        f"""
        WITH part AS (SELECT unnest(?::VARCHAR[]) AS trace_id, unnest(?::VARCHAR[]) AS span_id),
        s AS MATERIALIZED (
            SELECT * FROM spans WHERE list_contains(?, trace_id)
            UNION ALL
            SELECT spans.* FROM spans JOIN part USING (trace_id, span_id)
        ),
        ev AS (
            SELECT s.start_time_ns AS time_ns, 'span_start' AS kind, s.trace_id, s.span_id,
                   s.name AS span_name, s.agent_name AS agent,
                   CASE WHEN p.agent_name IS DISTINCT FROM s.agent_name THEN p.agent_name END
                       AS peer,
                   s.name, s.status_code AS status,
                   CASE WHEN s.kind = 'PRODUCER' THEN
                       'publishes ' || coalesce(json_extract_string(s.attributes, '{topic}'), s.name)
                   END AS text
            FROM s LEFT JOIN s p ON p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
            UNION ALL
            SELECT end_time_ns, 'span_end', trace_id, span_id, name, agent_name, NULL, name,
                   status_code, status_message
            FROM s
            UNION ALL
            SELECT l.time_ns, 'log', l.trace_id, l.span_id, s.name, l.agent_name, NULL,
                   l.severity, l.severity, l.message
            FROM logs l JOIN s ON s.trace_id = l.trace_id AND s.span_id = l.span_id
            UNION ALL
            SELECT c.start_time_ns, 'message', c.trace_id, c.span_id, c.name, c.agent_name,
                   p.agent_name, c.name, c.status_code,
                   coalesce(json_extract_string(c.attributes, '{topic}'),
                            json_extract_string(p.attributes, '{topic}'), 'message')
            FROM span_links k
            JOIN s c ON c.trace_id = k.trace_id AND c.span_id = k.span_id
            JOIN s p ON p.trace_id = k.linked_trace_id AND p.span_id = k.linked_span_id
            WHERE {NOT_AMBIENT}
            UNION ALL
            SELECT e.time_ns, 'task_state', e.trace_id, e.span_id, s.name, s.agent_name,
                   NULL, coalesce(json_extract_string(e.attributes, '{task_id}'), s.task_id),
                   json_extract_string(e.attributes, '{task_status}'),
                   json_extract_string(e.attributes, '{task_status}')
                       || coalesce(': ' || json_extract_string(e.attributes, '{task_message}'), '')
            FROM span_events e JOIN s ON s.trace_id = e.trace_id AND s.span_id = e.span_id
            WHERE json_extract_string(e.attributes, '{task_status}') IS NOT NULL
        )
        SELECT (row_number() OVER (ORDER BY time_ns, {_EVENT_ORDER}, span_id) - 1)::INTEGER
                   AS step, *
        FROM ev ORDER BY step LIMIT ?
        """,
        params,
    )
