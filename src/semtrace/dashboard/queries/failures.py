"""Failures: grouped by fingerprint with their diagnosis."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from semtrace.dashboard.queries._common import Con, arrow, parse_json, rows

__all__ = ["FINDING_KINDS", "diagnosis_detail", "failure_groups", "findings"]


def failure_groups(con: Con, *, since: str | None = None, limit: int = 200) -> pa.Table:
    """Failures (rows of the ``failures`` view, since a time when given) grouped by
    fingerprint (or by agent, step and error when not fingerprinted yet): occurrences,
    traces, last seen, an example sentence and trace, and the diagnosis. ``step`` is the
    name of the span the failure happened in."""
    where, params = ("WHERE f.time >= ?::TIMESTAMPTZ", [since]) if since else ("", [])
    return arrow(
        con,
        f"""
        SELECT coalesce(f.fingerprint,
                        concat_ws(' / ', f.agent_name, f.name, f.error_type)) AS failure,
               any_value(f.fingerprint) AS fingerprint,
               count(*) AS occurrences, count(DISTINCT f.trace_id) AS traces,
               max(f.time) AS last_seen,
               arg_max(f.agent_name, f.time) AS agent_name,
               arg_max(coalesce(s.name, f.name), f.time) AS step,
               arg_max(f.error_type, f.time) AS error_type,
               arg_max(f.message, f.time) AS example_sentence,
               arg_max(f.trace_id, f.time) AS example_trace,
               arg_max(f.span_id, f.time) AS example_span,
               any_value(f.diagnosis) AS diagnosis,
               any_value(f.root_cause) AS root_cause,
               any_value(f.category) AS category,
               any_value(f.remediations) AS remediations
        FROM failures f
        LEFT JOIN spans s ON s.trace_id = f.trace_id AND s.span_id = f.span_id
        {where}
        GROUP BY 1
        ORDER BY last_seen DESC LIMIT ?
        """,
        [*params, int(limit)],
    )


def diagnosis_detail(con: Con, fingerprint: str) -> dict[str, Any] | None:
    """The latest diagnosis of a fingerprint with its evidence and remediations parsed."""
    found = rows(
        arrow(
            con,
            """SELECT * FROM diagnoses WHERE fingerprint = ?
               ORDER BY created_at DESC LIMIT 1""",
            [fingerprint],
        )
    )
    if not found:
        return None
    row = found[0]
    for key in ("evidence", "remediations", "context"):
        row[key] = parse_json(row.get(key))
    return row


# -- tasks -----------------------------------------------------------------------------------


# What diagnose finds besides errors: a step that held up its trace, a loop, a task stuck
# waiting. Each is its own kind of finding, not a failure.
FINDING_KINDS = {"slow": "slow step", "loop": "loop", "stuck_task": "stuck task"}


def findings(
    con: Con, *, trace_id: str | None = None, since: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Diagnosed findings that are not failures (slow steps, loops, stuck tasks), newest
    first, each with its span, agent and latest diagnosis."""
    kinds = list(FINDING_KINDS)
    where = "f.failure_kind IN (SELECT unnest(?::VARCHAR[]))"
    params: list[Any] = [kinds]
    if since is not None:
        where += " AND f.time >= ?::TIMESTAMPTZ"
        params.append(since)
    if trace_id is not None:
        where += " AND f.trace_id = ?"
        params.append(trace_id)
    params.append(int(limit))
    return rows(
        arrow(
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
            WHERE {where}
            ORDER BY f.time DESC LIMIT ?
            """,
            params,
        )
    )
