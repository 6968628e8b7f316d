"""The semtrace dashboard's entry script: the page list, the sidebar every page shares, and
the "waiting for the first spans" screen while the database does not exist yet.

Run it with ``semtrace dashboard`` (which starts ``streamlit run`` on this file); the database
or collector to read comes from the environment (see :mod:`semtrace.dashboard._data`).

Adding a page takes one line: write ``screens/<name>.py`` (a script that lays out what the
functions of :mod:`semtrace.dashboard.queries` return; put its SQL there), then add
``Screen("<name>", "Title", ":material/icon_name:")`` to ``PAGES`` below, where it should
appear in the sidebar. It is served at ``/<name>``; link to it with
``st.page_link("screens/<name>.py", query_params={...})``. The first page is the landing
page, served at ``/`` and at its own URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from semtrace.dashboard import _data

SCREENS = Path(__file__).parent / "screens"


@dataclass(frozen=True)
class Screen:
    """A page: ``screens/<name>.py``, served at ``/<name>``, listed with its title."""

    name: str
    title: str
    icon: str


PAGES = [
    Screen("traces", "Traces", ":material/list:"),
    Screen("trace", "Trace", ":material/waterfall_chart:"),
    Screen("replay", "Replay", ":material/play_circle:"),
    Screen("compare", "Compare", ":material/compare_arrows:"),
    Screen("agents", "Agents", ":material/hub:"),
    Screen("failures", "Failures", ":material/error:"),
    Screen("tasks", "Tasks", ":material/pending_actions:"),
    Screen("inbox", "Inbox", ":material/inbox:"),
    Screen("sql", "SQL", ":material/terminal:"),
]

st.set_page_config(
    page_title="semtrace",
    page_icon=":material/timeline:",
    layout="wide",
    initial_sidebar_state="collapsed",
)
# The content starts near the top of the window: the waterfall must fit the first screen.
st.markdown(
    "<style>.block-container{padding-top:2.2rem;padding-bottom:2rem}</style>",
    unsafe_allow_html=True,
)


def _pages() -> list[st.Page]:
    home = PAGES[0]
    pages = [
        st.Page(
            SCREENS / f"{home.name}.py", title=home.title, icon=home.icon, url_path="", default=True
        ),
        # The landing page at its own URL too (/traces), so links to it work.
        st.Page(
            SCREENS / f"{home.name}.py",
            title=home.title,
            icon=home.icon,
            url_path=home.name,
            visibility="hidden",
        ),
    ]
    pages += [
        st.Page(SCREENS / f"{p.name}.py", title=p.title, icon=p.icon, url_path=p.name)
        for p in PAGES[1:]
    ]
    return pages


# Pages along the top: the trace page needs the whole width of the window.
navigation = st.navigation(_pages(), position="top")

with st.sidebar:
    st.markdown("**semtrace** · semantic telemetry for agents")
    st.caption(f"Reading `{_data.describe_target()}`")
    st.toggle(
        "Auto-refresh",
        key="refresh",
        bind="query-params",
        help="Reload live data while agents run (also `?refresh=true` in the URL).",
    )
    st.select_slider(
        "Every",
        options=[2, 5, 10, 30, 60],
        value=5,
        key="refresh_s",
        format_func=lambda s: f"{s} s",
    )

if (missing := _data.database_missing()) is not None:
    st.title("Waiting for the first spans")
    st.info(
        f"There is no semtrace database at `{missing}` yet. It appears when an agent "
        "configured with this file sends its first spans (or run `semtrace demo` for a "
        "sample); this page opens it by itself then.",
        icon=":material/hourglass_top:",
    )

    @st.fragment(run_every=2)
    def _wait() -> None:
        if _data.database_missing() is None:
            st.rerun(scope="app")

    _wait()
else:
    navigation.run()
