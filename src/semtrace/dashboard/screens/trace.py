"""Trace: waterfall with the critical path, a collapsible span tree, one span's details
loaded on demand, sentences interleaved, failures with their diagnosis."""

from __future__ import annotations

from typing import Any

import streamlit as st

from semtrace.dashboard import _data, charts
from semtrace.dashboard import queries as q
from semtrace.dashboard._widgets import empty_state, fmt_cost, fmt_ms

MAX_ROWS = 300


def _pick_trace(con: Any) -> str | None:
    wanted = st.query_params.get("trace", "")
    recent = q.trace_list(con, limit=50).to_pylist()
    ids = [r["trace_id"] for r in recent]
    resolved = q.resolve_trace(con, wanted) if wanted else None
    if resolved and resolved not in ids:
        ids.insert(0, resolved)
    if not ids:
        return None
    labels = {
        r["trace_id"]: f"{r['trace_id'][:12]} · {r['root_name']} · {r['status']}" for r in recent
    }
    choice = st.selectbox(
        "Trace",
        ids,
        index=ids.index(resolved) if resolved in ids else 0,
        format_func=lambda t: labels.get(t, t),
        key="trace_pick",
    )
    if choice != wanted:
        st.query_params["trace"] = choice
    return str(choice)


def _failures(con: Any, trace_id: str) -> None:
    failures = q.trace_failures(con, trace_id).to_pylist()
    _show_failures(failures[:3])
    if len(failures) > 3:
        with st.expander(f"{len(failures) - 3} more failures in this trace"):
            _show_failures(failures[3:50])


def _show_failures(failures: list[dict[str, Any]]) -> None:
    for f in failures:
        st.error(
            f"**{f['agent_name'] or 'unknown agent'}** · {f['name']}\n\n{f['message']}",
            icon=":material/error:",
        )
        if f["diagnosis"]:
            st.success(
                f"**Diagnosis** ({f['category'] or 'uncategorised'}): {f['diagnosis']}"
                + (f"\n\nRoot cause: {f['root_cause']}" if f["root_cause"] else ""),
                icon=":material/medical_services:",
            )


def _span_panel(con: Any, trace_id: str, span_id: str) -> None:
    detail = q.span_detail(con, trace_id, span_id)
    if detail is None:
        st.caption("Select a span to see its attributes.")
        return
    span = detail["span"]
    st.markdown(f"#### {span['name']}")
    st.caption(
        f"span `{span_id}` · agent **{span['agent_name'] or '-'}** · {fmt_ms(span['duration_ms'])}"
        f" · {span['status_code']}"
    )
    if span["status_message"]:
        st.error(span["status_message"])
    tabs = st.tabs(
        [
            "Attributes",
            f"Sentences ({len(detail['logs'])})",
            f"Events ({len(detail['events'])})",
            f"Links ({len(detail['links'])})",
            "Resource",
        ]
    )
    with tabs[0]:
        st.json(span["attributes"], expanded=True)
    with tabs[1]:
        for log in detail["logs"]:
            st.markdown(f"`{log['severity']}` {log['message']}")
    with tabs[2]:
        for e in detail["events"]:
            st.markdown(
                f"**{e['name']}** {e['exception_type'] or ''} {e['exception_message'] or ''}"
            )
            if e["exception_stacktrace"]:
                st.code(e["exception_stacktrace"], language="text")
            elif e["attributes"]:
                st.json(e["attributes"], expanded=False)
    with tabs[3]:
        for link in detail["links"]:
            st.page_link(
                "screens/trace.py",
                label=f"linked trace {link['linked_trace_id'][:12]} span {link['linked_span_id']}",
                query_params={"trace": link["linked_trace_id"]},
            )
    with tabs[4]:
        st.json(span["resource"], expanded=False)


def _clicked_span(event: Any, rows: list[dict[str, Any]]) -> str | None:
    """The span of the waterfall bar the user clicked, if any (bars are the first trace)."""
    points = getattr(getattr(event, "selection", None), "points", None) or []
    for point in points:
        if point.get("curve_number") == 0 and point.get("point_index") is not None:
            index = int(point["point_index"])
            if 0 <= index < len(rows):
                return str(rows[index]["span_id"])
    return None


