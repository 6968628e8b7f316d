"""The agent graph: who calls or messages whom."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from semtrace.dashboard.charts._base import agent_colours, layout

__all__ = ["agent_graph"]


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
    fig.updatelayout(annotations=notes)  # at once: add_annotation per edge is slow
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
        fig.updatelayout(title={"text": title, "font": {"size": 12}})
    fig.update_xaxes(visible=False, range=[-1.4, 1.4])
    fig.update_yaxes(visible=False, range=[-1.35, 1.45], scaleanchor="x")
    return layout(fig, 420)
