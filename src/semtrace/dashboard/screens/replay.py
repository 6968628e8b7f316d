"""Replay: the event flow of a run (linked traces included), step by step or playing, as a
swimlane per agent and an agent graph, with what was known at that moment. The URL carries
the trace and the step, so a moment can be shared."""

from __future__ import annotations

from typing import Any

import streamlit as st

from semtrace.dashboard import _data, charts
from semtrace.dashboard import queries as q
from semtrace.dashboard._widgets import empty_state, fmt_ms

MAX_EVENTS = 20_000


def _describe(e: dict[str, Any]) -> str:
    agent = e["agent"] or "(no agent)"
    if e["kind"] == "message":
        return f"**{e['peer']} → {agent}**: message on `{e['text']}`"
    if e["kind"] == "span_start" and e["peer"]:
        return f"**{e['peer']} → {agent}**: calls `{e['name']}`"
    if e["kind"] == "span_start":
        return f"**{agent}** starts `{e['name']}`" + (f" ({e['text']})" if e["text"] else "")
    if e["kind"] == "span_end":
        ok = "failed" if e["status"] == "ERROR" else "ends"
        return f"**{agent}** {ok} `{e['name']}`" + (f": {e['text']}" if e["text"] else "")
    if e["kind"] == "task_state":
        return f"**{agent}** task `{e['name']}` is now **{e['status']}**" + (
            f" ({e['text'].split(': ', 1)[1]})" if ": " in (e["text"] or "") else ""
        )
    return f"**{agent}** says: {e['text']}"


def main() -> None:
    st.title("Replay")
    with _data.connection() as con:
        recent = q.trace_list(con, limit=50).to_pylist()
        wanted = st.query_params.get("trace", "")
        trace_id = q.resolve_trace(con, wanted) if wanted else None
        ids = [r["trace_id"] for r in recent]
        if trace_id and trace_id not in ids:
            ids.insert(0, trace_id)
        if not ids:
            empty_state(
                "Nothing to replay yet.", "Run an instrumented agent or `semtrace demo` first."
            )
            return
        labels = {r["trace_id"]: f"{r['trace_id'][:12]} · {r['root_name']}" for r in recent}
        c1, c2 = st.columns([3, 1])
        trace_id = c1.selectbox(
            "Run",
            ids,
            index=ids.index(trace_id) if trace_id in ids else 0,
            format_func=lambda t: labels.get(t, t),
            key="rp_trace",
        )
        follow = c2.toggle("Follow linked traces", value=True, key="rp_follow")
        traces = q.linked_trace_ids(con, trace_id) if follow else [trace_id]
        events = q.replay_events(con, traces, max_events=MAX_EVENTS).to_pylist()
        edges = q.agent_edges(con, trace_ids=traces).to_pylist()
    if not events:
        empty_state("This run has no events.", "")
        return
    if st.query_params.get("trace") != trace_id:
        st.query_params["trace"] = trace_id
        st.query_params["step"] = "0"
    lanes = sorted({e["agent"] or "(no agent)" for e in events})
    origin = events[0]["time_ns"]
    last = len(events) - 1
    try:
        start_step = min(max(int(st.query_params.get("step", "0")), 0), last)
    except ValueError:
        start_step = 0
    if "rp_step" not in st.session_state or st.session_state.get("rp_for") != trace_id:
        st.session_state["rp_step"] = start_step
        st.session_state["rp_for"] = trace_id
    shown = ", ".join(lanes[:12]) + (f" and {len(lanes) - 12} more" if len(lanes) > 12 else "")
    st.caption(f"{len(traces)} trace(s) · {len(events):,} events · agents: {shown}")
    if len(events) >= MAX_EVENTS:
        st.warning(
            f"This run has more than {MAX_EVENTS:,} events: the replay covers the first "
            f"{MAX_EVENTS:,}. Open the trace page to explore the rest with a focus range."
        )

    b = st.columns([1, 1, 1, 1, 2, 2])
    if b[0].button("First", icon=":material/first_page:", key="rp_first"):
        st.session_state["rp_step"] = 0
    if b[1].button("Back", icon=":material/chevron_left:", key="rp_back"):
        st.session_state["rp_step"] = max(st.session_state["rp_step"] - 1, 0)
    if b[2].button("Step", icon=":material/chevron_right:", key="rp_next"):
        st.session_state["rp_step"] = min(st.session_state["rp_step"] + 1, last)
    if b[3].button("Last", icon=":material/last_page:", key="rp_last"):
        st.session_state["rp_step"] = last
    playing = b[4].toggle("Play", key="rp_play")
    speed = b[5].select_slider(
        "Speed (steps/s)", options=[0.5, 1, 2, 4, 8], value=2, key="rp_speed"
    )

    @st.fragment(run_every=1.0 / float(speed) if playing else None)
    def view() -> None:
        if playing and st.session_state["rp_step"] < last:
            st.session_state["rp_step"] += 1
        step = int(st.session_state["rp_step"])
        st.query_params["step"] = str(step)
        st.slider("Step", 0, last, key="rp_step")
        current = events[step]
        st.info(
            f"Step {step} of {last} · {fmt_ms((current['time_ns'] - origin) / 1e6)} · "
            + _describe(current),
            icon=":material/play_arrow:",
        )
        st.plotly_chart(
            charts.swimlane(events, step=step, origin_ns=origin, lanes=lanes),
            key="rp_swimlane",
            config={"displaylogo": False},
        )
        left, right = st.columns([2, 3])
        with left:
            st.markdown("#### Agents")
            edge = (current["peer"], current["agent"]) if current.get("peer") else None
            st.plotly_chart(
                charts.agent_graph(
                    edges,
                    agents=lanes,
                    highlight_agent=current["agent"],
                    highlight_edge=edge,
                    active={
                        e["agent"] for e in events[max(0, step - 300) : step + 1] if e["agent"]
                    },
                ),
                key="rp_graph",
                config={"displaylogo": False},
            )
        with right:
            st.markdown("#### Known at this moment")
            said = [
                e
                for e in events[: step + 1]
                if e["kind"] in ("log", "task_state", "message")
                or (e["kind"] == "span_end" and e["status"] == "ERROR")
            ]
            if not said:
                st.caption("Nothing said yet.")
            for e in said[-12:]:
                line = f"`{fmt_ms((e['time_ns'] - origin) / 1e6)}` " + _describe(e)
                if e["status"] in ("ERROR", "CRITICAL", "failed"):
                    st.error(line)
                else:
                    st.markdown(line)
            st.markdown(
                f"**Current span** `{current['name']}` in trace `{current['trace_id'][:12]}`"
            )
            with _data.connection() as con:
                detail = q.span_detail(con, current["trace_id"], current["span_id"])
            if detail:
                st.json(detail["span"]["attributes"], expanded=True)

    view()


main()
