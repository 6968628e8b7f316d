"""The trace waterfall: the span tree on the left, each span a bar on a shared time axis,
with its duration, the sentences and events that happened in it, the gaps in which its
parent waited, and the critical path outlined."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import plotly.graph_objects as go

from semtrace.dashboard.charts._base import (
    CRITICAL,
    ERROR,
    NO_AGENT,
    SELECTED,
    WARNING,
    agent_colour,
    layout,
    wrap,
)

__all__ = ["ROW_PX", "fmt_duration", "waterfall"]

ROW_PX = 24  # height of one span's row
_LABEL_WIDTH = 38  # characters of the tree column

# How each kind of marker looks: (symbol, colour, size).
_MARKERS: dict[tuple[str, str], tuple[str, str, int]] = {
    ("log", "INFO"): ("circle", "#333333", 8),
    ("log", "DEBUG"): ("circle-open", "#777777", 7),
    ("log", "WARNING"): ("triangle-up", WARNING, 10),
    ("log", "ERROR"): ("circle", ERROR, 10),
    ("log", "CRITICAL"): ("circle", ERROR, 10),
    ("exception", "ERROR"): ("x", ERROR, 11),
    ("task", "input_required"): ("diamond", WARNING, 11),
    ("task", "failed"): ("diamond", ERROR, 11),
    ("task", "*"): ("diamond", "#4C78A8", 10),
    ("event", "*"): ("square-open", "#555555", 8),
}
_GAP_COLOURS = {
    "backoff": "#B279A2",
    "queue": "#7F3C8D",
    "human": WARNING,
    "waiting": "#9E9E9E",
}


def fmt_duration(ms: float) -> str:
    """A duration for a bar or a gap: 850 µs, 12.3 ms, 4.52 s."""
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"
    return f"{ms / 1000:.2f} s"


def _label(row: Mapping[str, Any]) -> str:
    marker = "▸ " if row.get("collapsed") else ("▾ " if row.get("children") else "  ")
    hidden = f" (+{row['hidden']})" if row.get("hidden") else ""
    if row.get("hidden_errors"):
        hidden += f" ⚠{row['hidden_errors']}"
    text = f"{'  ' * min(int(row.get('depth') or 0), 12)}{marker}{row['name']}{hidden}"
    if len(text) > _LABEL_WIDTH:
        text = text[: _LABEL_WIDTH - 1] + "…"
    return text.ljust(_LABEL_WIDTH).replace(" ", "\u00a0")


def _marker_style(kind: str, level: str | None) -> tuple[str, str, int]:
    return _MARKERS.get((kind, level or ""), _MARKERS.get((kind, "*"), _MARKERS[("log", "INFO")]))


def waterfall(
    rows: Sequence[Mapping[str, Any]],
    *,
    origin_ns: int,
    critical: AbstractSet[str],
    selected: str | None = None,
    markers: Sequence[Mapping[str, Any]] = (),
    gaps: Sequence[Mapping[str, Any]] = (),
) -> go.Figure:
    """Spans as bars on a shared time axis (ms from the trace start), one row each in tree
    order, coloured by agent (a span without an agent takes its ancestor's), failed spans in
    red, the critical path outlined, the selected span in amber, each bar labelled with its
    duration.

    ``markers`` (time_ns, span_id, kind, level, text) are drawn on their span's row;
    ``gaps`` (span_id of the row, start_ns, end_ns, kind, label) as hatched stretches.
    The bars are the figure's first trace, so a click selects ``rows[point_index]``.
    """
    labels = [f"{_label(r)}\u2009#{i}" for i, r in enumerate(rows)]
    row_of = {r["span_id"]: labels[i] for i, r in enumerate(rows)}
    ms = [(r["end_time_ns"] - r["start_time_ns"]) / 1e6 for r in rows]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            orientation="h",
            y=labels,
            base=[(r["start_time_ns"] - origin_ns) / 1e6 for r in rows],
            x=[max(m, 0.01) for m in ms],
            text=[fmt_duration(m) for m in ms],
            textposition="none",
            marker={
                "color": [
                    ERROR if r["status_code"] == "ERROR" else agent_colour(r.get("agent"))
                    for r in rows
                ],
                "opacity": [0.55 if r.get("agent_inherited") else 1.0 for r in rows],
                "line": {
                    "color": [
                        SELECTED
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
                        if r["span_id"] == selected
                        else 2
                        if r["span_id"] in critical or r.get("hidden_errors")
                        else 0
                        for r in rows
                    ],
                },
            },
            customdata=[
                [
                    r["span_id"],
                    fmt_duration(m),
                    r["status_code"],
                    "yes" if r["span_id"] in critical else "no",
                    (r.get("agent") or NO_AGENT)
                    + (" (inherited)" if r.get("agent_inherited") else ""),
                    r["name"],
                ]
                for r, m in zip(rows, ms, strict=True)
            ],
            hovertemplate=(
                "<b>%{customdata[5]}</b><br>agent %{customdata[4]}<br>%{customdata[1]},"
                " %{customdata[2]}<br>critical path: %{customdata[3]}"
                "<br>span %{customdata[0]}<extra></extra>"
            ),
            showlegend=False,
        )
    )
    # Durations right of the bars, as their own text trace: bar text drawn outside its
    # bar keeps clicks from selecting the bar.
    fig.add_trace(
        go.Scatter(
            mode="text",
            y=labels,
            x=[(r["end_time_ns"] - origin_ns) / 1e6 for r in rows],
            text=["\u2002" + fmt_duration(m) for m in ms],
            textposition="middle right",
            textfont={"size": 10, "color": "#444"},
            hoverinfo="skip",
            showlegend=False,
            cliponaxis=False,
        )
    )
    _add_gaps(fig, gaps, row_of, origin_ns)
    _add_markers(fig, markers, row_of, origin_ns)
    _add_agent_legend(fig, rows)
    ordered = list(reversed(labels))
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=ordered,
        tickfont={"family": "monospace", "size": 11},
        tickvals=ordered,
        ticktext=[lbl.rsplit("\u2009#", 1)[0] for lbl in ordered],
        automargin=True,
    )
    fig.update_xaxes(title=None, ticksuffix=" ms", side="top")
    fig.update_layout(barmode="overlay", bargap=0.3, hovermode="closest")
    fig = layout(fig, max(160, ROW_PX * len(rows) + 80))
    fig.update_layout(
        margin={"l": 10, "r": 60, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 0, "yanchor": "top", "x": 0, "xanchor": "left"},
    )
    return fig


def _add_gaps(
    fig: go.Figure,
    gaps: Sequence[Mapping[str, Any]],
    row_of: Mapping[str, str],
    origin_ns: int,
) -> None:
    shown = [g for g in gaps if g["span_id"] in row_of]
    if not shown:
        return
    fig.add_trace(
        go.Bar(
            orientation="h",
            y=[row_of[g["span_id"]] for g in shown],
            base=[(g["start_ns"] - origin_ns) / 1e6 for g in shown],
            x=[max((g["end_ns"] - g["start_ns"]) / 1e6, 0.01) for g in shown],
            marker={
                "color": "rgba(255,255,255,0.85)",
                "line": {"color": [_GAP_COLOURS.get(g["kind"], "#999") for g in shown], "width": 1},
                "pattern": {
                    "shape": "/",
                    "fgcolor": [_GAP_COLOURS.get(g["kind"], "#999") for g in shown],
                    "size": 6,
                    "solidity": 0.25,
                },
            },
            width=0.45,
            text=[g["label"] for g in shown],
            textposition="none",
            hovertemplate="%{text}<extra></extra>",
            name="gaps",
            showlegend=False,
        )
    )
    # The labels as annotations: bar text would shrink to fit a short gap.
    fig.update_layout(
        annotations=[
            {
                "x": ((g["start_ns"] + g["end_ns"]) / 2 - origin_ns) / 1e6,
                "y": row_of[g["span_id"]],
                "text": g["label"],
                "showarrow": False,
                "font": {"size": 10, "color": _GAP_COLOURS.get(g["kind"], "#555")},
                "bgcolor": "rgba(255,255,255,0.9)",
                "yshift": 11,
            }
            for g in shown
        ]
    )


def _add_markers(
    fig: go.Figure,
    markers: Sequence[Mapping[str, Any]],
    row_of: Mapping[str, str],
    origin_ns: int,
) -> None:
    groups: dict[tuple[str, str, int], list[Mapping[str, Any]]] = {}
    for m in markers:
        if m["span_id"] in row_of:
            groups.setdefault(_marker_style(m["kind"], m.get("level")), []).append(m)
    for (symbol, colour, size), items in groups.items():
        fig.add_trace(
            go.Scatter(
                mode="markers",
                y=[row_of[m["span_id"]] for m in items],
                x=[(m["time_ns"] - origin_ns) / 1e6 for m in items],
                marker={
                    "symbol": symbol,
                    "size": size,
                    "color": colour,
                    "line": {"width": 1, "color": "white" if "open" not in symbol else colour},
                },
                text=[wrap(m["text"] or "") for m in items],
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
            )
        )


def _add_agent_legend(fig: go.Figure, rows: Sequence[Mapping[str, Any]]) -> None:
    agents = sorted({r.get("agent") or NO_AGENT for r in rows})
    if len(agents) > 10:
        return
    for agent in agents:
        fig.add_trace(
            go.Bar(
                x=[None],
                y=[None],
                name=agent,
                marker={"color": agent_colour(None if agent == NO_AGENT else agent)},
                orientation="h",
            )
        )
