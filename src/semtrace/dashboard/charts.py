"""Plotly figures for the dashboard: waterfall, swimlane, agent graph, task timeline.

Each function takes rows the query functions returned and only draws them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import plotly.graph_objects as go

__all__ = ["agent_colours", "agent_graph", "swimlane", "task_timeline", "waterfall"]

_PALETTE = (
    "#4C78A8",
    "#F58518",
    "#54A24B",
    "#B279A2",
    "#72B7B2",
    "#EECA3B",
    "#9D755D",
    "#FF9DA6",
    "#79706E",
    "#2F4B7C",
)
ERROR = "#D62728"
CRITICAL = "#111111"


def agent_colours(agents: Iterable[str | None]) -> dict[str, str]:
    """A stable colour per agent name (sorted, so every page agrees)."""
    names = sorted({a or "(no agent)" for a in agents})
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}


def _layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        plot_bgcolor="white",
        hoverlabel={"align": "left"},
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    return fig


def waterfall(
    rows: Sequence[Mapping[str, Any]],
    *,
    origin_ns: int,
    critical: AbstractSet[str],
    selected: str | None = None,
) -> go.Figure:
    """Spans as bars on a shared time axis (ms from the trace start), one row each, coloured
    by agent; failed spans in red, critical-path spans outlined, collapsed ones marked ▸."""
    colours = agent_colours(r.get("agent_name") for r in rows)
    texts = []
    for r in rows:
        marker = "▸ " if r.get("collapsed") else ("▾ " if r.get("children") else "  ")
        hidden = f" (+{r['hidden']})" if r.get("hidden") else ""
        if r.get("hidden_errors"):
            hidden += f" ⚠{r['hidden_errors']}"
        texts.append(f"{'  ' * int(r.get('depth') or 0)}{marker}{r['name']}{hidden}")
    # Tick labels are right-aligned: padding them to one width in a monospace font keeps the
    # tree's indentation readable. A row number keeps equal names apart.
    width = min(max((len(t) for t in texts), default=0), 70)
    labels = [
        (t[: width - 1] + "…" if len(t) > width else t).ljust(width).replace(" ", "\u00a0")
        + f"\u2009#{i}"
        for i, t in enumerate(texts)
    ]
    fig = go.Figure()
    agents = [r.get("agent_name") or "(no agent)" for r in rows]
    # One bar trace for every row (many agents must not mean many traces), plus a legend
    # entry per agent while there are few enough to read.
    fig.add_trace(
        go.Bar(
            orientation="h",
            y=labels,
            base=[(r["start_time_ns"] - origin_ns) / 1e6 for r in rows],
            x=[max((r["end_time_ns"] - r["start_time_ns"]) / 1e6, 0.01) for r in rows],
            marker={
                "color": [
                    ERROR if r["status_code"] == "ERROR" else colours[a]
                    for r, a in zip(rows, agents, strict=True)
                ],
                "line": {
                    "color": [
                        "#FFB000"
                        if r["span_id"] == selected
                        else ERROR
                        if r.get("hidden_errors")
                        else CRITICAL
                        if r["span_id"] in critical
                        else "rgba(0,0,0,0)"
                        for r in rows
                    ],
                    "width": [
                        3
                        if r["span_id"] in critical
                        or r["span_id"] == selected
                        or r.get("hidden_errors")
                        else 0
                        for r in rows
                    ],
                },
            },
            customdata=[
                [
                    r["span_id"],
                    r["duration_ms"],
                    r["status_code"],
                    "yes" if r["span_id"] in critical else "no",
                    a,
                ]
                for r, a in zip(rows, agents, strict=True)
            ],
            hovertemplate=(
                "%{y}<br>agent %{customdata[4]}<br>%{customdata[1]:.1f} ms, %{customdata[2]}"
                "<br>critical path: %{customdata[3]}<br>span %{customdata[0]}<extra></extra>"
            ),
            showlegend=False,
        )
    )
    if len(colours) <= 12:
        for agent, colour in colours.items():
            fig.add_trace(
                go.Bar(x=[None], y=[None], name=agent, marker={"color": colour}, orientation="h")
            )
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=list(reversed(labels)),
        tickfont={"family": "monospace", "size": 11},
        ticktext=[lbl.rsplit("\u2009#", 1)[0] for lbl in reversed(labels)],
        tickvals=list(reversed(labels)),
    )
    fig.update_xaxes(title="ms since trace start")
    fig.update_layout(barmode="overlay", bargap=0.25)
    return _layout(fig, max(220, 24 * len(rows) + 90))


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
    return _layout(fig, max(240, 70 * len(lanes) + 80))


def _graph_order(agents: Sequence[str], edges: Sequence[Mapping[str, Any]]) -> list[str]:
    # Callers first, each followed by whom it reaches, so connected agents sit side by side
    # on the circle and edges rarely cross.
    names = sorted({*agents, *(e["source"] for e in edges), *(e["target"] for e in edges)})
    out_edges: dict[str, list[str]] = {n: [] for n in names}
    has_in: set[str] = set()
    for e in edges:
        out_edges[e["source"]].append(e["target"])
        has_in.add(e["target"])
    order: list[str] = []
    for start in [n for n in names if n not in has_in] + names:
        stack = [start]
        while stack:
            node = stack.pop()
            if node in order:
                continue
            order.append(node)
            stack.extend(sorted(set(out_edges[node]) - set(order), reverse=True))
    return order


def agent_graph(
    edges: Sequence[Mapping[str, Any]],
    *,
    agents: Sequence[str] = (),
    highlight_agent: str | None = None,
    highlight_edge: tuple[str, str] | None = None,
    active: set[str] | None = None,
    max_agents: int = 16,
) -> go.Figure:
    """Agents on a circle, arrows for calls (grey) and messages (purple) labelled with counts;
    the current agent and edge highlighted, agents not ``active`` yet dimmed.

    Past ``max_agents`` the graph keeps the busiest agents (and the highlighted one) so it
    stays readable; the title says how many were left out.
    """
    title = None
    every = {*agents, *(e["source"] for e in edges), *(e["target"] for e in edges)}
    if len(every) > max_agents:
        weight: dict[str, int] = {}
        for e in edges:
            for a in (e["source"], e["target"]):
                weight[a] = weight.get(a, 0) + int(e.get("count") or 1)
        if active is not None:  # in a replay, what is happening now matters most
            for a in active:
                weight[a] = weight.get(a, 0) + 1_000_000
        keep = set(sorted(every, key=lambda a: -weight.get(a, 0))[:max_agents])
        if highlight_agent:
            keep.add(highlight_agent)
        edges = [e for e in edges if e["source"] in keep and e["target"] in keep]
        agents = [a for a in agents if a in keep]
        title = f"{len(keep)} of {len(every)} agents shown (the busiest)"
    names = _graph_order(agents, edges)
    n = max(len(names), 1)
    pos = {
        name: (
            math.cos(2 * math.pi * i / n + math.pi / 2),
            math.sin(2 * math.pi * i / n + math.pi / 2),
        )
        for i, name in enumerate(names)
    }
    colours = agent_colours(names)
    fig = go.Figure()
    notes: list[dict[str, Any]] = []
    for e in edges:
        (x0, y0), (x1, y1) = pos[e["source"]], pos[e["target"]]
        hot = highlight_edge == (e["source"], e["target"])
        notes.append(
            {
                "x": x1 * 0.85 + x0 * 0.15,
                "y": y1 * 0.85 + y0 * 0.15,
                "ax": x0 * 0.85 + x1 * 0.15,
                "ay": y0 * 0.85 + y1 * 0.15,
                "xref": "x",
                "yref": "y",
                "axref": "x",
                "ayref": "y",
                "showarrow": True,
                "arrowhead": 3,
                "arrowwidth": 4 if hot else 2,
                "arrowcolor": "#FFB000"
                if hot
                else ("#7F3C8D" if e["kind"] == "message" else "#888"),
                "text": "",
            }
        )
        label = f"{e['kind']} x{e['count']}"
        if e.get("errors"):
            label += f", {e['errors']} err"
        notes.append(
            {
                "x": x0 * 0.45 + x1 * 0.55,
                "y": y0 * 0.45 + y1 * 0.55,
                "text": label,
                "showarrow": False,
                "font": {"size": 11},
                "bgcolor": "rgba(255,255,255,0.8)",
            }
        )
    fig.update_layout(annotations=notes)  # at once: add_annotation per edge is slow
    fig.add_trace(
        go.Scatter(
            mode="markers+text",
            x=[pos[a][0] for a in names],
            y=[pos[a][1] for a in names],
            text=names,
            textposition="top center",
            marker={
                "size": [38 if a == highlight_agent else 26 for a in names],
                "color": [colours[a] for a in names],
                "opacity": [1.0 if active is None or a in active else 0.3 for a in names],
                "line": {
                    "color": ["#FFB000" if a == highlight_agent else "white" for a in names],
                    "width": [5 if a == highlight_agent else 1 for a in names],
                },
            },
            hovertemplate="%{text}<extra></extra>",
            showlegend=False,
        )
    )
    if title:
        fig.update_layout(title={"text": title, "font": {"size": 12}})
    fig.update_xaxes(visible=False, range=[-1.4, 1.4])
    fig.update_yaxes(visible=False, range=[-1.35, 1.45], scaleanchor="x")
    return _layout(fig, 420)


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
    return _layout(fig, max(200, 50 * len(by_task) + 90))
