"""Failure extraction: find what went wrong in the store.

Five kinds of failure, each a :class:`Failure` with its fingerprint:

- ``error``: a failure where it started, as the store's ``failures`` view counts it
  (:func:`semtrace.store.queries.failures`): ancestors that errored because of it are its
  impact, not failures of their own;
- ``error_log``: an ERROR/CRITICAL log sentence that belongs to no failed span;
- ``slow``: the single point of timeout of a trace: the deepest step whose own time is the
  dominant share of the trace's (>= 40 % and >= 100 ms by default), time a task spent
  waiting in ``input_required`` for a human not counted (that is ``stuck_task``);
- ``stuck_task``: a task that waited in ``input_required`` longer than a threshold (from the
  ``tasks`` view when the file has one);
- ``loop``: the same tool called with the same arguments many times in one trace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from semtrace.diagnose.fingerprint import fingerprint, target_of
from semtrace.store import queries
from semtrace.store.queries import arrow

__all__ = [
    "DEFAULT_LOOP_MIN",
    "DEFAULT_SLOW_MS",
    "DEFAULT_SLOW_SHARE",
    "DEFAULT_STUCK_S",
    "Failure",
    "extract_failures",
    "parse_since",
]

# A step is the single point of timeout of its trace when its own time is at least this share
# of the trace's and at least DEFAULT_SLOW_MS (so quick traces raise nothing). 40 %, not 50 %:
# a stalled call in a chain of a dozen steps (the demo's hotel API: 8 s of an 18 s trip) is
# the hold-up even when the others together took a little longer; evenly spread time is not.
DEFAULT_SLOW_MS = 100.0
DEFAULT_SLOW_SHARE = 0.4
DEFAULT_STUCK_S = 300.0
DEFAULT_LOOP_MIN = 3


@dataclass
class Failure:
    """One occurrence of a failure, as found in the store."""

    kind: str  # error, error_log, slow, stuck_task, loop
    fingerprint: str
    time: datetime | None
    trace_id: str | None = None
    span_id: str | None = None
    log_id: str | None = None
    task_id: str | None = None
    agent: str | None = None
    target: str | None = None
    operation: str | None = None
    error_type: str | None = None
    message: str = ""
    duration_ms: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.I)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(since: str | datetime | timedelta | None) -> datetime | None:
    """A cut-off time from ``"90s"``, ``"15m"``, ``"1h"``, ``"2d"``, a timedelta or a datetime."""
    if since is None:
        return None
    if isinstance(since, datetime):
        return since if since.tzinfo else since.replace(tzinfo=UTC)
    if isinstance(since, timedelta):
        return datetime.now(UTC) - since
    m = _SINCE.match(since)
    if m:
        delta = timedelta(**{_UNITS[m.group(2).lower()]: float(m.group(1))})
        return datetime.now(UTC) - delta
    try:
        parsed = datetime.fromisoformat(since)
    except ValueError:
        from semtrace.exceptions import ConfigurationError

        raise ConfigurationError(
            f"since={since!r} is not a duration like 30m, 1h, 2d or an ISO time"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _filters(
    alias: str, time_col: str, since: datetime | None, trace_id: str | None
) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append(f"{alias}.{time_col} >= ?")
        params.append(since)
    if trace_id is not None:
        where.append(f"{alias}.trace_id = ?")
        params.append(trace_id)
    return "".join(f" AND {w}" for w in where), params


def _error_spans(
    con: duckdb.DuckDBPyConnection, since: datetime | None, trace_id: str | None
) -> list[Failure]:
    """One failure per failure where it started (the store's one definition, the failures
    view): ancestors it took down are its impact, not failures of their own."""
    rows = queries.failures(con, since=since, trace_id=trace_id, source="span").to_pylist()
    out = []
    for r in rows:
        target = target_of(r["name"], r["tool_name"])
        message = r["exception_message"] or r["status_message"] or ""
        out.append(
            Failure(
                kind="error",
                fingerprint=fingerprint("error", r["agent_name"], target, r["error_type"], message),
                time=r["time"],
                trace_id=r["trace_id"],
                span_id=r["span_id"],
                task_id=r["task_id"],
                agent=r["agent_name"],
                target=target,
                operation=r["operation"],
                error_type=r["error_type"],
                message=r["status_message"] or message,
                duration_ms=r["duration_ms"],
                details={
                    "exception_message": r["exception_message"],
                    "impacted_span_ids": r["impacted_span_ids"] or [],
                    "ended_in": r["ended_in"],
                },
            )
        )
    return out


def _error_logs(
    con: duckdb.DuckDBPyConnection, since: datetime | None, trace_id: str | None
) -> list[Failure]:
    """Error logs of no failed span, as the failures view lists them, with their facts."""
    ids = queries.failures(con, since=since, trace_id=trace_id, source="log").column("log_id")
    rows = arrow(
        con,
        """
        SELECT l.log_id, l.time, l.trace_id, l.span_id, l.agent_name, l.message, l.template,
               l.action, l.cause, l.impact, l.logger_name,
               json_extract_string(l.attributes, '$."error.type"') AS error_type
        FROM logs l
        WHERE l.log_id IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY l.time_ns
        """,
        [ids.to_pylist()],
    ).to_pylist()
    out = []
    for r in rows:
        target = r["action"] or r["logger_name"] or ""
        template = r["template"] or r["message"]
        out.append(
            Failure(
                kind="error_log",
                # the template already holds the action with its values masked; the filled-in
                # action column would split one kind of failure by its values
                fingerprint=fingerprint(
                    "error_log", r["agent_name"], r["logger_name"] or "", r["error_type"], template
                ),
                time=r["time"],
                trace_id=r["trace_id"],
                span_id=r["span_id"],
                log_id=r["log_id"],
                agent=r["agent_name"],
                target=target,
                error_type=r["error_type"],
                message=r["message"],
                details={k: r[k] for k in ("action", "cause", "impact") if r[k]},
            )
        )
    return out


_WAITS_SQL = """
    WITH ev AS (
        SELECT DISTINCT trace_id, time_ns,
               json_extract_string(attributes, '$."mcp.task.id"') AS task_id,
               json_extract_string(attributes, '$."mcp.task.status"') AS status
        FROM (SELECT trace_id, time_ns, attributes FROM span_events
              WHERE name = 'mcp.task.status'
              UNION ALL
              SELECT trace_id, time_ns, attributes FROM logs
              WHERE event_name = 'mcp.task.status')
    ),
    seg AS (
        SELECT trace_id, status, time_ns AS start_ns,
               lead(time_ns) OVER (PARTITION BY task_id ORDER BY time_ns, status) AS end_ns
        FROM ev WHERE task_id IS NOT NULL AND trace_id IS NOT NULL
    )
    SELECT trace_id, start_ns, coalesce(end_ns, epoch_ns(now())) AS end_ns
    FROM seg WHERE status = 'input_required'
