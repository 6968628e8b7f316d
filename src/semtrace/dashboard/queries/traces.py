"""The traces list: filters, the list itself, and finding a trace from a pasted id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from semtrace.dashboard.queries._common import Con, arrow, rows
from semtrace.store.queries import recent_traces
from semtrace.store.views import traces_select

__all__ = [
    "TraceLookup",
    "filter_options",
    "find_trace",
    "running_traces",
    "trace_list",
    "trace_summaries",
]

_HEX = set("0123456789abcdef")


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


def trace_summaries(con: Con, trace_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The ``traces`` view's row of each trace named (any order), computed for those only."""
    if not trace_ids:
        return []
    sql = traces_select("WHERE list_contains(?, trace_id)")
    return rows(arrow(con, f"SELECT * FROM ({sql}) ORDER BY start_time DESC", [list(trace_ids)]))


@dataclass(frozen=True)
class TraceLookup:
    """What a trace id typed or pasted by a user names.

    ``trace_id`` is set when it names exactly one trace (the id, a unique prefix of one, or
    the id of one of its spans); otherwise ``candidates`` holds the traces it could mean and
    ``problem`` says why none was chosen.
    """

    query: str
    trace_id: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None


def find_trace(con: Con, text: str, *, limit: int = 10) -> TraceLookup:
    """Resolve ``text`` to a trace: a full id, a unique prefix, or a span id. An ambiguous
    prefix lists the traces it matches; an unknown id lists traces whose id contains it."""
    query = text.strip().lower()
    if not query:
        return TraceLookup(text, problem="No trace id given.")
    if not set(query) <= _HEX:
        return TraceLookup(
            text, problem=f"`{text.strip()}` is not a trace id (ids are hexadecimal)."
        )
    prefix = _ids(con, "starts_with(trace_id, ?)", query, limit + 1)
    if len(prefix) == 1:
        return TraceLookup(text, trace_id=prefix[0])
    if prefix:
        more = "more than " if len(prefix) > limit else ""
        return TraceLookup(
            text,
            candidates=trace_summaries(con, prefix[:limit]),
            problem=f"`{query}` is the start of {more}{min(len(prefix), limit)} trace ids; "
            "pick one.",
        )
    by_span = _ids(con, "span_id = ?", query, 2)
    if len(by_span) == 1:
        return TraceLookup(text, trace_id=by_span[0])
    near = _ids(con, "contains(trace_id, ?)", query, limit)
    hint = " Traces whose id contains it:" if near else ""
    return TraceLookup(
        text,
        candidates=trace_summaries(con, near),
        problem=f"No trace has the id `{query}` (nor a span with that id).{hint}",
    )


def _ids(con: Con, predicate: str, value: str, limit: int) -> list[str]:
    t = arrow(
        con,
        f"SELECT DISTINCT trace_id FROM spans WHERE {predicate} ORDER BY trace_id LIMIT ?",
        [value, int(limit)],
    )
    return [str(v) for v in t.column("trace_id").to_pylist()]


def running_traces(con: Con, trace_ids: Sequence[str], *, within_s: float = 600) -> set[str]:
    """Which of the traces are still running: some span waits for a parent that has not
    arrived (spans are stored when they end, so an open root is missing) and the trace's
    newest span ended less than ``within_s`` ago."""
    if not trace_ids:
        return set()
    t = arrow(
        con,
        """
        WITH s AS (SELECT trace_id, span_id, parent_span_id, end_time_ns FROM spans
                   WHERE list_contains(?, trace_id)),
        orphan AS (
            SELECT DISTINCT c.trace_id FROM s c
            LEFT JOIN s p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
            WHERE c.parent_span_id IS NOT NULL AND p.span_id IS NULL
        )
        SELECT trace_id FROM s WHERE trace_id IN (SELECT trace_id FROM orphan)
        GROUP BY trace_id HAVING max(end_time_ns) > epoch_ns(now()) - ?
        """,
        [list(trace_ids), int(within_s * 1e9)],
    )
    return {str(v) for v in t.column("trace_id").to_pylist()}
