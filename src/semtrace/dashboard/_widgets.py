"""Small layout helpers the pages share (formatting, empty states, badges, refresh)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import streamlit as st

from semtrace.dashboard.charts.waterfall import fmt_duration

__all__ = [
    "RUNNING",
    "empty_state",
    "fmt_cost",
    "fmt_ms",
    "fmt_tokens",
    "plural",
    "refresh_every",
    "short_id",
    "status_badge",
    "status_icon",
]


def refresh_every() -> timedelta | None:
    """The auto-refresh interval chosen in the sidebar, or None when it is off."""
    if not st.session_state.get("refresh"):
        return None
    return timedelta(seconds=int(st.session_state.get("refresh_s", 5)))


def empty_state(title: str, hint: str) -> None:
    """An informative empty state: what is missing and how to get it."""
    st.info(f"**{title}**\n\n{hint}", icon=":material/info:")


def fmt_ms(value: Any) -> str:
    """A duration in milliseconds for people ("-" when unknown)."""
    return "-" if value is None else fmt_duration(float(value))


def fmt_cost(value: Any) -> str:
    return "-" if value is None else f"${float(value):.4f}"


def fmt_tokens(value: Any) -> str:
    return "-" if not value else f"{int(value):,}"


def plural(count: int, noun: str) -> str:
    """``1 trace``, ``3 traces``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def short_id(value: str | None) -> str:
    return (value or "")[:12]


def status_badge(status: str | None, *, running: bool = False) -> str:
    """A coloured markdown badge for a status: failed, ok, running."""
    if running:
        return ":orange-badge[:material/progress_activity: running]"
    if status == "ERROR":
        return ":red-badge[:material/error: failed]"
    return ":green-badge[:material/check: ok]"


def status_icon(status: str | None) -> str:
    """A status as a cell of a table: the failed ones stand out."""
    return "✗ failed" if status == "ERROR" else "✓ ok"


RUNNING = "◔ running"
