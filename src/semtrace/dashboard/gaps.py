"""What the gaps in a waterfall were: a backoff before a retry, a message waiting in a
queue, a task waiting on a human, or a span waiting (or working) with no traced step.

:meth:`TraceTree.gaps` finds the stretches; this module names them from what the store
knows about the spans around them (:func:`semtrace.dashboard.queries.span_hints` and the
task markers of :func:`semtrace.dashboard.queries.trace_markers`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from semtrace.dashboard.charts.waterfall import fmt_duration
from semtrace.dashboard.tree import Gap

__all__ = ["explain_gaps", "human_waits", "min_gap_ms", "queue_waits"]


def min_gap_ms(total_ms: float) -> float:
    """The shortest gap worth a label: 2% of the trace, at least a millisecond."""
    return max(total_ms * 0.02, 1.0)


def human_waits(markers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each stretch a task spent in ``input_required``, on the row of the span that
    recorded it (until the task's next state change)."""
    out: list[dict[str, Any]] = []
    by_span: dict[str, list[Mapping[str, Any]]] = {}
    for m in markers:
        if m["kind"] == "task":
            by_span.setdefault(m["span_id"], []).append(m)
    for span_id, changes in by_span.items():
        changes = sorted(changes, key=lambda m: m["time_ns"])
        for here, nxt in itertools.pairwise(changes):
            if here.get("level") == "input_required":
                ms = (nxt["time_ns"] - here["time_ns"]) / 1e6
                out.append(
                    {
                        "span_id": span_id,
                        "start_ns": here["time_ns"],
                        "end_ns": nxt["time_ns"],
                        "kind": "human",
                        "label": f"waiting on a human {fmt_duration(ms)}",
                    }
                )
    return out


def queue_waits(
    rows: Sequence[Mapping[str, Any]], hints: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """For each span that consumed a message: the time from the publish to its start."""
    out: list[dict[str, Any]] = []
    for r in rows:
        published = (hints.get(r["span_id"]) or {}).get("published_ns")
        if published is not None and published < r["start_time_ns"]:
            ms = (r["start_time_ns"] - published) / 1e6
            out.append(
                {
                    "span_id": r["span_id"],
                    "start_ns": int(published),
                    "end_ns": r["start_time_ns"],
                    "kind": "queue",
                    "label": f"queue wait {fmt_duration(ms)}",
                }
            )
    return out


def explain_gaps(
    gaps: Sequence[Gap],
    hints: Mapping[str, Mapping[str, Any]],
    human: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Each gap with its kind and label, drawn on its parent's row: ``backoff`` when the
    next step is a retry that waited, ``waiting`` otherwise. A gap a human wait already
    covers is left out."""
    out: list[dict[str, Any]] = []
    for g in gaps:
        if any(
            h["start_ns"] <= g.start_ns + (g.end_ns - g.start_ns) / 2 <= h["end_ns"] for h in human
        ):
            continue
        hint = hints.get(g.before or "") or {}
        if hint.get("heal_delay_s"):
            kind, label = "backoff", f"backoff {fmt_duration(g.ms)}"
        elif hint.get("published_ns") is not None:
            kind, label = "queue", f"waiting for a message {fmt_duration(g.ms)}"
        else:
            kind, label = "waiting", f"waiting {fmt_duration(g.ms)}"
        out.append(
            {
                "span_id": g.parent,
                "start_ns": g.start_ns,
                "end_ns": g.end_ns,
                "kind": kind,
                "label": label,
            }
        )
    return out
