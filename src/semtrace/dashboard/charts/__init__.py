"""Plotly figures for the dashboard; each function takes what a query function returned and
only draws it."""

from __future__ import annotations

from semtrace.dashboard.charts._base import ERROR, agent_colour, agent_colours
from semtrace.dashboard.charts.graph import agent_graph
from semtrace.dashboard.charts.swimlane import WINDOW, swimlane
from semtrace.dashboard.charts.tasks import task_timeline
from semtrace.dashboard.charts.waterfall import fmt_duration, waterfall

__all__ = [
    "ERROR",
    "WINDOW",
    "agent_colour",
    "agent_colours",
    "agent_graph",
    "fmt_duration",
    "swimlane",
    "task_timeline",
    "waterfall",
]
