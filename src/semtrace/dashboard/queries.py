"""Named query functions behind the dashboard: every SQL string its pages show lives here.

Each function takes a connection from :func:`semtrace.connect` (a read-only DuckDB connection,
or the collector's client, which offers the same ``con.sql(q, params=...)``) and returns an
Arrow table or plain Python values. Views that other parts of semtrace add over time
(``messages``, ``tasks``) may be missing from an older file: the functions that read them
return ``None`` then, so a page can say so instead of failing.

Huge traces stay cheap: :func:`trace_skeleton` reads only the narrow columns of a trace's
spans, :class:`TraceTree` decides which rows are visible (collapsed subtrees, a focus range)
and computes the critical path, and attributes are read per selected span
(:func:`span_detail`), never for a whole trace.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from semtrace import semconv as sc
from semtrace.dashboard.tree import TraceTree
from semtrace.store.queries import arrow, recent_traces

__all__ = [
    "EXAMPLE_QUERIES",
    "TraceTree",
    "agent_edges",
    "agent_stats",
    "cost_by_model",
    "diagnosis_detail",
    "failure_groups",
    "filter_options",
    "linked_trace_ids",
    "message_list",
    "orchestration_pattern",
    "orchestration_patterns",
    "relation_exists",
    "replay_events",
    "resolve_trace",
    "schema_catalog",
    "span_detail",
    "task_list",
    "task_state_changes",
    "task_summaries",
    "trace_failures",
    "trace_list",
    "trace_log_window",
    "trace_overview",
    "trace_skeleton",
]

Con = Any  # a DuckDB connection or the collector's client: both answer .sql(q, params=...)


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def relation_exists(con: Con, name: str) -> bool:
    """Whether a table or view called ``name`` exists (temporary views included)."""
    t = arrow(
        con,
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = ?",
        [name],
    )
    return bool(t.column("n")[0].as_py())


# -- traces list -----------------------------------------------------------------------------


def filter_options(con: Con) -> dict[str, list[str]]:
    """The services and agents seen in the store, for the trace list's filters."""
    out: dict[str, list[str]] = {}
    for key, column in (("services", "service_name"), ("agents", "agent_name")):
        t = arrow(
            con,
            f"SELECT DISTINCT {column} AS v FROM spans WHERE {column} IS NOT NULL "
            "ORDER BY 1 LIMIT 500",
        )
        out[key] = [str(v) for v in t.column("v").to_pylist()]
    return out


def trace_list(
    con: Con,
    *,
    since: str | None = None,
    until: str | None = None,
    services: Sequence[str] = (),
    agents: Sequence[str] = (),
    status: str | None = None,
    text: str | None = None,
    limit: int = 200,
) -> pa.Table:
    """Recent traces, newest first, filtered by time (ISO strings), service, agent, status and
    free text over log sentences and failure messages (``matched_sentence`` shows a hit)."""
    return recent_traces(
        con,
        since=since,
        until=until,
        services=services,
        agents=agents,
        status=status,
        text=text,
        limit=limit,
    )


def resolve_trace(con: Con, prefix: str) -> str | None:
    """The full trace id for an id or a unique prefix (as users paste them in a URL)."""
    prefix = prefix.strip().lower()
    if not prefix:
        return None
    t = arrow(
        con,
        "SELECT DISTINCT trace_id FROM spans WHERE starts_with(trace_id, ?) LIMIT 2",
        [prefix],
    )
    ids = t.column("trace_id").to_pylist()
    return str(ids[0]) if len(ids) == 1 else None


# -- one trace -------------------------------------------------------------------------------


def trace_overview(con: Con, trace_id: str) -> dict[str, Any] | None:
    """The ``traces`` row of one trace (root, agents, duration, counts, tokens, cost)."""
    rows = _rows(arrow(con, "SELECT * FROM traces WHERE trace_id = ?", [trace_id]))
    return rows[0] if rows else None


SKELETON_COLUMNS = (
    "span_id",
    "parent_span_id",
    "name",
    "start_time_ns",
    "end_time_ns",
    "duration_ms",
    "status_code",
    "agent_name",
    "operation",
    "service_name",
)


def trace_skeleton(con: Con, trace_id: str) -> pa.Table:
    """The narrow columns of every span of a trace (no attributes): what the tree needs."""
    return arrow(
        con,
        f"SELECT {', '.join(SKELETON_COLUMNS)} FROM spans WHERE trace_id = ? "
        "ORDER BY start_time_ns, span_id",
        [trace_id],
    )


