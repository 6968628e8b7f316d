"""Named query functions: how the CLI, the dashboard and diagnose read the store.

Each takes a DuckDB connection (from :func:`semtrace.connect`) and returns an Arrow table or
plain Python values. SQL lives here, not in the pages and commands that show the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from semtrace.exceptions import QueryError
from semtrace.store.schema import TABLES
from semtrace.store.views import VIEWS, traces_select

__all__ = [
    "FINDING_KINDS",
    "answers_since",
    "arrow",
    "failure",
    "failure_count",
    "failure_kinds",
    "failures",
    "findings",
    "fingerprint_occurrences",
    "latest_diagnosis",
    "list_relations",
    "list_traces",
    "messages",
    "pending_answers",
    "recent_failures",
    "recent_traces",
    "resolve_trace_id",
    "run_sql",
    "span_names",
    "task_state",
    "tasks",
    "trace_logs",
    "trace_spans",
    "waiting_tasks",
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
    """Most recent traces first, optionally filtered (see :func:`recent_traces`)."""
    table = recent_traces(
        con,
        status=status,
        services=[service] if service else (),
        agents=[agent] if agent else (),
        limit=limit,
    )
    return table.select(
        [
            "trace_id",
            "root_name",
            "services",
            "agents",
            "start_time",
            "duration_ms",
            "span_count",
            "error_count",
            "failure_count",
            "status",
            "input_tokens",
            "output_tokens",
            "cost_usd",
        ]
    )


def _failure_filters(
    since: datetime | None, trace_id: str | None, source: str | None
) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append("time >= ?")
        params.append(since)
    if trace_id is not None:
        where.append("trace_id = ?")
        params.append(trace_id)
    if source is not None:
        where.append("source = ?")
        params.append(source)
    return (" WHERE " + " AND ".join(where)) if where else "", params


def failures(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
    trace_id: str | None = None,
    source: str | None = None,
    limit: int | None = None,
) -> pa.Table:
    """The failures, one per failure counted where it started (the ``failures`` view: an
    ERROR span that is its own ``error_origin``, with the spans it took down as impact, or an
    error log of no failed span), oldest first. ``source``: ``"span"`` or ``"log"`` only.
    The CLI, diagnose, the dashboard and the demo all count failures through this."""
    where, params = _failure_filters(since, trace_id, source)
    tail = f" LIMIT {int(limit)}" if limit is not None else ""
    return arrow(
        con,
        f"SELECT * FROM failures{where} ORDER BY time, span_id, log_id{tail}",
        params,
    )


def failure_count(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
    trace_id: str | None = None,
) -> int:
    """How many failures :func:`failures` lists (the one count of failures)."""
    where, params = _failure_filters(since, trace_id, None)
    rows = con.execute(f"SELECT count(*) FROM failures{where}", params).fetchall()
    return int(rows[0][0])


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


def recent_traces(
    con: duckdb.DuckDBPyConnection,
    *,
    since: str | None = None,
    until: str | None = None,
    services: Sequence[str] = (),
    agents: Sequence[str] = (),
    status: str | None = None,
    text: str | None = None,
    limit: int = 200,
) -> pa.Table:
    """The newest traces matching the filters, with the ``traces`` view's columns and
    ``matched_sentence`` (the first log or failure sentence matching ``text``).

    Fast at tens of millions of spans: candidates come from entry spans (roots, and SERVER or
    CONSUMER spans whose parent lives in another process) plus the traces of the newest spans
    (runs still in progress); the filters are first checked on a window of the newest
    candidates only, and on everything when that window holds too few matches; the per-trace
    aggregates (``failure_count`` with the failures told by a log alone) run over the chosen
    traces' spans and logs only.
    """
    args = (since, until, services, agents, status, text, int(limit))
    window = max(50 * int(limit), 5_000)
    if services or agents or status or (text and text.strip()):
        table = _recent_traces(con, *args, window=window)
        if table.num_rows >= limit:
            return table
    return _recent_traces(con, *args, window=None)


def _recent_traces(
    con: duckdb.DuckDBPyConnection,
    since: str | None,
    until: str | None,
    services: Sequence[str],
    agents: Sequence[str],
    status: str | None,
    text: str | None,
    limit: int,
    *,
    window: int | None,
) -> pa.Table:
    time_filter: list[str] = []
    time_params: list[Any] = []
    if since:
        time_filter.append("start_time >= ?::TIMESTAMPTZ")
        time_params.append(since)
    if until:
        time_filter.append("start_time <= ?::TIMESTAMPTZ")
        time_params.append(until)
    times = "".join(f" AND {f}" for f in time_filter)
    # Span-level predicates ("the trace has a span that..."), checked inside the window only.
    scope = " AND trace_id IN (SELECT trace_id FROM win)" if window else ""
    keep: list[str] = []
    keep_params: list[Any] = []
    if services:
        keep.append(
            f"SELECT trace_id FROM spans WHERE service_name IN (SELECT unnest(?::VARCHAR[])){scope}"
        )
        keep_params.append(list(services))
    if agents:
        keep.append(
            f"SELECT trace_id FROM spans WHERE agent_name IN (SELECT unnest(?::VARCHAR[])){scope}"
        )
        keep_params.append(list(agents))
    # A trace with a failure (the traces view's status ERROR): an ERROR span, or an error
    # log (one in a span that did not error is a failure of its own or a caught one's).
    errors = (
        f"SELECT trace_id FROM spans WHERE status_code = 'ERROR'{scope} UNION ALL "
        f"SELECT trace_id FROM logs WHERE severity IN ('ERROR', 'CRITICAL'){scope}"
    )
    negate: list[str] = []
    if status and status.upper() == "ERROR":
        keep.append(errors)
    elif status:
        negate.append(errors)
    match_cte = "SELECT NULL::VARCHAR AS trace_id, NULL::VARCHAR AS sentence WHERE false"
    match_params: list[Any] = []
    if text and text.strip():
        pattern = f"%{text.strip()}%"
        match_cte = """
            SELECT trace_id, arg_min(sentence, time_ns) AS sentence FROM (
                SELECT trace_id, message AS sentence, time_ns FROM logs
                 WHERE trace_id IS NOT NULL AND message ILIKE ?
                UNION ALL
                SELECT trace_id, status_message, start_time_ns FROM spans
                 WHERE status_message ILIKE ?
            ) GROUP BY trace_id"""
        match_params = [pattern, pattern]
        keep.append("SELECT trace_id FROM m")
    pool = "win" if window else "pool"
    kept = "".join(f" AND trace_id IN ({k})" for k in keep)
    kept += "".join(f" AND trace_id NOT IN ({n})" for n in negate)
    subset = "WHERE trace_id IN (SELECT trace_id FROM chosen)"
    # Only the newest entries can make the cut, unless filters must look further back.
    depth = window or (None if kept else limit)
    entry_limit = f" ORDER BY first_ns DESC LIMIT {int(depth)}" if depth else ""
    sql = f"""
        WITH m AS MATERIALIZED ({match_cte}),
        entries AS (
            SELECT trace_id, min(start_time_ns) AS first_ns FROM spans
            WHERE (parent_span_id IS NULL OR kind IN ('SERVER', 'CONSUMER')){times}
            GROUP BY trace_id{entry_limit}
        ),
        -- traces still running have no finished root yet: their newest spans bring them in
        running AS (
            SELECT trace_id, min(start_time_ns) AS first_ns FROM (
                SELECT trace_id, start_time_ns FROM spans WHERE true{times}
                ORDER BY start_time_ns DESC LIMIT ?)
            GROUP BY trace_id
        ),
        pool AS (SELECT * FROM entries UNION ALL SELECT * FROM running),
        win AS MATERIALIZED (
            SELECT trace_id, max(first_ns) AS first_ns FROM pool GROUP BY trace_id
            ORDER BY first_ns DESC LIMIT ?
        ),
        chosen AS MATERIALIZED (
            SELECT trace_id, max(first_ns) AS first_ns FROM {pool}
            WHERE true{kept}
            GROUP BY trace_id ORDER BY first_ns DESC LIMIT ?
        ),
        t AS ({traces_select(subset)})
        SELECT t.trace_id, t.root_name, t.root_agent, t.services, t.agents, t.start_time,
               round(t.duration_ms, 1) AS duration_ms, t.span_count, t.error_count,
               t.failure_count, t.status,
               t.input_tokens, t.output_tokens, round(t.cost_usd, 6) AS cost_usd,
               m.sentence AS matched_sentence
        FROM t LEFT JOIN m ON m.trace_id = t.trace_id
        ORDER BY t.start_time DESC, t.trace_id
        LIMIT ?"""
    params = [
        *match_params,
        *time_params,
        *time_params,
        limit,
        window or limit,
        *keep_params,
        limit,
        limit,
    ]
    return arrow(con, sql, params)


# -- failures and diagnoses, by id (the MCP server's drill-down) -------------------------------

# A failure's id: its span's id, or its log record's id for an error log outside failed spans.
_FAILURE_ID = "CASE WHEN source = 'log' THEN log_id ELSE span_id END"


def recent_failures(
    con: duckdb.DuckDBPyConnection,
    *,
    limit: int = 20,
    agent: str | None = None,
    trace_id: str | None = None,
    since: datetime | None = None,
) -> pa.Table:
    """The newest failures (those :func:`failures` lists), each with its ``failure_id`` and
    how many spans it took down (``impact_count``)."""
    where, params = _failure_filters(since, trace_id, None)
    if agent is not None:
        where += f"{' AND' if where else ' WHERE'} agent_name = ?"
        params.append(agent)
    return arrow(
        con,
        f"""SELECT {_FAILURE_ID} AS failure_id, time, trace_id, agent_name, name, error_type,
                   message, impact_count, fingerprint, category, diagnosis
            FROM failures{where} ORDER BY time DESC, failure_id LIMIT ?""",
        [*params, int(limit)],
    )


def failure(con: duckdb.DuckDBPyConnection, failure_id: str) -> dict[str, Any] | None:
    """One row of the ``failures`` view by its ``failure_id`` (see :func:`recent_failures`)."""
    rows = arrow(
        con,
        f"""SELECT {_FAILURE_ID} AS failure_id, * FROM failures
            WHERE (source = 'span' AND span_id = ?) OR (source = 'log' AND log_id = ?)
            LIMIT 1""",
        [failure_id, failure_id],
    ).to_pylist()
    return rows[0] if rows else None


def latest_diagnosis(con: duckdb.DuckDBPyConnection, fingerprint: str) -> dict[str, Any] | None:
    """The newest diagnosis of ``fingerprint`` (a good one before a failed attempt), if any,
    its ``evidence`` and ``remediations`` parsed into lists."""
    rows = arrow(
        con,
        """SELECT * FROM diagnoses WHERE fingerprint = ?
           ORDER BY status = 'ok' DESC, created_at DESC LIMIT 1""",
        [fingerprint],
    ).to_pylist()
    if not rows:
        return None
    row: dict[str, Any] = rows[0]
    for key in ("evidence", "remediations"):
        row[key] = orjson.loads(row[key]) if isinstance(row.get(key), str) else row.get(key)
    return row


def fingerprint_occurrences(
    con: duckdb.DuckDBPyConnection, fingerprint: str, *, limit: int = 10
) -> pa.Table:
    """The recorded occurrences of one failure fingerprint, newest first."""
    return arrow(
        con,
        """SELECT time, failure_kind, trace_id, coalesce(log_id, span_id) AS failure_id
           FROM failure_fingerprints WHERE fingerprint = ?
           ORDER BY time DESC NULLS LAST LIMIT ?""",
        [fingerprint, int(limit)],
    )


# -- tasks waiting for a human, and the answers given to them (the Inbox) ----------------------

# When a task entered its current status: the time of the last entry of its history.
_SINCE = "history[-1].time"


def task_state(con: duckdb.DuckDBPyConnection, task_id: str) -> dict[str, Any] | None:
    """One task's current status from the ``tasks`` view, with ``since`` (when it entered it)."""
    rows = arrow(
        con,
        f"""SELECT task_id, name, agent_name, service_name, trace_id, span_id, status,
                   status_message, {_SINCE} AS since
            FROM tasks WHERE task_id = ?""",
        [task_id],
    ).to_pylist()
    return rows[0] if rows else None


