"""Business runs and sessions: the traces one piece of work spread over, grouped again.

An event-driven system splits one piece of work (an invoice, a support request) over many
traces: each message hop starts a new trace that links back to the span that published the
message. A *run* is the trace where the work started (its *origin*: a trace no causal link
leads out of) plus every trace its messages caused, hop after hop. When the origin published
several messages that each started their own chain (a batch: one intake trace, six
invoices), each message is its own run and the origin trace is shared between them.

A *session* groups runs by ``session_id`` (a chat thread, a conversation, a trip): each run
is one turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from semtrace.dashboard.queries._common import NOT_AMBIENT, Con, arrow, rows, span_names
from semtrace.dashboard.queries.traces import trace_list, trace_summaries
from semtrace.store.views import traces_select

__all__ = [
    "CausalScope",
    "Run",
    "causal_scope",
    "run_keys",
    "run_list",
    "runs_of",
    "session_list",
    "session_turns",
]

MAX_HOPS = 16  # message hops followed from one trace (a cycle of links stops here)

# Causal hand-offs between traces: (trace_id, span_id) was caused by (linked_trace_id,
# linked_span_id). Written for a span_links alias ``k``.
_CAUSAL = f"k.linked_trace_id <> k.trace_id AND {NOT_AMBIENT}"


@dataclass(frozen=True)
class Run:
    """One business run: where it started and the traces it spread over."""

    key: str  # the origin trace id, or "origin/span" for one message of a batch
    origin: str  # the trace where the work started
    via_span: str | None  # the span of the origin that published this run's message (batch)
    traces: tuple[str, ...]  # every trace of the run, origin first, then by start time
    shared: bool  # the origin trace is shared with the other runs of its batch


def run_keys(con: Con, trace_ids: Sequence[str]) -> dict[str, tuple[str, str | None, bool]]:
    """For each trace: the origin trace of its run, the origin's span its chain started from,
    and whether the origin is a batch (several messages, each starting its own run)."""
    if not trace_ids:
        return {}
    table = arrow(
        con,
        f"""
        WITH RECURSIVE
        hop AS MATERIALIZED (
            -- the cause of a trace: the link out of its earliest linking span
            SELECT k.trace_id,
                   min({{'start': s.start_time_ns, 'span': k.span_id,
                         'trace': k.linked_trace_id, 'cause': k.linked_span_id}}) AS c
            FROM span_links k
            JOIN spans s ON s.trace_id = k.trace_id AND s.span_id = k.span_id
            WHERE {_CAUSAL}
            GROUP BY k.trace_id
        ),
        walk(trace_id, at_trace, via_span, depth) AS (
            SELECT t, t, NULL::VARCHAR, 0 FROM unnest(?::VARCHAR[]) AS u(t)
            UNION ALL
            SELECT w.trace_id, h.c.trace, h.c.cause, w.depth + 1
            FROM walk w JOIN hop h ON h.trace_id = w.at_trace
            WHERE w.depth < {MAX_HOPS}
        ),
        origin AS (
            SELECT trace_id, arg_max(at_trace, depth) AS origin,
                   arg_max(via_span, depth) AS via_span
            FROM walk GROUP BY trace_id
        ),
        fan AS (
            SELECT k.linked_trace_id AS origin, count(DISTINCT k.linked_span_id) AS fan_out
            FROM span_links k
            WHERE k.linked_trace_id IN (SELECT origin FROM origin) AND {_CAUSAL}
            GROUP BY 1
        )
        SELECT o.trace_id, o.origin, o.via_span, coalesce(f.fan_out, 0) >= 2 AS batch
        FROM origin o LEFT JOIN fan f USING (origin)
        """,
        [list(trace_ids)],
    )
    return {r["trace_id"]: (r["origin"], r["via_span"], bool(r["batch"])) for r in rows(table)}


def runs_of(con: Con, trace_ids: Sequence[str]) -> list[Run]:
    """The runs the given traces belong to, each once, in the order first met.

    A batch origin trace asked for by itself stands for its whole batch only when none of
    its messages' runs is among the answers (it is shared by them otherwise).
    """
    keys = run_keys(con, trace_ids)
    wanted: dict[str, tuple[str, str | None, bool]] = {}
    for trace_id in trace_ids:
        if trace_id not in keys:
            continue
        origin, via, batch = keys[trace_id]
        via = via if batch else None
        key = f"{origin}/{via}" if via else origin
        wanted.setdefault(key, (origin, via, batch))
    sub_runs = {origin for origin, via, _ in wanted.values() if via}
    wanted = {k: v for k, v in wanted.items() if v[1] or not v[2] or v[0] not in sub_runs}
    members = _forward(con, [(k, origin, via) for k, (origin, via, _) in wanted.items()])
    return [
        Run(
            key=key,
            origin=origin,
            via_span=via,
            traces=(origin, *members.get(key, ())),
            shared=batch and via is not None,
        )
        for key, (origin, via, batch) in wanted.items()
    ]


def _forward(con: Con, starts: Sequence[tuple[str, str, str | None]]) -> dict[str, list[str]]:
    """For each (key, origin, via span): the traces caused from there, hop after hop, in
    order of their first span (the origin excluded)."""
    if not starts:
        return {}
    table = arrow(
        con,
        f"""
        WITH RECURSIVE
        start AS (
            SELECT unnest(?::VARCHAR[]) AS key, unnest(?::VARCHAR[]) AS origin,
                   unnest(?::VARCHAR[]) AS via
        ),
        fwd(key, trace_id, depth) AS (
            SELECT s.key, k.trace_id, 1
            FROM start s JOIN span_links k ON k.linked_trace_id = s.origin
             AND (s.via IS NULL OR k.linked_span_id = s.via)
            WHERE {_CAUSAL}
            UNION ALL
            SELECT f.key, k.trace_id, f.depth + 1
            FROM fwd f JOIN span_links k ON k.linked_trace_id = f.trace_id
            WHERE {_CAUSAL} AND f.depth < {MAX_HOPS}
        ),
        member AS (
            SELECT DISTINCT f.key, f.trace_id FROM fwd f JOIN start s USING (key)
            WHERE f.trace_id <> s.origin
        ),
        first AS (
            SELECT trace_id, min(start_time_ns) AS first_ns FROM spans
            WHERE trace_id IN (SELECT trace_id FROM member) GROUP BY trace_id
        )
        SELECT m.key, list(m.trace_id ORDER BY f.first_ns, m.trace_id) AS traces
        FROM member m JOIN first f USING (trace_id)
        GROUP BY m.key
        """,
        [[s[0] for s in starts], [s[1] for s in starts], [s[2] for s in starts]],
    )
    return {r["key"]: list(r["traces"]) for r in rows(table)}


def run_list(
    con: Con,
    *,
    since: str | None = None,
    services: Sequence[str] = (),
    agents: Sequence[str] = (),
    status: str | None = None,
    text: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest runs among the traces matching the filters (as :func:`trace_list` takes
    them), newest first: one row per run with its traces, spans, failures (its own traces'
    ``failure_count``: a run failed when it has one), time span, agents, tokens and cost,
    the trace to open first, and the sentence that matched ``text``."""
    matches = rows(
        trace_list(
            con,
            since=since,
            services=services,
            agents=agents,
            status=status,
            text=text,
            limit=min(4 * limit, 1000),
        )
    )
    runs = runs_of(con, [m["trace_id"] for m in matches])
    members = {t for run in runs for t in run.traces}
    by_id = {t["trace_id"]: t for t in trace_summaries(con, sorted(members))}
    matched = {m["trace_id"]: m.get("matched_sentence") for m in matches}
    vias = span_names(con, [(r.origin, r.via_span) for r in runs if r.via_span])
    out = [_run_row(run, by_id, matched, vias) for run in runs if run.origin in by_id]
    out.sort(key=lambda r: (r["start_time"], r["key"]), reverse=True)
    return out[:limit]


