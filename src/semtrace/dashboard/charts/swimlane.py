"""The replay's swimlane: one lane per agent, the run drawn up to the current step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from semtrace.dashboard.charts._base import ERROR, agent_colours, layout

__all__ = ["WINDOW", "swimlane"]

WINDOW = 300  # events drawn before the current step: enough context, bounded cost


def swimlane(
    events: Sequence[Mapping[str, Any]],
    *,
    step: int,
    origin_ns: int,
    lanes: Sequence[str],
) -> go.Figure:
    """One lane per agent: spans so far as bars, sentences as dots, arrows for calls and
    messages, the current step as a star and a vertical line.

    Only the last :data:`WINDOW` events up to the step are drawn (plus the spans still open
    then), so a run of many thousands of events stays as quick to draw as a small one; lanes
    are then the agents active in that window. ``events`` are indexed by step.
    """
    step = max(0, min(step, len(events) - 1)) if events else 0
    lo = max(0, step - WINDOW)
    window = events[lo : step + 1]
    now = window[-1]["time_ns"] if window else origin_ns
    if lo:
        lanes = sorted({e["agent"] or "(no agent)" for e in window})
    colours = agent_colours(lanes)
    open_spans: dict[str, Mapping[str, Any]] = {}
    bars: list[tuple[str, int, int, str, bool]] = []
    for e in events[: step + 1]:
        if e["kind"] == "span_start":
            open_spans[e["span_id"]] = e
        elif e["kind"] == "span_end" and e["span_id"] in open_spans:
            s = open_spans.pop(e["span_id"])
            if e["step"] >= lo:
                lane = s["agent"] or "(no agent)"
                bars.append((lane, s["time_ns"], e["time_ns"], s["name"], e["status"] == "ERROR"))
    for s in open_spans.values():
        lane = s["agent"] or "(no agent)"
        if lane in colours:
            bars.append((lane, s["time_ns"], now, s["name"] + " (running)", False))
    bars = [b for b in bars if b[0] in colours]
    fig = go.Figure()
    # An invisible point per lane keeps every agent's lane on screen from the first step.
    fig.add_trace(
        go.Scatter(
            x=[(window[0]["time_ns"] - origin_ns) / 1e6 if window else 0.0] * len(lanes),
            y=list(lanes),
            mode="markers",
            marker={"opacity": 0},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    if bars:
        fig.add_trace(
            go.Bar(
                orientation="h",
                y=[b[0] for b in bars],
                base=[(b[1] - origin_ns) / 1e6 for b in bars],
                x=[max((b[2] - b[1]) / 1e6, 0.01) for b in bars],
                marker={
                    "color": [ERROR if b[4] else colours[b[0]] for b in bars],
                    "opacity": 0.35,
                },
                text=[b[3] for b in bars],
                customdata=[b[0] for b in bars],
                textposition="none",
                hovertemplate="%{text}<extra>%{customdata}</extra>",
                showlegend=False,
            )
        )
    logs = [e for e in window if e["kind"] in ("log", "task_state")]
    if logs:
        fig.add_trace(
            go.Scatter(
                mode="markers",
                name="sentences",
                y=[e["agent"] or "(no agent)" for e in logs],
                x=[(e["time_ns"] - origin_ns) / 1e6 for e in logs],
                marker={
                    "symbol": ["diamond" if e["kind"] == "task_state" else "circle" for e in logs],
                    "size": 10,
                    "color": [
                        ERROR if e["status"] in ("ERROR", "CRITICAL", "failed") else "#333"
                        for e in logs
                    ],
                },
                text=[e["text"] for e in logs],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    arrows = []
    for e in window[-200:]:
        peer = e.get("peer")
        if (
            not peer
            or peer == e["agent"]
            or e["kind"] not in ("span_start", "message")
            or peer not in colours
        ):
            continue
        x = (e["time_ns"] - origin_ns) / 1e6
        arrows.append(
            {
                "x": x,
                "y": e["agent"],
                "ax": x,
                "ay": peer,
                "xref": "x",
                "yref": "y",
                "axref": "x",
                "ayref": "y",
                "showarrow": True,
                "arrowhead": 3,
                "arrowwidth": 2,
                "arrowcolor": "#7F3C8D" if e["kind"] == "message" else "#555",
                "text": "",
            }
        )
    if window:
        current = window[-1]
        fig.add_trace(
            go.Scatter(
                mode="markers",
                name="current step",
                x=[(current["time_ns"] - origin_ns) / 1e6],
                y=[current["agent"] or "(no agent)"],
                marker={
                    "symbol": "star",
                    "size": 18,
                    "color": "#FFB000",
                    "line": {"width": 1, "color": "#333"},
                },
                hovertemplate=f"step {step}<extra></extra>",
            )
        )
    x_now = (now - origin_ns) / 1e6
    fig.update_layout(
        annotations=arrows,  # set at once: add_annotation per arrow is slow
        shapes=[
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": x_now,
                "x1": x_now,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#FFB000", "width": 2},
            }
        ],
        barmode="overlay",
    )
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(lanes)), type="category")
    fig.update_xaxes(title="ms since the run started")
    return layout(fig, max(240, 70 * len(lanes) + 80))
