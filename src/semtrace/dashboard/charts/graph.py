"""The agent graph: who calls or messages whom, laid out in layers (callers left of whom
they reach, each group of connected agents in its own band). Nodes are sized by calls and
coloured by error rate; each edge is labelled on the edge itself with its count."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from semtrace.dashboard.charts._base import ERROR, SELECTED, layout
from semtrace.dashboard.graph_layout import layered_layout

__all__ = ["agent_graph"]

_CALL = "#8A8A8A"
_MESSAGE = "#7F3C8D"
_RADIUS = 0.13  # how far from a node's centre an edge stops (data units)
_HEALTH = [[0.0, "#54A24B"], [0.35, "#EECA3B"], [1.0, ERROR]]  # error rate 0 .. 30%


def _curve(
    p0: tuple[float, float], p1: tuple[float, float], bulge: float, n: int = 24
) -> list[tuple[float, float]]:
    """Points of a quadratic curve from p0 to p1, bent sideways by ``bulge`` (a fraction of
    its length, to the left of the direction of travel), trimmed at both nodes."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy) or 1.0
    cx, cy = (x0 + x1) / 2 - dy * bulge, (y0 + y1) / 2 + dx * bulge
    pts = []
    for i in range(n + 1):
        t = i / n
        x = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t**2 * x1
        y = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t**2 * y1
        pts.append((x, y))
    keep = [
        p
        for p in pts
        if math.hypot(p[0] - x0, p[1] - y0) > _RADIUS and math.hypot(p[0] - x1, p[1] - y1) > _RADIUS
    ]
    return keep if len(keep) >= 2 else [pts[0], pts[-1]] if length else pts


def _keep_busiest(
    every: set[str], edges: Sequence[Mapping[str, Any]], active: set[str] | None, limit: int
) -> set[str]:
    weight: dict[str, int] = {}
    for e in edges:
        for a in (e["source"], e["target"]):
            weight[a] = weight.get(a, 0) + int(e.get("count") or 1)
    for a in active or ():  # in a replay, what is happening now matters most
        weight[a] = weight.get(a, 0) + 1_000_000
    return set(sorted(every, key=lambda a: (-weight.get(a, 0), a))[:limit])


