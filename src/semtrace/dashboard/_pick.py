"""Choosing a trace from the URL: an id, a prefix or a span id; an unknown or ambiguous one
says so and offers the traces it could mean, never silently shows another trace."""

from __future__ import annotations

from typing import Any

import streamlit as st

from semtrace.dashboard import queries as q

__all__ = ["NOT_FOUND", "trace_from_url"]

NOT_FOUND = ""  # returned when the URL names no trace: the page has said so


def trace_from_url(con: Any, param: str = "trace", *, page: str = "screens/trace.py") -> str | None:
    """The trace the URL's ``param`` names (the URL is corrected to its full id); the newest
    trace when the URL names none; None when there are no traces at all; :data:`NOT_FOUND`
    when the id matches no trace or several (shown, with links to the candidates on
    ``page``)."""
    wanted = str(st.query_params.get(param, "")).strip()
    if not wanted:
        newest = q.trace_list(con, limit=1).to_pylist()
        if not newest:
            return None
        st.query_params[param] = newest[0]["trace_id"]
        return str(newest[0]["trace_id"])
    found = q.find_trace(con, wanted)
    if found.trace_id is not None:
        # Written even when unchanged: a link to this same page leaves the browser's URL
        # as it was until the app sets it.
        st.query_params[param] = found.trace_id
        return found.trace_id
    st.title("Trace not found")
    st.error(found.problem or f"No trace `{wanted}`.", icon=":material/search_off:")
    for c in found.candidates:
        others = {k: v for k, v in st.query_params.to_dict().items() if k != param}
        st.page_link(
            page,
            label=f"{c['trace_id']} · {c['root_name']} · {c['start_time']:%Y-%m-%d %H:%M:%S}"
            f" · {'failed' if c['status'] == 'ERROR' else 'ok'}",
            query_params={**others, param: c["trace_id"]},
            icon=":material/open_in_new:",
        )
    if not found.candidates:
        st.page_link("screens/traces.py", label="Browse the traces", icon=":material/list:")
    return NOT_FOUND
