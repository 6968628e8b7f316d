"""The semtrace dashboard's entry script: page navigation and the sidebar every page shares.

Run it with ``semtrace dashboard`` (which starts ``streamlit run`` on this file); the database
or collector to read comes from the environment (see :mod:`semtrace.dashboard._data`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from semtrace.dashboard import _data

PAGES = Path(__file__).parent / "screens"

st.set_page_config(page_title="semtrace", page_icon=":material/timeline:", layout="wide")

navigation = st.navigation(
    [
        st.Page(
            PAGES / "traces.py",
            title="Traces",
            icon=":material/list:",
            url_path="traces",
            default=True,
        ),
        st.Page(
            PAGES / "trace.py", title="Trace", icon=":material/waterfall_chart:", url_path="trace"
        ),
        st.Page(
            PAGES / "replay.py", title="Replay", icon=":material/play_circle:", url_path="replay"
        ),
        st.Page(PAGES / "agents.py", title="Agents", icon=":material/hub:", url_path="agents"),
        st.Page(
            PAGES / "failures.py", title="Failures", icon=":material/error:", url_path="failures"
        ),
        st.Page(
            PAGES / "tasks.py", title="Tasks", icon=":material/pending_actions:", url_path="tasks"
        ),
        st.Page(PAGES / "inbox.py", title="Inbox", icon=":material/inbox:", url_path="inbox"),
        st.Page(PAGES / "sql.py", title="SQL", icon=":material/terminal:", url_path="sql"),
    ]
)

with st.sidebar:
    st.markdown("**semtrace** · semantic telemetry for agents")
    st.caption(f"Reading `{_data.describe_target()}`")
    st.toggle("Auto-refresh", key="auto_refresh", help="Reload live data while agents run.")
    st.select_slider(
        "Every",
        options=[2, 5, 10, 30, 60],
        value=5,
        key="refresh_s",
        format_func=lambda s: f"{s} s",
    )

navigation.run()