def agent_graph(
    edges: Sequence[Mapping[str, Any]],
    *,
    agents: Sequence[str] = (),
    stats: Mapping[str, Mapping[str, Any]] | None = None,
    highlight_agent: str | None = None,
    highlight_edge: tuple[str, str] | None = None,
    active: set[str] | None = None,
    max_agents: int = 40,
) -> go.Figure:
    """The agents and the calls (grey) and messages (purple) between them.

    ``stats`` (agent -> calls, error_rate) sizes and colours the nodes; ``highlight_agent``
    and ``highlight_edge`` are drawn in amber; agents not in ``active`` are dimmed. Past
    ``max_agents`` the busiest are kept and the title says how many were left out.
    """
    stats = stats or {}
    every = {*agents, *(e["source"] for e in edges), *(e["target"] for e in edges)}
    title = None
    if len(every) > max_agents:
        keep = _keep_busiest(every, edges, active, max_agents)
        if highlight_agent:
            keep.add(highlight_agent)
        title = f"{len(keep)} of {len(every)} agents shown (the busiest)"
        every = keep
    edges = [e for e in edges if e["source"] in every and e["target"] in every]
    weight: dict[tuple[str, str], float] = {}
    for e in edges:
        key = (e["source"], e["target"])
        weight[key] = weight.get(key, 0.0) + float(e.get("count") or 1)
    pos = layered_layout(every, list(weight), weight)
    fig = go.Figure()
    notes: list[dict[str, Any]] = []
    pairs = {(e["source"], e["target"]) for e in edges}
    lines: dict[str, tuple[list[float | None], list[float | None]]] = {
        "call": ([], []),
        "message": ([], []),
        "hot": ([], []),
    }
    for e in edges:
        a, b = e["source"], e["target"]
        if a == b:
            continue
        x0, x1 = pos[a][0], pos[b][0]
        span = abs(x1 - x0)
        bulge = 0.0
        if any(e2 is not e and _same(e2, a, b) for e2 in edges):
            bulge = 0.18 if e["kind"] == "message" else -0.18  # a call and a message
        elif (b, a) in pairs:
            bulge = 0.1  # a request and its reply: each bends to its own side
        elif x1 <= x0 or span > 1.01:
            bulge = 0.3  # backwards or over a layer: bend around the agents in between
        pts = _curve(pos[a], pos[b], bulge)
        hot = highlight_edge == (a, b)
        xs, ys = lines["hot" if hot else e["kind"] if e["kind"] in lines else "call"]
        xs += [p[0] for p in pts] + [None]
        ys += [p[1] for p in pts] + [None]
        colour = SELECTED if hot else _MESSAGE if e["kind"] == "message" else _CALL
        notes.append(
            {
                "x": pts[-1][0],
                "y": pts[-1][1],
                "ax": pts[-2][0],
                "ay": pts[-2][1],
                "xref": "x",
                "yref": "y",
                "axref": "x",
                "ayref": "y",
                "showarrow": True,
                "arrowhead": 2,
                "arrowsize": 1.3,
                "arrowwidth": 2,
                "arrowcolor": colour,
                "text": "",
            }
        )
        mid = pts[len(pts) // 2]
        label = f"{e['count']}x"
        if e.get("errors"):
            label += f" · {e['errors']} failed"
        notes.append(
            {
                "x": mid[0],
                "y": mid[1],
                "text": label,
                "showarrow": False,
                "font": {"size": 10, "color": ERROR if e.get("errors") else colour},
                "bgcolor": "rgba(255,255,255,0.9)",
                "borderpad": 1,
            }
        )
    for kind, (xs, ys) in lines.items():
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={
                        "color": SELECTED
                        if kind == "hot"
                        else _MESSAGE
                        if kind == "message"
                        else _CALL,
                        "width": 4 if kind == "hot" else 1.6,
                        "dash": "dot" if kind == "message" else "solid",
                    },
                    hoverinfo="skip",
                    name={"call": "calls", "message": "messages", "hot": "current"}[kind],
                )
            )
    names = sorted(every)
    calls = [int((stats.get(a) or {}).get("calls") or 0) for a in names]
    rates = [float((stats.get(a) or {}).get("error_rate") or 0.0) for a in names]
    biggest = max([*calls, 1])
    fig.add_trace(
        go.Scatter(
            mode="markers+text",
            x=[pos[a][0] for a in names],
            y=[pos[a][1] for a in names],
            text=names,
            textposition="bottom center",
            textfont={"size": 11},
            customdata=[[c, r] for c, r in zip(calls, rates, strict=True)],
            marker={
                "size": [16 + 22 * math.sqrt(c / biggest) for c in calls],
                "color": rates,
                "cmin": 0.0,
                "cmax": 0.3,
                "colorscale": _HEALTH,
                "colorbar": {"title": {"text": "error rate"}, "tickformat": ".0%", "len": 0.5},
                "opacity": [1.0 if active is None or a in active else 0.3 for a in names],
                "line": {
                    "color": [SELECTED if a == highlight_agent else "white" for a in names],
                    "width": [5 if a == highlight_agent else 1.5 for a in names],
                },
            },
            hovertemplate="<b>%{text}</b><br>%{customdata[0]} calls<br>"
            "error rate %{customdata[1]:.0%}<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_layout(annotations=notes)  # at once: add_annotation per edge is slow
    if title:
        fig.update_layout(title={"text": title, "font": {"size": 12}})
    xs_all = [p[0] for p in pos.values()] or [0.0]
    ys_all = [p[1] for p in pos.values()] or [0.0]
    fig.update_xaxes(visible=False, range=[min(xs_all) - 0.4, max(xs_all) + 0.4])
    fig.update_yaxes(visible=False, range=[max(ys_all) + 0.6, min(ys_all) - 0.5])
    rows = max(ys_all) - min(ys_all) + 1
    fig = layout(fig, int(max(300, 75 * rows + 60)))
    fig.update_layout(
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


def _same(e: Mapping[str, Any], a: str, b: str) -> bool:
    """Whether ``e`` runs between the same agents in the same direction (a call and a
    message between one pair are drawn apart)."""
    return bool(e["source"] == a and e["target"] == b)
