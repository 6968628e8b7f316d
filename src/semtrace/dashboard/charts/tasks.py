"""Task state timelines: one row per task, one coloured interval per state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from semtrace.dashboard.charts._base import ERROR, layout

__all__ = ["task_timeline"]


def task_timeline(changes: Sequence[Mapping[str, Any]], *, now_ns: int | None = None) -> go.Figure:
    """One row per task: coloured intervals for each state (working, input_required, ...)."""
    state_colours = {
        "working": "#4C78A8",
        "input_required": "#F58518",
        "completed": "#54A24B",
        "failed": ERROR,
        "cancelled": "#79706E",
    }
    fig = go.Figure()
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for c in changes:
        by_task.setdefault(str(c["task_id"]), []).append(c)
    origin = min((c["time_ns"] for c in changes), default=0)
    seen: set[str] = set()
    for task, items in by_task.items():
        for i, c in enumerate(items):
            end = items[i + 1]["time_ns"] if i + 1 < len(items) else (now_ns or c["time_ns"])
            state = str(c["status"])
            fig.add_trace(
                go.Bar(
                    orientation="h",
                    y=[task],
                    base=[(c["time_ns"] - origin) / 1e6],
                    x=[max((end - c["time_ns"]) / 1e6, 0.01)],
                    name=state,
                    legendgroup=state,
                    showlegend=state not in seen,
                    marker={"color": state_colours.get(state, "#999")},
                    text=[c.get("status_message") or state],
                    textposition="none",
                    hovertemplate="%{text}<extra>" + state + "</extra>",
                )
            )
            seen.add(state)
    fig.update_xaxes(title="ms since the first task started")
    fig.update_layout(barmode="overlay")
    return layout(fig, max(200, 50 * len(by_task) + 90))
