"""Small layout helpers the pages share (formatting, empty states, links, refresh)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import streamlit as st

__all__ = ["empty_state", "fmt_cost", "fmt_ms", "refresh_every", "short_id"]


def refresh_every() -> timedelta | None:
    """The auto-refresh interval chosen in the sidebar, or None when it is off."""
    if not st.session_state.get("auto_refresh"):
        return None
    return timedelta(seconds=int(st.session_state.get("refresh_s", 5)))


def empty_state(title: str, hint: str) -> None:
    """An informative empty state: what is missing and how to get it."""
    st.info(f"**{title}**\n\n{hint}", icon=":material/info:")


def fmt_ms(value: Any) -> str:
    if value is None:
        return "-"
    v = float(value)
    return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.1f} ms"


def fmt_cost(value: Any) -> str:
    return "-" if value is None else f"${float(value):.4f}"


def short_id(value: str | None) -> str:
    return (value or "")[:12]