def main() -> None:
    st.title("Trace")
    with _data.connection() as con:
        trace_id = _pick_trace(con)
        if trace_id is None:
            empty_state("No traces yet.", "Run an instrumented agent or `semtrace demo` first.")
            return
        overview = q.trace_overview(con, trace_id)
        if overview is None:
            empty_state("Trace not found.", f"No spans with trace id {trace_id}.")
            return
        st.subheader(overview["root_name"])
        m = st.columns(6)
        m[0].metric("Duration", fmt_ms(overview["duration_ms"]))
        m[1].metric("Spans", f"{overview['span_count']:,}")
        m[2].metric("Errors", overview["error_count"])
        m[3].metric("Agents", len(overview["agents"] or []))
        m[4].metric(
            "Tokens",
            f"{int(overview['input_tokens'] or 0) + int(overview['output_tokens'] or 0):,}",
        )
        m[5].metric("Cost", fmt_cost(overview["cost_usd"]))
        agents = overview["agents"] or []
        more = f" and {len(agents) - 12} more" if len(agents) > 12 else ""
        st.caption(f"Agents: {', '.join(agents[:12])}{more} · trace `{trace_id}`")
        st.page_link(
            "screens/replay.py",
            label="Replay this run",
            icon=":material/play_circle:",
            query_params={"trace": trace_id},
        )
        _failures(con, trace_id)

        tree = _data.trace_tree(trace_id, overview["span_count"])
        critical = _data.critical_path(trace_id, overview["span_count"])
        key = f"expanded:{trace_id}"
        if key not in st.session_state:
            st.session_state[key] = tree.default_expanded()
        expanded: set[str] = st.session_state[key]
        first, last = tree.bounds
        total_ms = max((last - first) / 1e6, 0.001)

        c1, c2 = st.columns([3, 2])
        focus_ms = c1.slider(
            "Focus range (ms since start)",
            0.0,
            float(round(total_ms, 3)),
            (0.0, float(round(total_ms, 3))),
            key=f"focus:{trace_id}",
        )
        focus = (first + int(focus_ms[0] * 1e6), first + int(focus_ms[1] * 1e6))
        whole = focus_ms[0] <= 0 and focus_ms[1] >= round(total_ms, 3)
        visible = tree.visible(expanded, focus=None if whole else focus, max_rows=MAX_ROWS)
        rows = tree.rows(visible, expanded)
        if not rows:
            empty_state("No span in this range.", "Widen the focus range.")
            return
        by_id = {r["span_id"]: r for r in rows}
        wanted = st.query_params.get("span")
        ids = [r["span_id"] for r in rows]
        if wanted and wanted not in by_id and wanted in tree.ids:
            expanded.update(tree.path_to(wanted))
            st.rerun()
        selected = c2.selectbox(
            "Span",
            ids,
            index=ids.index(wanted) if wanted in by_id else 0,
            format_func=lambda s: (
                f"{'  ' * by_id[s]['depth']}{by_id[s]['name']} · {by_id[s]['agent_name'] or '-'} · {fmt_ms(by_id[s]['duration_ms'])}"
                + (" ▸" if by_id[s]["collapsed"] else "")
            ),
            key=f"span_pick:{trace_id}",
        )
        b = st.columns(5)
        if b[0].button(
            "Expand span", icon=":material/unfold_more:", disabled=not by_id[selected]["collapsed"]
        ):
            expanded.add(selected)
            st.rerun()
        if b[1].button(
            "Collapse span", icon=":material/unfold_less:", disabled=selected not in expanded
        ):
            expanded.discard(selected)
            st.rerun()
        if b[2].button("Open critical path", icon=":material/route:"):
            expanded.update(critical)
            st.rerun()
        if b[3].button("Reset view", icon=":material/restart_alt:"):
            st.session_state[key] = tree.default_expanded()
            st.rerun()
        b[4].caption(
            f"{len(rows)} of {len(tree):,} spans shown · critical path: {len(critical)} spans"
        )
        if selected != wanted:
            st.query_params["span"] = selected

        fig = charts.waterfall(rows, origin_ns=first, critical=critical, selected=selected)
        event = st.plotly_chart(
            fig,
            key=f"waterfall:{trace_id}",
            config={"displaylogo": False},
            on_select="rerun",
            selection_mode="points",
        )
        clicked = _clicked_span(event, rows)
        if clicked and clicked != st.session_state.get(f"clicked:{trace_id}"):
            # Clicking a bar selects its span (once per click): the picker above takes it
            # from the URL on the rerun.
            st.session_state[f"clicked:{trace_id}"] = clicked
            st.query_params["span"] = clicked
            st.session_state.pop(f"span_pick:{trace_id}", None)
            st.rerun()

        left, right = st.columns([3, 2])
        with right:
            _span_panel(con, trace_id, selected)
        with left:
            st.markdown("#### Timeline")
            logs = q.trace_log_window(con, trace_id, start_ns=focus[0], end_ns=focus[1]).to_pylist()
            names = {r["span_id"]: r["name"] for r in rows}
            timeline = [
                {
                    "ms": round((r["start_time_ns"] - first) / 1e6, 2),
                    "what": "▶ " + r["name"],
                    "agent": r["agent_name"],
                    "text": f"{fmt_ms(r['duration_ms'])} · {r['status_code'].lower()}",
                }
                for r in rows
            ] + [
                {
                    "ms": round((g["time_ns"] - first) / 1e6, 2),
                    "what": f"✎ {g['severity']}",
                    "agent": g["agent_name"],
                    "text": g["message"]
                    + (f"  [{names[g['span_id']]}]" if g["span_id"] in names else ""),
                }
                for g in logs
            ]
            timeline.sort(key=lambda r: r["ms"])
            st.dataframe(
                timeline,
                hide_index=True,
                height=min(400, 35 * len(timeline) + 40),
                column_config={"text": st.column_config.TextColumn(width="large")},
            )


main()