"""


def _human_waits(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[int, int]]]:
    """Per trace, the merged intervals (ns) some task of it spent in ``input_required``."""
    try:
        rows = con.execute(_WAITS_SQL).fetchall()
    except duckdb.Error:
        return {}
    by_trace: dict[str, list[tuple[int, int]]] = {}
    for trace_id, start, end in rows:
        if end > start:
            by_trace.setdefault(trace_id, []).append((int(start), int(end)))
    merged: dict[str, list[tuple[int, int]]] = {}
    for trace_id, spans in by_trace.items():
        out: list[tuple[int, int]] = []
        for start, end in sorted(spans):
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        merged[trace_id] = out
    return merged


def _overlap_ns(start: int, end: int, waits: list[tuple[int, int]]) -> int:
    return sum(max(0, min(end, w_end) - max(start, w_start)) for w_start, w_end in waits)


def _slow_spans(
    con: duckdb.DuckDBPyConnection,
    since: datetime | None,
    trace_id: str | None,
    slow_ms: float,
    slow_share: float = DEFAULT_SLOW_SHARE,
) -> list[Failure]:
    """The single point of timeout of each trace: the deepest step whose own time (time a
    task waited on a human not counted) is at least ``slow_share`` of the trace's and at
    least ``slow_ms``. A long trace whose time is spread over many steps has none; a step
    that failed is an ``error`` failure instead."""
    waits = _human_waits(con)
    clause, params = _filters("s", "start_time", since, trace_id)
    waited = list(waits)
    rows = arrow(
        con,
        f"""
        WITH ext AS (
            SELECT trace_id, min(start_time_ns) AS t0, max(end_time_ns) AS t1
            FROM spans GROUP BY trace_id
        )
        SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, s.start_time, s.duration_ms,
               s.start_time_ns, s.end_time_ns, s.agent_name, s.operation, s.tool_name,
               s.task_id, s.status_code, e.t0, e.t1
        FROM spans s JOIN ext e ON e.trace_id = s.trace_id
        WHERE s.parent_span_id IS NOT NULL AND s.duration_ms >= ? {clause}
          AND (s.duration_ms >= ? * (e.t1 - e.t0) / 1e6 OR list_contains(?, s.trace_id))
        ORDER BY s.start_time_ns
        """,
        [slow_ms, *params, slow_share, waited],
    ).to_pylist()
    kept: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        trace_waits = waits.get(r["trace_id"], [])
        own_ns = r["end_time_ns"] - r["start_time_ns"]
        own_ns -= _overlap_ns(r["start_time_ns"], r["end_time_ns"], trace_waits)
        trace_ns = r["t1"] - r["t0"] - _overlap_ns(r["t0"], r["t1"], trace_waits)
        if trace_ns <= 0 or own_ns / 1e6 < slow_ms or own_ns < slow_share * trace_ns:
            continue
        r["own_ms"], r["trace_ms"] = own_ns / 1e6, trace_ns / 1e6
        r["waited_ms"] = (r["end_time_ns"] - r["start_time_ns"] - own_ns) / 1e6
        kept.setdefault(r["trace_id"], []).append(r)
    out = []
    for tid, candidates in kept.items():
        for r in _culprits(con, tid, candidates, waits.get(tid, []), slow_ms, slow_share):
            if r["status_code"] == "ERROR":
                continue  # its error is the failure (kind "error"), not its slowness
            out.append(_slow_failure(r, slow_ms))
    return out


_TRACE_SPANS_SQL = """
    SELECT trace_id, span_id, parent_span_id, name, start_time, duration_ms, start_time_ns,
           end_time_ns, agent_name, operation, tool_name, task_id, status_code
    FROM spans WHERE trace_id = ?
