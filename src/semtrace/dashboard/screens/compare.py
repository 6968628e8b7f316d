"""Compare: two runs aligned step by step. Steps one run had and the other did not, the
duration of each step in both, and where outcomes, inputs or model outputs differ; pick a
step to see both sides. Traces compare as they are, or as whole runs across message hops."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from semtrace.dashboard import _data, align
from semtrace.dashboard import queries as q
from semtrace.dashboard._pick import NOT_FOUND, trace_from_url
from semtrace.dashboard._widgets import empty_state, fmt_ms
from semtrace.dashboard.charts._base import ERROR, layout

_COLOURS = {"A": "#4C78A8", "B": "#F58518"}


def _label(t: dict[str, Any]) -> str:
    status = "failed" if t["status"] == "ERROR" else "ok"
    return f"{t['root_name']} · {t['trace_id'][:8]} · {status} · {t['start_time']:%H:%M:%S}"


def _pick_b(con: Any, a: str) -> tuple[str | None, list[dict[str, Any]]]:
    """Run B from the URL, else a run of the same workflow (one that ended the other way
    when there is one: a failing run is best compared with a good one)."""
    similar = q.similar_traces(con, a)
    if st.query_params.get("b"):
        b = trace_from_url(con, "b", page="screens/compare.py")
        return b, similar
    if not similar:
        return None, similar
    mine = q.trace_summaries(con, [a])
    status = mine[0]["status"] if mine else None
    other = next((t for t in similar if t["status"] != status), similar[0])
    st.query_params["b"] = other["trace_id"]
    return str(other["trace_id"]), similar


def _chooser(con: Any, side: str, current: str, options: list[dict[str, Any]], column: Any) -> None:
    known = {t["trace_id"]: t for t in options}
    if current not in known:
        for t in q.trace_summaries(con, [current]):
            known[current] = t
    ids = list(known)
    choice = column.selectbox(
        f"Run {side}",
        ids,
        index=ids.index(current) if current in ids else 0,
        format_func=lambda t: _label(known[t]) if t in known else t,
        key=f"cmp_{side}:{current}",
    )
    if choice != current:
        st.query_params[side.lower()] = choice
        st.rerun()


def _steps(con: Any, trace_id: str, whole_run: bool) -> list[align.Step]:
    traces = [trace_id]
    if whole_run:
        runs = q.runs_of(con, [trace_id])
        if runs:
            run = runs[0]
            traces = list(run.traces[1:] if run.shared else run.traces)
    return align.steps_of(q.run_spans(con, traces))


def _table(pairs: list[align.Pair]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "step": "\u00a0\u00a0" * min(p.step.depth, 10) + p.step.name,
                "A": fmt_ms(p.a.duration_ms) if p.a else "—",
                "B": fmt_ms(p.b.duration_ms) if p.b else "—",
                "change": "" if p.delta_ms is None else _delta(p),
                "outcome": _outcome(p),
                "differences": ", ".join(p.differences),
                "agent": p.step.agent or "",
            }
            for p in pairs
        ]
    )


def _delta(p: align.Pair) -> str:
    assert p.a is not None and p.b is not None
    d = p.b.duration_ms - p.a.duration_ms
    pct = f" ({d / p.a.duration_ms:+.0%})" if p.a.duration_ms > 0 else ""
    return f"{'+' if d >= 0 else '-'}{fmt_ms(abs(d))}{pct}"


def _outcome(p: align.Pair) -> str:
    a, b = _status(p.a), _status(p.b)
    return a if a == b else f"{a} → {b}"


def _status(step: align.Step | None) -> str:
    if step is None:
        return "—"
    return "failed" if step.status == "ERROR" else "ok"


def _style(df: pd.DataFrame) -> Any:
    def colour(row: pd.Series) -> list[str]:
        diff = row["differences"]
        if "failed" in diff:
            tint = "background-color: #fdecea"
        elif "added in B" in diff:
            tint = "background-color: #e8f5e9"
        elif "missing in B" in diff:
            tint = "background-color: #eeeeee; color: #777"
        elif diff:
            tint = "background-color: #fff4e0"
        else:
            tint = ""
        return [tint] * len(row)

    return df.style.apply(colour, axis=1)


def _chart(pairs: list[align.Pair]) -> go.Figure:
    labels = [
        f"{'  ' * min(p.step.depth, 10)}{p.step.name}"[:40].ljust(40).replace(" ", "\u00a0")
        + f"\u2009#{i}"
        for i, p in enumerate(pairs)
    ]
    fig = go.Figure()
    for side in ("A", "B"):
        steps = [p.a if side == "A" else p.b for p in pairs]
        fig.add_trace(
            go.Bar(
                orientation="h",
                name=f"run {side}",
                y=labels,
                x=[s.duration_ms if s else None for s in steps],
                marker={
                    "color": [
                        ERROR if s and s.status == "ERROR" else _COLOURS[side] for s in steps
                    ],
                    "opacity": 0.9 if side == "A" else 0.75,
                },
                hovertemplate="%{x:.1f} ms<extra>run " + side + "</extra>",
            )
        )
    ordered = list(reversed(labels))
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=ordered,
        tickvals=ordered,
        ticktext=[lbl.rsplit("\u2009#", 1)[0] for lbl in ordered],
        tickfont={"family": "monospace", "size": 11},
        automargin=True,
    )
    fig.update_xaxes(title="duration of the step (ms)", side="top")
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
    fig = layout(fig, max(200, 30 * len(pairs) + 110))
    # The legend below the bars: above them it would cover the top axis's first ticks.
    fig.update_layout(
        legend={"orientation": "h", "y": 0, "yanchor": "top", "x": 0, "yref": "container"},
        margin={"b": 40},
    )
    return fig


def _detail(pairs: list[align.Pair]) -> None:
    changed = [i for i, p in enumerate(pairs) if p.differences]
    if not changed:
        return
    st.markdown("#### A step, both sides")
    i = st.selectbox(
        "Step",
        changed,
        format_func=lambda i: f"{pairs[i].step.name} · {', '.join(pairs[i].differences)}",
        key="cmp_step",
    )
    sides = st.columns(2)
    for column, side, step in ((sides[0], "A", pairs[i].a), (sides[1], "B", pairs[i].b)):
        with column:
            st.markdown(f"**Run {side}**")
            if step is None:
                st.caption(f"Run {side} had no such step.")
                continue
            st.caption(f"{step.agent or 'no agent'} · {fmt_ms(step.duration_ms)} · {_status(step)}")
            if step.message:
                st.error(step.message)
            for title, value in (("Input", step.input), ("Output", step.output)):
                if value is not None:
                    st.markdown(f"*{title}*")
                    text = value if isinstance(value, str) else json.dumps(value, indent=2)
                    st.code(text, language=None, wrap_lines=True)
            st.page_link(
                "screens/trace.py",
                label="Open on the trace page",
                query_params={"trace": step.trace_id, "span": step.span_id},
                icon=":material/open_in_new:",
            )


def main() -> None:
    with _data.connection() as con:
        if not st.query_params.get("a"):
            failing = q.trace_list(con, status="ERROR", limit=1).to_pylist()
            if failing:
                st.query_params["a"] = failing[0]["trace_id"]
        a = trace_from_url(con, "a", page="screens/compare.py")
        if a == NOT_FOUND:
            return
        st.title("Compare two runs")
        if a is None:
            empty_state("Nothing to compare yet.", "Two traces are needed: run an agent twice.")
            return
        b, similar = _pick_b(con, a)
        if b == NOT_FOUND:
            return
        recent = _data.recent_traces()
        c = st.columns([2, 2, 1], vertical_alignment="bottom")
        _chooser(con, "A", a, recent, c[0])
        if b is None:
            empty_state(
                "No other run of this workflow.",
                "Pick run B by hand (any trace), or add `&b=TRACE_ID` to the URL.",
            )
            _chooser(con, "B", recent[0]["trace_id"], recent, c[1])
            return
        _chooser(con, "B", b, similar + recent, c[1])
        whole = c[2].toggle(
            "Whole runs",
            key="cmp_whole",
            help="Compare the runs these traces belong to: every trace their messages caused.",
        )
        pairs = align.align(_steps(con, a, whole), _steps(con, b, whole))
    if not pairs:
        empty_state("These runs have no spans.", "")
        return
    n = align.summary(pairs)
    total_a = align.run_ms([p.a for p in pairs if p.a])
    total_b = align.run_ms([p.b for p in pairs if p.b])
    st.markdown(
        f"Run B took **{fmt_ms(total_b)}** against **{fmt_ms(total_a)}** for run A · "
        f"{n['steps']} steps: **{n['added']} added**, **{n['missing']} missing**, "
        f"**{n['outcome']} with another outcome**, {n['input']} with another input, "
        f"{n['output']} with another output, {n['slower']} slower, {n['faster']} faster"
    )
    left, right = st.columns([1, 1.2], gap="medium")
    with left:
        st.plotly_chart(_chart(pairs), key="cmp_chart", config={"displaylogo": False})
    with right:
        df = _table(pairs)
        st.dataframe(
            _style(df),
            hide_index=True,
            height=min(36 + 35 * len(df), 640),
            column_config={
                "step": st.column_config.TextColumn("step", width="medium"),
                "differences": st.column_config.TextColumn("what differs", width="medium"),
            },
        )
    _detail(pairs)


main()