def waiting_tasks(con: duckdb.DuckDBPyConnection, *, limit: int = 200) -> pa.Table:
    """Tasks waiting in ``input_required``, longest waiting first: the question (status
    message), agent, trace, since when and for how long, and an answer already given that the
    agent has not taken yet (``answered_by``/``answered_at``/``answer_kind``; NULL if none)."""
    return arrow(
        con,
        f"""WITH waiting AS (
                SELECT task_id, name, agent_name, service_name, trace_id, status_message,
                       {_SINCE} AS since
                FROM tasks WHERE status = 'input_required'
            )
            SELECT w.task_id, w.name, w.agent_name, w.service_name, w.trace_id,
                   w.status_message AS question, w.since AS waiting_since,
                   epoch_ms(now()) - epoch_ms(w.since) AS waited_ms,
                   a.answered_by, a.answered_at, a.kind AS answer_kind
            FROM waiting w
            LEFT JOIN task_answers a ON a.task_id = w.task_id AND a.answered_at >= w.since
            QUALIFY row_number() OVER (PARTITION BY w.task_id ORDER BY a.answered_at DESC) = 1
            ORDER BY w.since, w.task_id
            LIMIT ?""",
        [int(limit)],
    )


def answers_since(con: duckdb.DuckDBPyConnection, task_id: str, since: Any) -> list[dict[str, Any]]:
    """The answers (and cancel requests) given to a task at or after ``since``, newest first."""
    return arrow(
        con,
        """SELECT answer_id, kind, decision, answered_by, answered_at, delivered_at, outcome
           FROM task_answers WHERE task_id = ? AND answered_at >= ?::TIMESTAMPTZ
           ORDER BY answered_at DESC""",
        [task_id, since],
    ).to_pylist()