"""


def _culprits(
    con: duckdb.DuckDBPyConnection,
    trace_id: str,
    candidates: list[dict[str, Any]],
    waits: list[tuple[int, int]],
    slow_ms: float,
    slow_share: float,
) -> list[dict[str, Any]]:
    """The deepest candidates (none of their descendants is one), each followed down while
    one child holds most of its time: an agent that spent its time waiting on one tool call
    points at that call."""
    spans = arrow(con, _TRACE_SPANS_SQL, [trace_id]).to_pylist()
    by_id = {r["span_id"]: r for r in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    for r in spans:
        if r["parent_span_id"] is not None:
            children.setdefault(r["parent_span_id"], []).append(r)
    ids = {r["span_id"] for r in candidates}
    covered: set[str] = set()
    for r in candidates:
        seen: set[str] = set()
        parent = r["parent_span_id"]
        while parent is not None and parent not in seen and parent in by_id:
            seen.add(parent)
            if parent in ids:
                covered.add(parent)
            parent = by_id[parent]["parent_span_id"]
    out = []
    for r in candidates:
        if r["span_id"] in covered:
            continue
        while True:
            best = None
            for child in children.get(r["span_id"], []):
                start, end = child["start_time_ns"], child["end_time_ns"]
                own_ns = end - start - _overlap_ns(start, end, waits)
                dominant = own_ns / 1e6 >= slow_ms and own_ns >= slow_share * r["own_ms"] * 1e6
                if dominant and (best is None or own_ns / 1e6 > best["own_ms"]):
                    best = {
                        **child,
                        "own_ms": own_ns / 1e6,
                        "trace_ms": r["trace_ms"],
                        "waited_ms": (end - start - own_ns) / 1e6,
                    }
            if best is None:
                break
            r = best
        out.append(r)
    return out


def _slow_failure(r: dict[str, Any], slow_ms: float) -> Failure:
    target = target_of(r["name"], r["tool_name"])
    share = r["own_ms"] / r["trace_ms"]
    waited = f", not counting {r['waited_ms']:.0f} ms waiting for a human" if r["waited_ms"] else ""
    message = (
        f"{r['name']} took {r['own_ms']:.0f} ms, {share:.0%} of its whole trace "
        f"({r['trace_ms']:.0f} ms{waited}): a single point of timeout, it held up the chain "
        "of calls waiting on it"
    )
    return Failure(
        kind="slow",
        fingerprint=fingerprint("slow", r["agent_name"], target, None, r["name"]),
        time=r["start_time"],
        trace_id=r["trace_id"],
        span_id=r["span_id"],
        task_id=r["task_id"],
        agent=r["agent_name"],
        target=target,
        operation=r["operation"],
        message=message,
        duration_ms=r["own_ms"],
        details={"threshold_ms": slow_ms, "share_of_trace": share, "trace_ms": r["trace_ms"]},
    )


def _repeated_tool_calls(
    con: duckdb.DuckDBPyConnection, since: datetime | None, trace_id: str | None, loop_min: int
) -> list[Failure]:
    clause, params = _filters("s", "start_time", since, trace_id)
    rows = arrow(
        con,
        f"""
        SELECT s.trace_id, s.agent_name, s.tool_name,
               coalesce(json_extract_string(s.attributes, '$."gen_ai.tool.call.arguments"'),
                        json_extract_string(s.attributes, '$."semtrace.input"'), '') AS arguments,
               count(*) AS calls, min(s.start_time) AS first_time,
               arg_min(s.span_id, s.start_time_ns) AS first_span,
               list(s.span_id ORDER BY s.start_time_ns) AS span_ids
        FROM spans s
        WHERE s.operation = 'execute_tool' {clause}
        GROUP BY ALL
        HAVING count(*) >= ?
        """,
        [*params, loop_min],
    ).to_pylist()
    out = []
    for r in rows:
        message = (
            f"the tool {r['tool_name']} was called {r['calls']} times in one trace with the same "
            f"arguments ({r['arguments'] or 'none'}): the agent is repeating itself in a loop"
        )
        out.append(
            Failure(
                kind="loop",
                fingerprint=fingerprint("loop", r["agent_name"], r["tool_name"], None, ""),
                time=r["first_time"],
                trace_id=r["trace_id"],
                span_id=r["first_span"],
                agent=r["agent_name"],
                target=r["tool_name"],
                operation="execute_tool",
                message=message,
                details={"calls": r["calls"], "span_ids": r["span_ids"][:20]},
            )
        )
    return out


def _has_relation(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    try:
        cols = con.execute(f"DESCRIBE {name}").fetchall()
    except duckdb.Error:
        return []
    return [str(c[0]) for c in cols]


def _pick(cols: list[str], *names: str) -> str | None:
    return next((n for n in names if n in cols), None)


def _stuck_tasks(
    con: duckdb.DuckDBPyConnection, since: datetime | None, trace_id: str | None, stuck_s: float
) -> list[Failure]:
    # The tasks view is another module's; read whichever of its likely columns exist.
    cols = _has_relation(con, "tasks")
    if not cols:
        return []
    id_col = _pick(cols, "task_id", "id")
    status_col = _pick(cols, "status", "state", "current_status", "last_status")
    wait_col = _pick(
        cols, "input_required_ms", "human_wait_ms", "waiting_ms", "time_in_input_required_ms"
    )
    if id_col is None or (status_col is None and wait_col is None):
        return []
    time_col = _pick(cols, "created_at", "start_time", "started_at", "updated_at")
    agent_col = _pick(cols, "agent_name", "agent")
    name_col = _pick(cols, "name", "title", "task_name")
    msg_col = _pick(cols, "status_message", "last_status_message", "message")
    updated_col = _pick(cols, "last_updated_at", "updated_at", "status_time", "last_change")
    tr_col = _pick(cols, "trace_id")
    conds: list[str] = []
    params: list[Any] = []
    if wait_col is not None:
        conds.append(f"{wait_col} > ?")
        params.append(stuck_s * 1000)
    if status_col is not None and updated_col is not None:
        conds.append(f"({status_col} = 'input_required' AND {updated_col} < ?)")
        params.append(datetime.now(UTC) - timedelta(seconds=stuck_s))
    if not conds:
        return []
    where = f"({' OR '.join(conds)})"
    if since is not None and time_col is not None:
        where += f" AND {time_col} >= ?"
        params.append(since)
    if trace_id is not None and tr_col is not None:
        where += f" AND {tr_col} = ?"
        params.append(trace_id)
    sel = ", ".join(
        f"{c} AS {alias}" if c else f"NULL AS {alias}"
        for c, alias in [
            (id_col, "task_id"),
            (status_col, "status"),
            (wait_col, "wait_ms"),
            (time_col, "time"),
            (agent_col, "agent"),
            (name_col, "name"),
            (msg_col, "status_message"),
            (tr_col, "trace_id"),
        ]
    )
    try:
        rows = arrow(con, f"SELECT {sel} FROM tasks WHERE {where}", params).to_pylist()
    except duckdb.Error:
        return []
    out = []
    for r in rows:
        wait = r["wait_ms"]
        waited = f" for {float(wait) / 1000:.0f} s" if wait is not None else ""
        message = (
            f"the task {r['name'] or r['task_id']} waited in input_required{waited}, longer than "
            f"{stuck_s:.0f} s, for a human answer"
            + (f": {r['status_message']}" if r["status_message"] else "")
        )
        t = r["time"]
        out.append(
            Failure(
                kind="stuck_task",
                fingerprint=fingerprint(
                    "stuck_task", r["agent"], r["name"], None, r["status_message"]
                ),
                time=t if isinstance(t, datetime) else None,
                trace_id=r["trace_id"],
                task_id=str(r["task_id"]),
                agent=r["agent"],
                target=r["name"],
                message=message,
                duration_ms=float(wait) if wait is not None else None,
                details={"status": r["status"]},
            )
        )
    return out


def extract_failures(
    con: duckdb.DuckDBPyConnection,
    *,
    since: str | datetime | timedelta | None = None,
    trace_id: str | None = None,
    slow_ms: float = DEFAULT_SLOW_MS,
    stuck_s: float = DEFAULT_STUCK_S,
    loop_min: int = DEFAULT_LOOP_MIN,
    slow_share: float = DEFAULT_SLOW_SHARE,
) -> list[Failure]:
    """Every failure in the store (optionally since a time, or in one trace), oldest first."""
    cutoff = parse_since(since)
    found = [
        *_error_spans(con, cutoff, trace_id),
        *_error_logs(con, cutoff, trace_id),
        *_slow_spans(con, cutoff, trace_id, slow_ms, slow_share),
        *_repeated_tool_calls(con, cutoff, trace_id, loop_min),
        *_stuck_tasks(con, cutoff, trace_id, stuck_s),
    ]
    floor = datetime.min.replace(tzinfo=UTC)
    found.sort(key=lambda f: f.time or floor)
    return found
