"""Agents: per-agent stats, who calls or messages whom, the orchestration pattern, cost by
model, the messages between agents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from semtrace.dashboard.queries._common import NOT_AMBIENT, Con, arrow, rows

__all__ = [
    "agent_edges",
    "agent_stats",
    "cost_by_model",
    "message_list",
    "orchestration_pattern",
    "orchestration_patterns",
]


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
            WHERE c.agent_name IS NOT NULL AND p.agent_name IS NOT NULL AND {NOT_AMBIENT}
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


def _components(edges: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Edges split into groups of agents connected to each other (either direction)."""
    group: dict[str, str] = {}

    def find(a: str) -> str:
        while group.setdefault(a, a) != a:
            group[a] = group[group[a]]
            a = group[a]
        return a

    for r in edges:
        group[find(r["source"])] = find(r["target"])
    out: dict[str, list[dict[str, Any]]] = {}
    for r in edges:
        out.setdefault(find(r["source"]), []).append(r)
    return sorted(out.values(), key=lambda es: min(e["source"] for e in es))


def _classify(edges: Sequence[dict[str, Any]]) -> tuple[str, str]:
    calls = [r for r in edges if r["kind"] == "call"]
    msgs = [r for r in edges if r["kind"] == "message"]
    agents = sorted({r["source"] for r in edges} | {r["target"] for r in edges})
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
    return [_classify(group) for group in _components(rows(edges))]


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


def message_list(con: Con, *, limit: int = 200) -> pa.Table:
    """Recent messages between agents (the ``messages`` view, in every database): topic,
    producer, consumers, queue wait and outcome."""
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
