"""Tasks: long-running tasks with their state timelines and the time spent waiting on a
human (``input_required``)."""

from __future__ import annotations

import streamlit as st

from semtrace.dashboard import _data, charts
from semtrace.dashboard import queries as q
from semtrace.dashboard._widgets import empty_state, fmt_ms, refresh_every


@st.fragment(run_every=refresh_every())
def main() -> None:
    st.title("Tasks")
    with _data.connection() as con:
        view = q.task_list(con)
        changes = q.task_state_changes(con).to_pylist()
    summary = q.task_summaries(changes)
    if view is not None and view.num_rows:
        # The tasks view knows the task's name and who answered it; add them to each row.
        extra = {r["task_id"]: r for r in view.to_pylist()}
        for row in summary:
            known = extra.get(row["task_id"], {})
            row["name"] = known.get("name")
            row["answered_by"] = known.get("answered_by")
    if summary:
        m = st.columns(3)
        m[0].metric("Tasks", len(summary))
        m[1].metric(
            "Waiting on a human now", sum(1 for s in summary if s["status"] == "input_required")
        )
        m[2].metric("Total human wait", fmt_ms(sum(s["human_wait_ms"] for s in summary)))
        st.plotly_chart(
            charts.task_timeline(changes), key="tasks_timeline", config={"displaylogo": False}
        )
        st.dataframe(
            [{k: "-" if v is None else v for k, v in row.items()} for row in summary],
            hide_index=True,
            column_order=[
                c
                for c in (
                    "task_id",
                    "name",
                    "agent_name",
                    "status",
                    "human_wait_ms",
                    "working_ms",
                    "answered_by",
                    "status_message",
                    "changes",
                    "trace_id",
                )
                if c in summary[0]
            ],
            column_config={
                "human_wait_ms": st.column_config.NumberColumn("human wait", format="%.1f ms"),
                "working_ms": st.column_config.NumberColumn("working", format="%.1f ms"),
            },
        )
    if view is None:
        empty_state(
            "The `tasks` view is not in this database yet.",
            "It arrives with a newer semtrace; state changes recorded on spans are shown above.",
        )
    elif view.num_rows:
        st.markdown("#### `tasks` view")
        st.dataframe(view.to_pandas(), hide_index=True)
    if not summary and (view is None or view.num_rows == 0):
        empty_state("No long-running tasks yet.", "Start one with `semtrace.start_task(...)`.")


main()
