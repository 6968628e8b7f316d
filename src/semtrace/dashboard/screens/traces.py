"""Traces: recent runs with filters; a row opens the trace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from semtrace.dashboard import _data
from semtrace.dashboard import queries as q
from semtrace.dashboard._widgets import empty_state, fmt_cost, refresh_every

RANGES = {
    "Last 15 minutes": timedelta(minutes=15),
    "Last hour": timedelta(hours=1),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "All time": None,
}


def main() -> None:
    st.title("Traces")
    options = _data.filter_options()
    c1, c2, c3, c4 = st.columns([1.2, 1.5, 1.5, 1])
    window = c1.selectbox("Time range", list(RANGES), index=4, key="tr_range")
    services = c2.multiselect("Service", options["services"], key="tr_services")
    agents = c3.multiselect("Agent", options["agents"], key="tr_agents")
    status = c4.selectbox("Status", ["Any", "ERROR", "OK"], key="tr_status")
    text = st.text_input(
        "Search log sentences",
        key="tr_text",
        placeholder="e.g. vendor, timeout, Last-updated",
    )
    span = RANGES[window]
    since = (datetime.now(UTC) - span).isoformat() if span else None

    @st.fragment(run_every=refresh_every())
    def table() -> None:
        with _data.connection() as con:
            traces = q.trace_list(
                con,
                since=since,
                services=services,
                agents=agents,
                status=None if status == "Any" else status,
                text=text or None,
            )
        if traces.num_rows == 0:
            if any([services, agents, text, status != "Any", span]):
                empty_state(
                    "No trace matches these filters.", "Widen the time range or clear a filter."
                )
            else:
                empty_state(
                    "No traces yet.",
                    "Run an agent with `semtrace.configure()` writing to this database, "
                    "or `semtrace demo` for a sample run.",
                )
            return
        df = traces.to_pandas()
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Traces", len(df))
        m2.metric("With errors", int((df["error_count"] > 0).sum()))
        m3.metric(
            "Tokens",
            f"{int(df['input_tokens'].fillna(0).sum() + df['output_tokens'].fillna(0).sum()):,}",
        )
        m4.metric("Cost", fmt_cost(df["cost_usd"].fillna(0).sum()))
        df.insert(0, "open", "/trace?trace=" + df["trace_id"])
        if df["matched_sentence"].isna().all():
            df = df.drop(columns=["matched_sentence"])
        event = st.dataframe(
            df,
            hide_index=True,
            on_select="rerun",
            selection_mode="single-row",
            key="tr_table",
            column_order=[
                c
                for c in (
                    "open",
                    "trace_id",
                    "root_name",
                    "status",
                    "error_count",
                    "duration_ms",
                    "start_time",
                    "matched_sentence",
                    "agents",
                    "span_count",
                    "input_tokens",
                    "output_tokens",
                    "cost_usd",
                    "services",
                )
                if c in df.columns
            ],
            column_config={
                "root_name": st.column_config.TextColumn("root"),
                "input_tokens": st.column_config.NumberColumn("in tokens"),
                "output_tokens": st.column_config.NumberColumn("out tokens"),
                "open": st.column_config.LinkColumn("open", display_text="open ↗", width="small"),
                "trace_id": st.column_config.TextColumn("trace id"),
                "start_time": st.column_config.DatetimeColumn(
                    "start", format="YYYY-MM-DD HH:mm:ss"
                ),
                "duration_ms": st.column_config.NumberColumn("duration", format="%.1f ms"),
                "cost_usd": st.column_config.NumberColumn("cost", format="$%.5f"),
                "error_count": st.column_config.NumberColumn("errors"),
                "span_count": st.column_config.NumberColumn("spans"),
                "matched_sentence": st.column_config.TextColumn("matching sentence", width="large"),
            },
        )
        rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
        if rows:
            chosen = str(df.iloc[rows[0]]["trace_id"])
            st.switch_page("screens/trace.py", query_params={"trace": chosen})

    table()


main()