def pending_answers(con: duckdb.DuckDBPyConnection, task_ids: Sequence[str]) -> pa.Table:
    """Answers to these tasks that no agent has taken yet, oldest first."""
    return arrow(
        con,
        """SELECT answer_id, task_id, kind, decision, answer, answered_by, answered_at
           FROM task_answers
           WHERE delivered_at IS NULL AND task_id IN (SELECT unnest(?::VARCHAR[]))
           ORDER BY answered_at, answer_id""",
        [list(task_ids)],
    )


# What diagnose finds besides failures (failure_fingerprints.failure_kind): a step its whole
# trace waited on, a loop, a task stuck waiting. Each a finding of its own kind.
FINDING_KINDS = {"slow": "slow step", "loop": "loop", "stuck_task": "stuck task"}


def findings(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
    trace_id: str | None = None,
    limit: int | None = None,
) -> pa.Table:
    """Diagnosed findings that are not failures (see :data:`FINDING_KINDS`), newest first,
    each with its span, agent and latest diagnosis. The dashboard and the demo story count
    them through this."""
    where = ["f.failure_kind IN (SELECT unnest(?::VARCHAR[]))"]
    params: list[Any] = [list(FINDING_KINDS)]
    if since is not None:
        where.append("f.time >= ?")
        params.append(since)
    if trace_id is not None:
        where.append("f.trace_id = ?")
        params.append(trace_id)
    return arrow(
        con,
        f"""
        WITH latest AS (
            SELECT * FROM diagnoses QUALIFY row_number() OVER (
                PARTITION BY fingerprint ORDER BY created_at DESC) = 1
        )
        SELECT f.failure_kind AS kind, f.fingerprint, f.trace_id, f.span_id, f.time,
               s.name, s.agent_name, s.duration_ms, d.summary AS diagnosis, d.root_cause,
               d.category, d.remediations
        FROM failure_fingerprints f
        LEFT JOIN spans s ON s.trace_id = f.trace_id AND s.span_id = f.span_id
        LEFT JOIN latest d ON d.fingerprint = f.fingerprint
        WHERE {" AND ".join(where)}
        ORDER BY f.time DESC{f" LIMIT {int(limit)}" if limit is not None else ""}
        """,
        params,
    )