def _run_row(
    run: Run,
    by_id: dict[str, dict[str, Any]],
    matched: dict[str, str | None],
    vias: dict[tuple[str, str], str],
) -> dict[str, Any]:
    traces = [by_id[t] for t in run.traces if t in by_id]
    own = traces[1:] if run.shared else traces  # a shared batch trace is not this run's
    origin = by_id[run.origin]
    title = origin["root_name"]
    if run.via_span:
        title = f"{title} → {vias.get((run.origin, run.via_span), 'message')}"
    failures = sum(int(t["failure_count"] or 0) for t in own)
    start = min(t["start_time"] for t in traces)
    end = max(t["end_time"] for t in traces)
    return {
        "key": run.key,
        "title": title,
        "status": "ERROR" if failures else "OK",
        "traces": len(traces),
        "spans": sum(int(t["span_count"] or 0) for t in own),
        "failures": failures,
        "start_time": start,
        "duration_ms": round((end - start).total_seconds() * 1000, 1),
        "agents": sorted({a for t in traces for a in t["agents"] or []}),
        "input_tokens": sum(int(t["input_tokens"] or 0) for t in own),
        "output_tokens": sum(int(t["output_tokens"] or 0) for t in own),
        "cost_usd": round(sum(float(t["cost_usd"] or 0) for t in own), 6),
        "session_id": next((t["session_id"] for t in traces if t.get("session_id")), None),
        "open_trace": own[0]["trace_id"] if own else run.origin,
        "origin": run.origin,
        "trace_ids": [t["trace_id"] for t in traces],
        "matched_sentence": next((matched[t] for t in run.traces if matched.get(t)), None),
    }


@dataclass(frozen=True)
class CausalScope:
    """What a replay of one trace covers: the traces it caused (whole), and in the traces
    that caused it only the spans on the causal path (the publishing span, its ancestors
    and its subtree), not the rest of a batch those traces also published."""

    trace_id: str
    whole: tuple[str, ...]  # the chosen trace and every trace it caused, hop after hop
    partial: dict[str, tuple[str, ...]]  # a cause trace -> the span ids that belong


