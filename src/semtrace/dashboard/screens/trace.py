"""Trace: built for debugging one run. The waterfall comes first (the span tree beside a
timeline: durations on the bars, sentences and events as markers, gaps named, the critical
path outlined), the failures and their diagnosis in a compact panel beside it, then the
selected span: input and output, a readable stack trace, sentences, events, attributes."""

from __future__ import annotations

from typing import Any

import streamlit as st

from semtrace.dashboard import _data, charts, gaps
from semtrace.dashboard import queries as q
from semtrace.dashboard._failure_panel import show_failures
from semtrace.dashboard._pick import NOT_FOUND, trace_from_url
from semtrace.dashboard._span_panel import show_span
from semtrace.dashboard._widgets import (
    empty_state,
    fmt_cost,
    fmt_ms,
    fmt_tokens,
    plural,
    refresh_every,
    status_badge,
)

MAX_ROWS = 300


def _failures(overview: dict[str, Any]) -> str:
    """``1 failure``, as the failures view counts them (where they started, log sentences
    included), with the ERROR spans when they are not one per failure (a failure's impact
    errors too; a log sentence's failure has none)."""
    failures, errors = int(overview["failure_count"] or 0), int(overview["error_count"] or 0)
    said = plural(failures, "failure")
    return said if errors == failures else f"{said} ({plural(errors, 'ERROR span')})"


def _header(con: Any, overview: dict[str, Any], running: bool) -> None:
    trace_id = overview["trace_id"]
    left, right = st.columns([4, 1.4], vertical_alignment="bottom")
    with left:
        # A running trace's root has not ended (spans are stored when they end): name it by
        # its agent rather than by the first span that did end.
        title = overview["root_name"]
        if running and overview.get("root_agent"):
            title = f"{overview['root_agent']} (its root span is still open)"
        st.markdown(f"### {title} {status_badge(overview['status'], running=running)}")
        tokens = int(overview["input_tokens"] or 0) + int(overview["output_tokens"] or 0)
        agents = overview["agents"] or []
        facts = [
            fmt_ms(overview["duration_ms"]),
            f"{overview['span_count']:,} spans",
            _failures(overview),
            f"{len(agents)} agent{'s' if len(agents) != 1 else ''}",
            f"{fmt_tokens(tokens)} tokens",
            fmt_cost(overview["cost_usd"]),
            f"`{trace_id}`",
        ]
        if overview.get("session_id"):
            facts.append(f"session `{overview['session_id']}`")
        st.caption(" · ".join(facts))
    with right:
        recent = _data.recent_traces()
        ids = [r["trace_id"] for r in recent]
        if trace_id not in ids:
            ids.insert(0, trace_id)
        labels = {r["trace_id"]: f"{r['root_name']} · {r['trace_id'][:8]}" for r in recent}
        labels[trace_id] = f"{overview['root_name']} · {trace_id[:8]}"
        choice = st.selectbox(
            "Trace",
            ids,
            index=ids.index(trace_id),
            format_func=lambda t: labels.get(t, t),
            key=f"trace_pick:{trace_id}",
            label_visibility="collapsed",
        )
        if choice != trace_id:
            st.query_params.clear()
            st.query_params["trace"] = choice
            st.rerun()
        links = st.columns(2)
        links[0].page_link(
            "screens/replay.py",
            label="Replay",
            icon=":material/play_circle:",
            query_params={"trace": trace_id},
        )
        links[1].page_link(
            "screens/compare.py",
            label="Compare",
            icon=":material/compare_arrows:",
            query_params={"a": trace_id},
        )


def _selected(tree: q.TraceTree, failures: list[dict[str, Any]]) -> str:
    """The span the URL names, else the first failure's span, else the root."""
    wanted = st.query_params.get("span")
    if wanted and wanted in tree.ids:
        return str(wanted)
    for f in failures:
        if f.get("span_id") in tree.ids:
            return str(f["span_id"])
    return tree.ids[tree.roots[0]] if tree.roots else tree.ids[0]