def failure_kinds(
    con: duckdb.DuckDBPyConnection, *, since: datetime | None = None
) -> list[dict[str, Any]]:
    """The failures of :func:`failures` grouped by fingerprint (or by agent, step and error
    when not fingerprinted yet), the most recent kind first: occurrences, how many are
    diagnosed, traces, last seen, the latest sentence, trace and span, what it took down,
    and the diagnosis. ``step`` names the span the failure happened in, never a log's
    template. The dashboard's Failures page and the demo story list failures through this."""
    rows = failures(con, since=since).to_pylist()
    steps = span_names(con, [(f["trace_id"], f["span_id"]) for f in rows if f["span_id"]])
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in rows:
        key = f["fingerprint"] or " / ".join(
            str(v) for v in (f["agent_name"], f["name"], f["error_type"]) if v
        )
        groups.setdefault(key, []).append(f)
    out: list[dict[str, Any]] = []
    for key, items in groups.items():
        latest = max(items, key=lambda f: f["time"])
        diagnosed = next((f for f in items if f["diagnosis"]), latest)
        out.append(
            {
                "failure": key,
                "fingerprint": latest["fingerprint"],
                "occurrences": len(items),
                "diagnosed": sum(1 for f in items if f["diagnosis"]),
                "traces": len({f["trace_id"] for f in items}),
                "first_seen": min(f["time"] for f in items),
                "last_seen": latest["time"],
                "agent_name": latest["agent_name"],
                "step": steps.get((latest["trace_id"], latest["span_id"] or ""))
                or latest["tool_name"]
                or latest["operation"]
                or "a step",
                "error_type": latest["error_type"],
                "example_sentence": latest["message"],
                "example_trace": latest["trace_id"],
                "example_span": latest["span_id"],
                "impact_count": latest["impact_count"] or 0,
                "ended_in": latest["ended_in"],
                "diagnosis": diagnosed["diagnosis"],
                "root_cause": diagnosed["root_cause"],
                "category": diagnosed["category"],
                "remediations": diagnosed["remediations"],
            }
        )
    out.sort(key=lambda g: g["last_seen"], reverse=True)
    return out


def span_names(
    con: duckdb.DuckDBPyConnection, pairs: Sequence[tuple[str, str | None]]
) -> dict[tuple[str, str], str]:
    """The name of each (trace id, span id) given (pairs without a span are skipped)."""
    pairs = [(t, s) for t, s in pairs if s]
    if not pairs:
        return {}
    table = arrow(
        con,
        """SELECT trace_id, span_id, name FROM spans
           WHERE list_contains(?, trace_id) AND list_contains(?, span_id)""",
        [sorted({t for t, _ in pairs}), sorted({s for _, s in pairs})],
    )
    return {(r["trace_id"], r["span_id"]): r["name"] for r in table.to_pylist()}
