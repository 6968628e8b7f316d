"""Failures: the failures the store counts (:func:`semtrace.store.queries.failures`, one
per failure where it started), grouped by fingerprint with their diagnosis, and the
findings that are not failures (slow steps, loops, stuck tasks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from semtrace.dashboard.queries._common import Con, arrow, parse_json, rows
from semtrace.store import queries as store

__all__ = [
    "FINDING_KINDS",
    "diagnosis_detail",
    "failure_groups",
    "findings",
    "trace_failures",
]

FINDING_KINDS = store.FINDING_KINDS


def trace_failures(con: Con, trace_id: str) -> list[dict[str, Any]]:
    """The failures of one trace, oldest first, each with the spans it took down
    (``impacted_span_ids``, ``ended_in``) and its diagnosis."""
    return rows(store.failures(con, trace_id=trace_id))


def failure_groups(con: Con, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """The failures since a time (all when None) by kind (see
    :func:`semtrace.store.queries.failure_kinds`)."""
    return store.failure_kinds(con, since=since)


def findings(
    con: Con, *, since: datetime | None = None, trace_id: str | None = None
) -> list[dict[str, Any]]:
    """Findings that are not failures (slow steps, loops, stuck tasks), newest first."""
    return rows(store.findings(con, since=since, trace_id=trace_id))


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