def span_detail(con: Con, trace_id: str, span_id: str) -> dict[str, Any] | None:
    """One span with its attributes, resource, events, links and log sentences (lazy load)."""
    spans = _rows(
        arrow(con, "SELECT * FROM spans WHERE trace_id = ? AND span_id = ?", [trace_id, span_id])
    )
    if not spans:
        return None
    span = spans[0]
    span["attributes"] = _json(span.get("attributes")) or {}
    span["resource"] = _json(span.get("resource")) or {}
    events = _rows(
        arrow(
            con,
            """SELECT time, name, exception_type, exception_message, exception_stacktrace,
                      attributes
               FROM span_events WHERE trace_id = ? AND span_id = ? ORDER BY time_ns""",
            [trace_id, span_id],
        )
    )
    for e in events:
        e["attributes"] = _json(e.get("attributes"))
    links = _rows(
        arrow(
            con,
            """SELECT linked_trace_id, linked_span_id, attributes FROM span_links
               WHERE trace_id = ? AND span_id = ?""",
            [trace_id, span_id],
        )
    )
    logs = _rows(
        arrow(
            con,
            """SELECT time, severity, agent_name, message FROM logs
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


def trace_failures(con: Con, trace_id: str) -> pa.Table:
    """The failures of one trace with their sentence and diagnosis (from ``failures``)."""
    return arrow(
        con,
        """SELECT source, span_id, agent_name, name, error_type, message, fingerprint,
                  diagnosis, root_cause, category, remediations
           FROM failures WHERE trace_id = ? ORDER BY time""",
        [trace_id],
    )


# -- replay ----------------------------------------------------------------------------------


def linked_trace_ids(con: Con, trace_id: str, *, max_traces: int = 50) -> list[str]:
    """The trace and every trace joined to it by span links, either way (an event-driven run
    spans several traces), in order of first span."""
    found = {trace_id}
    frontier = [trace_id]
    while frontier and len(found) < max_traces:
        t = arrow(
            con,
            f"""SELECT DISTINCT linked_trace_id AS t FROM span_links k
                WHERE list_contains(?, trace_id) AND {_NOT_AMBIENT}
                UNION SELECT DISTINCT trace_id FROM span_links k
                WHERE list_contains(?, linked_trace_id) AND {_NOT_AMBIENT}""",
            [frontier, frontier],
        )
        new = [v for v in t.column("t").to_pylist() if v and v not in found]
        found.update(new)
        frontier = new
    ordered = arrow(
        con,
        """SELECT trace_id FROM spans WHERE list_contains(?, trace_id)
           GROUP BY trace_id ORDER BY min(start_time_ns)""",
        [sorted(found)],
    )
    return [str(v) for v in ordered.column("trace_id").to_pylist()][:max_traces]


# A link kept only to remember the ambient context (e.g. the HTTP request around an MCP
# call) is not a hand-off between agents.
_NOT_AMBIENT = (
    f"json_extract_string(k.attributes, '$.\"{sc.SEMTRACE_LINK_KIND}\"') IS DISTINCT FROM 'ambient'"
)

_EVENT_ORDER = (
    "CASE kind WHEN 'span_start' THEN 0 WHEN 'message' THEN 1 WHEN 'log' THEN 2 "
    "WHEN 'task_state' THEN 3 ELSE 4 END"
)


def replay_events(con: Con, trace_ids: Sequence[str], *, max_events: int = 20_000) -> pa.Table:
    """The event flow of a run in time order: span starts and ends, log sentences, messages
    between agents (from links) and task state changes.

    Columns: step, time_ns, kind (span_start, span_end, log, message, task_state), trace_id,
    span_id, agent, peer (the caller or producer agent: an arrow peer -> agent when they
    differ), name, status, text.
    """
    ids = list(trace_ids)
    task_status = f'$."{sc.MCP_TASK_STATUS}"'
    task_message = f'$."{sc.MCP_TASK_STATUS_MESSAGE}"'
    task_id = f'$."{sc.MCP_TASK_ID}"'
    topic = f'$."{sc.MESSAGING_DESTINATION_NAME}"'
    return arrow(
        con,
        f"""
        WITH s AS (SELECT * FROM spans WHERE list_contains(?, trace_id)),
        ev AS (
            SELECT s.start_time_ns AS time_ns, 'span_start' AS kind, s.trace_id, s.span_id,
                   s.agent_name AS agent,
                   CASE WHEN p.agent_name IS DISTINCT FROM s.agent_name THEN p.agent_name END
                       AS peer,
                   s.name, s.status_code AS status,
                   CASE WHEN s.kind = 'PRODUCER' THEN
                       'publishes ' || coalesce(json_extract_string(s.attributes, '{topic}'), s.name)
                   END AS text
            FROM s LEFT JOIN s p ON p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
            UNION ALL
            SELECT end_time_ns, 'span_end', trace_id, span_id, agent_name, NULL, name,
                   status_code, status_message
            FROM s
            UNION ALL
            SELECT l.time_ns, 'log', l.trace_id, l.span_id, l.agent_name, NULL, l.severity,
                   l.severity, l.message
            FROM logs l WHERE list_contains(?, l.trace_id)
            UNION ALL
            SELECT c.start_time_ns, 'message', c.trace_id, c.span_id, c.agent_name,
                   p.agent_name, c.name, c.status_code,
                   coalesce(json_extract_string(c.attributes, '{topic}'),
                            json_extract_string(p.attributes, '{topic}'), 'message')
            FROM span_links k
            JOIN s c ON c.trace_id = k.trace_id AND c.span_id = k.span_id
            JOIN spans p ON p.trace_id = k.linked_trace_id AND p.span_id = k.linked_span_id
            WHERE {_NOT_AMBIENT}
            UNION ALL
            SELECT e.time_ns, 'task_state', e.trace_id, e.span_id, s.agent_name,
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
        [ids, ids, int(max_events)],
    )


# -- agents ----------------------------------------------------------------------------------


def agent_stats(con: Con) -> pa.Table:
    """Per agent: calls, latency percentiles, error rate, tokens and cost (``agents`` view)."""
    return arrow(con, "SELECT * FROM agents ORDER BY calls DESC, agent_name")


def agent_edges(con: Con, *, trace_ids: Sequence[str] | None = None) -> pa.Table:
    """Who calls or messages whom: one row per (source, target, kind) with counts, latency
    percentiles of the callee span, errors, and the callee's tokens and cost during the call.

    Calls come from parent/child spans whose agents differ; messages from span links
    (producer agent -> consumer agent, latency = queue wait until the consumer started).
    """
    scope = "WHERE list_contains(?, trace_id)" if trace_ids is not None else ""
    params: list[Any] = [list(trace_ids)] if trace_ids is not None else []
    return arrow(
        con,
        f"""
        WITH s AS (SELECT trace_id, span_id, parent_span_id, agent_name, start_time_ns,
                          end_time_ns, duration_ms, status_code, input_tokens, output_tokens,
                          cost_usd
                   FROM spans {scope}),
        calls AS (
            SELECT p.agent_name AS source, c.agent_name AS target, 'call' AS kind,
                   c.trace_id, c.span_id, c.start_time_ns, c.end_time_ns,
                   c.duration_ms AS latency_ms, c.status_code
            FROM s c JOIN s p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
            WHERE c.agent_name IS NOT NULL AND p.agent_name IS NOT NULL
              AND c.agent_name <> p.agent_name
        ),
        msgs AS (
            SELECT p.agent_name AS source, c.agent_name AS target, 'message' AS kind,
                   c.trace_id, c.span_id, c.start_time_ns, c.end_time_ns,
                   (c.start_time_ns - p.start_time_ns) / 1e6 AS latency_ms, c.status_code
            FROM span_links k
            JOIN s c ON c.trace_id = k.trace_id AND c.span_id = k.span_id
            JOIN spans p ON p.trace_id = k.linked_trace_id AND p.span_id = k.linked_span_id
            WHERE c.agent_name IS NOT NULL AND p.agent_name IS NOT NULL AND {_NOT_AMBIENT}
        ),
        e AS (SELECT * FROM calls UNION ALL SELECT * FROM msgs),
        usage AS (
            SELECT e.trace_id, e.span_id, e.kind,
                   sum(u.input_tokens) AS input_tokens, sum(u.output_tokens) AS output_tokens,
                   sum(u.cost_usd) AS cost_usd
            FROM e JOIN s u ON u.trace_id = e.trace_id AND u.agent_name = e.target
                 AND u.start_time_ns >= e.start_time_ns AND u.end_time_ns <= e.end_time_ns
            GROUP BY ALL
        )
        SELECT e.source, e.target, e.kind, count(*) AS count,
               round(quantile_cont(e.latency_ms, 0.5), 1) AS p50_ms,
               round(quantile_cont(e.latency_ms, 0.95), 1) AS p95_ms,
               count(*) FILTER (WHERE e.status_code = 'ERROR') AS errors,
               round(count(*) FILTER (WHERE e.status_code = 'ERROR') / count(*), 3)
                   AS error_rate,
               sum(u.input_tokens)::BIGINT AS input_tokens,
               sum(u.output_tokens)::BIGINT AS output_tokens,
               round(sum(u.cost_usd), 6) AS cost_usd
        FROM e LEFT JOIN usage u ON u.trace_id = e.trace_id AND u.span_id = e.span_id
             AND u.kind = e.kind
        GROUP BY e.source, e.target, e.kind
        ORDER BY count DESC, e.source, e.target
        """,
        params,
    )


def _components(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Edges split into groups of agents connected to each other (either direction)."""
    group: dict[str, str] = {}

    def find(a: str) -> str:
        while group.setdefault(a, a) != a:
            group[a] = group[group[a]]
            a = group[a]
        return a

    for r in rows:
        group[find(r["source"])] = find(r["target"])
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(find(r["source"]), []).append(r)
    return sorted(out.values(), key=lambda es: min(e["source"] for e in es))


def _classify(rows: Sequence[dict[str, Any]]) -> tuple[str, str]:
    calls = [r for r in rows if r["kind"] == "call"]
    msgs = [r for r in rows if r["kind"] == "message"]
    agents = sorted({r["source"] for r in rows} | {r["target"] for r in rows})
    if not msgs:
        callers = sorted({r["source"] for r in calls})
        if len(callers) == 1:
            targets = sorted({r["target"] for r in calls})
            return (
                "supervisor",
                f"{callers[0]} calls {', '.join(targets)} and holds the global view",
            )
        return ("hierarchical", f"{', '.join(callers)} delegate to others by direct calls")
    out: dict[str, set[str]] = {}
    for r in msgs:
        out.setdefault(r["source"], set()).add(r["target"])
    # A broker routes one stream to several specialists whose results flow back to one place.
    for hub in sorted(out, key=lambda a: -len(out[a])):
        spread = out[hub]
        replies = [out.get(t, set()) for t in spread]
        shared = set.intersection(*replies) - spread if replies else set()
        if len(spread) >= 2 and len(shared) == 1:
            return (
                "broker",
                f"{hub} routes messages to {', '.join(sorted(spread))}; results flow back "
                f"to {next(iter(shared))}",
            )
    extra = " (plus direct calls)" if calls else ""
    return ("choreography", f"{', '.join(agents)} react to each other's messages{extra}")


def orchestration_patterns(edges: pa.Table) -> list[tuple[str, str]]:
    """The orchestration pattern of each group of connected agents (supervisor,
    hierarchical, broker, choreography), each with a one-line reason."""
    return [_classify(group) for group in _components(_rows(edges))]


def orchestration_pattern(edges: pa.Table) -> tuple[str, str]:
    """One name for the whole topology (``mixed`` when groups differ) with a reason."""
    found = orchestration_patterns(edges)
    if not found:
        return ("single agent", "No agent calls or messages another one.")
    names = {name for name, _ in found}
    name = names.pop() if len(names) == 1 else "mixed"
    return (name, "; ".join(f"{n}: {why}" for n, why in found) + ".")


def cost_by_model(con: Con) -> pa.Table:
    """LLM calls, tokens and cost per model and agent (from ``llm_calls``), costliest first."""
    return arrow(
        con,
        """SELECT model, agent_name, count(*) AS calls,
                  sum(input_tokens)::BIGINT AS input_tokens,
                  sum(output_tokens)::BIGINT AS output_tokens,
                  round(sum(cost_usd), 6) AS cost_usd,
                  round(quantile_cont(duration_ms, 0.5), 1) AS p50_ms,
                  count(*) FILTER (WHERE status_code = 'ERROR') AS errors
           FROM llm_calls GROUP BY model, agent_name
           ORDER BY cost_usd DESC NULLS LAST, calls DESC""",
    )


def message_list(con: Con, *, limit: int = 200) -> pa.Table | None:
    """Recent messages between agents (the ``messages`` view): topic, producer, consumers,
    queue wait and outcome; None when this database has no such view yet."""
    if not relation_exists(con, "messages"):
        return None
    cols = set(arrow(con, "SELECT * FROM messages LIMIT 0").column_names)
    wanted = [
        c
        for c in (
            "publish_time",
            "topic",
            "producer_agent",
            "consumer_agents",
            "queue_wait_ms",
            "outcome",
            "error_message",
            "producer_trace_id",
        )
        if c in cols
    ]
    order = "ORDER BY publish_time DESC" if "publish_time" in cols else ""
    return arrow(
        con, f"SELECT {', '.join(wanted) or '*'} FROM messages {order} LIMIT ?", [int(limit)]
    )


# -- failures --------------------------------------------------------------------------------


def failure_groups(con: Con, *, limit: int = 200) -> pa.Table:
    """Failures grouped by fingerprint (or by agent, step and error when not fingerprinted
    yet): occurrences, traces, last seen, an example sentence and trace, and the diagnosis."""
    return arrow(
        con,
        """
        SELECT coalesce(fingerprint,
                        concat_ws(' / ', agent_name, name, error_type)) AS failure,
               any_value(fingerprint) AS fingerprint,
               count(*) AS occurrences, count(DISTINCT trace_id) AS traces,
               max(time) AS last_seen,
               arg_max(agent_name, time) AS agent_name,
               arg_max(name, time) AS step,
               arg_max(error_type, time) AS error_type,
               arg_max(message, time) AS example_sentence,
               arg_max(trace_id, time) AS example_trace,
               arg_max(span_id, time) AS example_span,
               any_value(diagnosis) AS diagnosis,
               any_value(root_cause) AS root_cause,
               any_value(category) AS category,
               any_value(remediations) AS remediations
        FROM failures
        GROUP BY 1
        ORDER BY last_seen DESC LIMIT ?
        """,
        [int(limit)],
    )


def diagnosis_detail(con: Con, fingerprint: str) -> dict[str, Any] | None:
    """The latest diagnosis of a fingerprint with its evidence and remediations parsed."""
    rows = _rows(
        arrow(
            con,
            """SELECT * FROM diagnoses WHERE fingerprint = ?
               ORDER BY created_at DESC LIMIT 1""",
            [fingerprint],
        )
    )
    if not rows:
        return None
    row = rows[0]
    for key in ("evidence", "remediations", "context"):
        row[key] = _json(row.get(key))
    return row


# -- tasks -----------------------------------------------------------------------------------


def task_list(con: Con, *, limit: int = 200) -> pa.Table | None:
    """Rows of the ``tasks`` view (None when this database has no such view yet)."""
    if not relation_exists(con, "tasks"):
        return None
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


def schema_catalog(con: Con) -> pa.Table:
    """Every table and view with its columns and types, for the SQL page's sidebar."""
    return arrow(
        con,
        """SELECT c.table_name, c.column_name, any_value(c.data_type) AS data_type,
                  any_value(t.table_type) AS table_type
           FROM information_schema.columns c
           JOIN information_schema.tables t
             ON t.table_name = c.table_name AND t.table_schema = c.table_schema
            AND t.table_catalog = c.table_catalog
           WHERE c.table_schema = 'main' AND NOT starts_with(c.table_name, '__')
           GROUP BY c.table_name, c.column_name
           ORDER BY any_value(t.table_type) DESC, c.table_name, min(c.ordinal_position)""",
    )


EXAMPLE_QUERIES: dict[str, str] = {
    "Slowest traces": (
        "SELECT trace_id, root_name, agents, round(duration_ms) AS ms, error_count\n"
        "FROM traces ORDER BY duration_ms DESC LIMIT 20"
    ),
    "Failure sentences today": (
        "SELECT time, agent_name, message, diagnosis\nFROM failures\n"
        "WHERE time > now() - INTERVAL 1 DAY ORDER BY time DESC"
    ),
    "Tokens and cost by model": (
        "SELECT model, count(*) AS calls, sum(input_tokens) AS input_tokens,\n"
        "       sum(output_tokens) AS output_tokens, round(sum(cost_usd), 4) AS cost_usd\n"
        "FROM llm_calls GROUP BY model ORDER BY cost_usd DESC"
    ),
    "Agent latency percentiles": (
        "SELECT agent_name, calls, round(p50_ms) AS p50_ms, round(p95_ms) AS p95_ms,\n"
        "       round(error_rate, 3) AS error_rate\nFROM agents ORDER BY calls DESC"
    ),
    "Tool error rates": (
        "SELECT tool_name, count(*) AS calls,\n"
        "       count(*) FILTER (WHERE status_code = 'ERROR') AS errors\n"
        "FROM tool_calls GROUP BY tool_name ORDER BY errors DESC"
    ),
    "Search log sentences": (
        "SELECT time, agent_name, severity, message\nFROM logs\n"
        "WHERE message ILIKE '%vendor%' ORDER BY time DESC LIMIT 50"
    ),
}
