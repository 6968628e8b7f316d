"""What every chart shares: the palette, one colour per agent, the layout defaults."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable

import plotly.graph_objects as go

__all__ = [
    "CRITICAL",
    "ERROR",
    "NO_AGENT",
    "PALETTE",
    "SELECTED",
    "WARNING",
    "agent_colour",
    "agent_colours",
    "layout",
    "wrap",
]

# No reds or oranges: red means failed, amber means selected or a warning.
PALETTE = (
    "#4C78A8",
    "#54A24B",
    "#B279A2",
    "#72B7B2",
    "#9D755D",
    "#2F4B7C",
    "#8CD17D",
    "#499894",
    "#79706E",
    "#A0CBE8",
    "#D4A6C8",
    "#86BCB6",
)
ERROR = "#D62728"
WARNING = "#F58518"
SELECTED = "#FFB000"
CRITICAL = "#111111"


NO_AGENT = "(no agent)"


def agent_colour(agent: str | None) -> str:
    """The colour of an agent, the same on every page and in every run (from its name)."""
    name = agent or NO_AGENT
    return PALETTE[
        int(hashlib.blake2s(name.encode(), digest_size=4).hexdigest(), 16) % len(PALETTE)
    ]


def agent_colours(agents: Iterable[str | None]) -> dict[str, str]:
    """The colour of each agent named (see :func:`agent_colour`)."""
    return {a or NO_AGENT: agent_colour(a) for a in agents}


def layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        plot_bgcolor="white",
        hoverlabel={"align": "left"},
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    return fig


def wrap(text: str, width: int = 90) -> str:
    """Text for a hover label: lines of about ``width`` characters joined by ``<br>``."""
    words = html.escape(str(text)).split()
    lines: list[str] = []
    line = ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "<br>".join(lines)