def _waterfall(
    con: Any, trace_id: str, tree: q.TraceTree, critical: frozenset[str], selected: str
) -> None:
    key = f"expanded:{trace_id}"
    if key not in st.session_state:
        st.session_state[key] = tree.default_expanded()
    expanded: set[str] = st.session_state[key]
    first, last = tree.bounds
    total_ms = max((last - first) / 1e6, 0.001)
    focus_ms = st.session_state.get(f"focus:{trace_id}", (0.0, round(total_ms, 3)))
    whole = focus_ms[0] <= 0 and focus_ms[1] >= round(total_ms, 3)
    focus = (first + int(focus_ms[0] * 1e6), first + int(focus_ms[1] * 1e6))
    if not expanded.issuperset(path := tree.path_to(selected)):
        expanded.update(path)  # the selected span is always in view
    visible = tree.visible(expanded, focus=None if whole else focus, max_rows=MAX_ROWS)
    rows = tree.rows(visible, expanded)
    if not rows:
        empty_state("No span in this range.", "Widen the focus range.")
        return
    ids = [r["span_id"] for r in rows]
    markers = q.trace_markers(con, trace_id, ids)
    found = tree.gaps(visible, min_ms=gaps.min_gap_ms(total_ms))
    consumers = [r["span_id"] for r in rows if r.get("kind") == "CONSUMER"]
    hints = q.span_hints(con, trace_id, [g.before for g in found if g.before] + consumers)
    human = gaps.human_waits(markers)
    labelled = gaps.explain_gaps(found, hints, human) + human + gaps.queue_waits(rows, hints)
    fig = charts.waterfall(
        rows,
        origin_ns=first,
        critical=critical,
        selected=selected,
        markers=markers,
        gaps=labelled,
    )
    event = st.plotly_chart(
        fig,
        key=f"waterfall:{trace_id}",
        config={"displaylogo": False, "displayModeBar": False},
        on_select="rerun",
        selection_mode="points",
    )
    clicked = _clicked_span(event, rows)
    if clicked and clicked != st.session_state.get(f"clicked:{trace_id}"):
        # A click selects its span once; the picker below takes it on the rerun.
        st.session_state[f"clicked:{trace_id}"] = clicked
        _select(trace_id, clicked)
        st.rerun()
    st.caption(
        f"{len(rows)} of {len(tree):,} spans shown · critical path ({len(critical)} spans) "
        "outlined in black · ● sentence ▲ warning ✕ exception ◆ task state · hatched: "
        "waiting, backoff, queue or human wait · click a bar to select its span"
    )
    _controls(trace_id, tree, rows, expanded, critical, total_ms, selected)


def _select(trace_id: str, span_id: str) -> None:
    st.query_params["span"] = span_id


def _controls(
    trace_id: str,
    tree: q.TraceTree,
    rows: list[dict[str, Any]],
    expanded: set[str],
    critical: frozenset[str],
    total_ms: float,
    selected: str,
) -> None:
    by_id = {r["span_id"]: r for r in rows}
    ids = [r["span_id"] for r in rows]
    if selected not in by_id:
        ids.insert(0, selected)
    c = st.columns([4, 0.5, 0.5, 0.5, 0.5, 1.6], vertical_alignment="bottom")
    # The picker is keyed by the selection: a new selection (a click, a link) shows afresh.
    picked = c[0].selectbox(
        "Span",
        ids,
        index=ids.index(selected),
        format_func=lambda s: (
            f"{'  ' * by_id[s]['depth']}{by_id[s]['name']} · {by_id[s]['agent'] or '-'} · "
            f"{fmt_ms(by_id[s]['duration_ms'])}" + (" ▸" if by_id[s]["collapsed"] else "")
            if s in by_id
            else s
        ),
        key=f"span_pick:{trace_id}:{selected}",
    )
    if picked != selected:
        _select(trace_id, str(picked))
        st.rerun()
    row = by_id.get(selected)
    if c[1].button(
        "",
        icon=":material/unfold_more:",
        help="Expand the selected span: show its children",
        key="tr_expand",
        disabled=not (row and row["collapsed"]),
    ):
        expanded.add(selected)
        st.rerun()
    if c[2].button(
        "",
        icon=":material/unfold_less:",
        help="Collapse the selected span: hide its children",
        key="tr_collapse",
        disabled=selected not in expanded,
    ):
        expanded.discard(selected)
        st.rerun()
    if c[3].button(
        "", icon=":material/route:", help="Open every span on the critical path", key="tr_path"
    ):
        expanded.update(critical)
        st.rerun()
    if c[4].button("", icon=":material/restart_alt:", help="Reset the view", key="tr_reset"):
        st.session_state[f"expanded:{trace_id}"] = tree.default_expanded()
        st.session_state.pop(f"focus:{trace_id}", None)
        st.rerun()
    with c[5].popover("Focus range", icon=":material/timeline:"):
        st.slider(
            "ms since the trace started",
            0.0,
            float(round(total_ms, 3)),
            (0.0, float(round(total_ms, 3))),
            key=f"focus:{trace_id}",
        )


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
    with _data.connection() as con:
        trace_id = trace_from_url(con)
        if trace_id is None:
            st.title("Trace")
            empty_state("No traces yet.", "Run an instrumented agent or `semtrace demo` first.")
            return
        if trace_id == NOT_FOUND:
            return

    @st.fragment(run_every=refresh_every())
    def body() -> None:
        with _data.connection() as con:
            overview = q.trace_overview(con, trace_id)
            if overview is None:
                empty_state("Trace not found.", f"No spans with trace id {trace_id}.")
                return
            tree = _data.trace_tree(trace_id, overview["span_count"])
            _header(con, overview, _data.is_running(tree))
            failures = q.trace_failures(con, trace_id)
            selected = _selected(tree, failures)
            critical = _data.critical_path(trace_id, overview["span_count"])
            if failures:
                left, right = st.columns([3.3, 1], gap="medium")
                with right:
                    show_failures(failures, tree, trace_id)
            else:
                left = st.container()
            with left:
                _waterfall(con, trace_id, tree, critical, selected)
            detail = q.span_detail(con, trace_id, selected)
        if detail is not None:
            st.divider()
            row = tree.rows([tree.position[selected]], [])[0]
            show_span(detail, agent=row["agent"], inherited=bool(row["agent_inherited"]))

    body()


main()
