"""The Streamlit dashboard: traces, trace detail, replay, agents, failures, tasks, SQL.

``semtrace dashboard --db FILE`` runs it; :func:`launch` does the same from Python.
"""

from __future__ import annotations

from semtrace.dashboard._launch import (
    APP,
    DEFAULT_PORT,
    choose_port,
    launch,
    resolve_db,
    streamlit_command,
)

__all__ = ["APP", "DEFAULT_PORT", "choose_port", "launch", "resolve_db", "streamlit_command"]
