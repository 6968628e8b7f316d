"""Replay: the event flow of a run (linked traces included), step by step or playing, as a
swimlane per agent and an agent graph, with what was known at that moment. The URL carries
the trace and the step, so a moment can be shared."""

from __future__ import annotations

from typing import Any

import streamlit as st

from semtrace.dashboard import _data, charts
from semtrace.dashboard import queries as q
from semtrace.dashboard._pick import NOT_FOUND, trace_from_url
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
    level = "" if e["status"] == "INFO" else f" ({str(e['status']).lower()})"
    return f"**{agent}** logs{level}: {e['text']}"


def _known(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What had been said up to a step, each thing once: sentences, messages and task
    states; a failed span only when no error sentence on that span already told it."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    told: set[str] = set()  # spans an error sentence was logged in
    for e in events:
        if e["kind"] == "log" and e["status"] in ("ERROR", "CRITICAL"):
            told.add(e["span_id"])
        if e["kind"] == "span_end":
            if e["status"] != "ERROR" or e["span_id"] in told:
                continue
        elif e["kind"] not in ("log", "task_state", "message"):
            continue
        key = f"{e['kind']}|{e['span_id']}|{e['text']}" if e["kind"] != "log" else e["text"]
        if key in seen:
            continue
        seen.add(key)
        out.append(e)
    return out


def main() -> None:
    with _data.connection() as con:
        trace_id = trace_from_url(con, page="screens/replay.py")
        if trace_id == NOT_FOUND:
            return
        st.title("Replay")
        if trace_id is None:
            empty_state(
                "Nothing to replay yet.", "Run an instrumented agent or `semtrace demo` first."
            )
            return
        recent = _data.recent_traces()
        ids = [r["trace_id"] for r in recent]
        if trace_id not in ids:
            ids.insert(0, trace_id)
        labels = {r["trace_id"]: f"{r['root_name']} · {r['trace_id'][:12]}" for r in recent}
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        choice = c1.selectbox(
            "Trace to replay",
            ids,
            index=ids.index(trace_id),
            format_func=lambda t: labels.get(t, t),
            key=f"rp_trace:{trace_id}",
        )
        if choice != trace_id:
            st.query_params.clear()
            st.query_params["trace"] = choice
            st.rerun()
        follow = c2.toggle(
            "Follow links",
            value=True,
            key="rp_follow",
            help="Also replay what caused this trace and what it caused, across message "
            "hops: only the spans on that causal path, not everything a batch touched.",
        )
        scope = (
            q.causal_scope(con, trace_id) if follow else q.CausalScope(trace_id, (trace_id,), {})
        )
        traces = [*scope.whole, *scope.partial]
        events = q.replay_events(con, scope, max_events=MAX_EVENTS).to_pylist()
        edges = q.agent_edges(con, trace_ids=traces).to_pylist()
    if not events:
        empty_state("This run has no events.", "")
        return
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

    b = st.columns([0.7, 0.7, 0.7, 0.7, 0.8, 2.4], vertical_alignment="bottom")
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
            st.markdown("#### Known at this moment (newest first)")
            said = _known(events[: step + 1])
            if not said:
                st.caption("Nothing said yet.")
            box = st.container(height=min(420, 38 * len(said) + 20), border=False)
            for e in reversed(said[-40:]):  # the newest first
                line = f"`{fmt_ms((e['time_ns'] - origin) / 1e6)}` " + _describe(e)
                if e["status"] in ("ERROR", "CRITICAL", "failed"):
                    box.error(line)
                else:
                    box.markdown(line)
            where = f"span `{current['span_name']}` of trace `{current['trace_id'][:12]}`"
            if current["kind"] == "log":
                st.markdown(
                    f"**This step is a log sentence** ({current['status']}), "
                    f"written inside {where}."
                )
            elif current["kind"] == "task_state":
                st.markdown(f"**This step is a task state change**, recorded on {where}.")
            elif current["kind"] == "message":
                st.markdown(f"**This step is a message** consumed by {where}.")
            else:
                st.markdown(f"**This step is in {where}.**")
            st.page_link(
                "screens/trace.py",
                label="Open it on the trace page",
                icon=":material/open_in_new:",
                query_params={"trace": current["trace_id"], "span": current["span_id"]},
            )
            with _data.connection() as con:
                detail = q.span_detail(con, current["trace_id"], current["span_id"])
            if detail:
                with st.expander("The span's attributes"):
                    st.json(detail["span"]["attributes"], expanded=True)

    view()


main()