def causal_scope(con: Con, trace_id: str) -> CausalScope:
    """The causal scope of ``trace_id``: what caused it (backwards along the links, span by
    span) and what it caused (forwards, whole traces)."""
    ahead = _forward(con, [("k", trace_id, None)]).get("k", [])
    table = arrow(
        con,
        f"""
        WITH RECURSIVE
        back(trace_id, span_id, depth) AS (
            SELECT k.linked_trace_id, k.linked_span_id, 1
            FROM span_links k WHERE k.trace_id = ? AND {_CAUSAL}
            UNION ALL
            SELECT k.linked_trace_id, k.linked_span_id, b.depth + 1
            FROM back b JOIN span_links k ON k.trace_id = b.trace_id
            WHERE {_CAUSAL} AND b.depth < {MAX_HOPS}
        ),
        cause AS (SELECT DISTINCT trace_id, span_id FROM back),
        s AS (
            SELECT trace_id, span_id, parent_span_id FROM spans
            WHERE trace_id IN (SELECT trace_id FROM cause)
        ),
        up(trace_id, span_id, depth) AS (
            SELECT trace_id, span_id, 0 FROM cause
            UNION ALL
            SELECT s.trace_id, s.parent_span_id, u.depth + 1
            FROM up u JOIN s ON s.trace_id = u.trace_id AND s.span_id = u.span_id
            WHERE s.parent_span_id IS NOT NULL AND u.depth < 256
        ),
        down(trace_id, span_id, depth) AS (
            SELECT trace_id, span_id, 0 FROM cause
            UNION ALL
            SELECT s.trace_id, s.span_id, d.depth + 1
            FROM down d JOIN s ON s.trace_id = d.trace_id AND s.parent_span_id = d.span_id
            WHERE d.depth < 256
        )
        SELECT trace_id, list(DISTINCT span_id ORDER BY span_id) AS spans
        FROM (SELECT trace_id, span_id FROM up UNION SELECT trace_id, span_id FROM down)
        GROUP BY trace_id
        """,
        [trace_id],
    )
    whole = (trace_id, *ahead)
    partial = {r["trace_id"]: tuple(r["spans"]) for r in rows(table) if r["trace_id"] not in whole}
    return CausalScope(trace_id, whole, partial)


def session_list(con: Con, *, limit: int = 100) -> list[dict[str, Any]]:
    """Sessions (``session_id``), most recently active first: turns (traces), time span,
    failures (``failure_count``) and the turns that had one, agents, tokens and cost."""
    sql = traces_select(
        "WHERE trace_id IN (SELECT trace_id FROM spans WHERE session_id IS NOT NULL)"
    )
    return rows(
        arrow(
            con,
            f"""
            SELECT session_id, count(*) AS turns, min(start_time) AS started,
                   max(end_time) AS last_active,
                   sum(failure_count)::BIGINT AS failures,
                   count(*) FILTER (WHERE failure_count > 0) AS failed_turns,
                   list_sort(list_distinct(flatten(list(agents)))) AS agents,
                   sum(input_tokens)::BIGINT AS input_tokens,
                   sum(output_tokens)::BIGINT AS output_tokens,
                   round(sum(cost_usd), 6) AS cost_usd
            FROM ({sql}) WHERE session_id IS NOT NULL
            GROUP BY session_id ORDER BY last_active DESC LIMIT ?
            """,
            [int(limit)],
        )
    )


def session_turns(con: Con, session_id: str) -> list[dict[str, Any]]:
    """The turns of a session in time order: each trace with its root span (what came in and
    what went out are in its attributes) and the first failure sentence, if any."""
    sql = traces_select("WHERE trace_id IN (SELECT trace_id FROM spans WHERE session_id = ?)")
    return rows(
        arrow(
            con,
            f"""
            WITH t AS ({sql}),
            root AS (
                SELECT trace_id, arg_min(span_id, start_time_ns) AS span_id,
                       arg_min(attributes, start_time_ns) AS attributes
                FROM spans WHERE trace_id IN (SELECT trace_id FROM t)
                  AND parent_span_id IS NULL
                GROUP BY trace_id
            ),
            said AS (
                SELECT trace_id,
                       arg_min(message, time_ns) FILTER (WHERE severity IN ('ERROR', 'CRITICAL'))
                           AS failure,
                       arg_min(message, time_ns) AS first_sentence,
                       arg_max(message, time_ns) AS last_sentence
                FROM logs WHERE trace_id IN (SELECT trace_id FROM t) GROUP BY trace_id
            )
            SELECT t.trace_id, t.root_name, t.root_agent, t.start_time, t.duration_ms,
                   t.span_count, t.error_count, t.failure_count, t.status, t.agents,
                   r.span_id AS root_span,
                   r.attributes AS root_attributes, s.failure, s.first_sentence,
                   s.last_sentence
            FROM t LEFT JOIN root r USING (trace_id) LEFT JOIN said s USING (trace_id)
            ORDER BY t.start_time
            """,
            [session_id],
        )
    )
