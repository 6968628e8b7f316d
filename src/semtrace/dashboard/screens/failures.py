"""Failures: what failed, grouped by fingerprint, each with its sentence and diagnosis; slow
steps (and loops, stuck tasks) as findings of their own kind. "Diagnose now" diagnoses what
the page shows (the chosen time range) and the page updates."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from semtrace.dashboard import _data
from semtrace.dashboard import queries as q
from semtrace.dashboard._failure_panel import actions
from semtrace.dashboard._widgets import empty_state, fmt_ms, refresh_every

RANGES = {
    "All time": None,
    "Last hour": timedelta(hours=1),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
}


def _diagnose_now(since: datetime | None, provider: str) -> None:
    """Diagnose the failures and findings of the page's time range; the page then reruns
    and shows the diagnoses (the outcome stays on screen after the rerun)."""
    if os.environ.get(_data.ENV_SERVER):
        st.session_state["fl_outcome"] = (
            "warning",
            "This dashboard reads a collector by URL: run `semtrace diagnose --db FILE` "
            "where the database is.",
        )
        return
    from semtrace.diagnose import run

    with st.spinner(f"Diagnosing with {provider}…"):
        try:
            found = run(db=_data.describe_target(), since=since, provider=provider)
        except Exception as exc:  # shown, never a crash of the page
            st.session_state["fl_outcome"] = ("error", f"Diagnosis failed: {exc}")
            return
    if not getattr(found, "stored", True):
        reason = getattr(found, "not_stored_reason", None) or "the database is not writable"
        st.session_state["fl_outcome"] = ("warning", f"Diagnosed, but not stored: {reason}")
        return
    st.session_state["fl_outcome"] = (
        "success",
        f"Diagnosed {len(found)} kind{'s' if len(found) != 1 else ''} of failure or finding "
        "shown on this page.",
    )


def _group(g: dict[str, Any]) -> None:
    with st.container(border=True):
        head, where = st.columns([4, 1.3])
        head.markdown(
            f":red[:material/error: **{g['agent_name'] or 'unknown agent'}** · {g['step']}]"
            f" · {str(g['error_type'] or 'error').rsplit('.', 1)[-1]}"
        )
        where.caption(
            f"{g['occurrences']}x in {g['traces']} trace{'s' if g['traces'] != 1 else ''} · "
            f"last {g['last_seen']:%Y-%m-%d %H:%M:%S}"
        )
        st.markdown(g["example_sentence"] or "(no sentence)")
        if g["impact_count"]:
            st.caption(
                f"Took down {g['impact_count']} more span{'s' if g['impact_count'] != 1 else ''}"
                f", up to `{g['ended_in']}`."
            )
        _diagnosis(g)
        c = st.columns([3, 1.3])
        c[0].caption(f"fingerprint `{g['fingerprint'] or '-'}`")
        c[1].page_link(
            "screens/trace.py",
            label="Open the latest trace",
            icon=":material/open_in_new:",
            query_params={
                k: v for k, v in (("trace", g["example_trace"]), ("span", g["example_span"])) if v
            },
        )


def _diagnosis(item: dict[str, Any]) -> None:
    if not item.get("diagnosis"):
        st.caption("Not diagnosed yet: press **Diagnose now**.")
        return
    text = f"**Diagnosis** ({item['category'] or 'uncategorised'}): {item['diagnosis']}"
    if item.get("root_cause"):
        text += f"\n\n**Root cause:** {item['root_cause']}"
    todo = actions(item.get("remediations"))
    if todo:
        text += "\n\n**What to do:** " + ", ".join(todo)
    st.success(text, icon=":material/medical_services:")


def _finding(f: dict[str, Any]) -> None:
    with st.container(border=True):
        kind = q.FINDING_KINDS.get(f["kind"], f["kind"])
        st.markdown(
            f":orange-badge[{kind}] **{f['agent_name'] or 'unknown agent'}** · "
            f"{f['name'] or 'a step'} · {fmt_ms(f['duration_ms'])}"
        )
        _diagnosis(f)
        st.page_link(
            "screens/trace.py",
            label="Open the trace",
            icon=":material/open_in_new:",
            query_params={k: v for k, v in (("trace", f["trace_id"]), ("span", f["span_id"])) if v},
        )


def main() -> None:
    st.title("Failures")
    c = st.columns([1.2, 1, 1.2, 3], vertical_alignment="bottom")
    window = c[0].selectbox("Time range", list(RANGES), key="fl_range")
    provider = c[1].selectbox("Provider", ["rules", "openai", "anthropic"], key="fl_provider")
    span = RANGES[window]
    since = datetime.now(UTC) - span if span else None
    if c[2].button("Diagnose now", icon=":material/medical_services:", key="fl_diagnose"):
        _diagnose_now(since, provider)
    outcome = st.session_state.pop("fl_outcome", None)
    if outcome:
        kind, text = outcome
        getattr(st, kind)(text)

    @st.fragment(run_every=refresh_every())
    def body() -> None:
        with _data.connection() as con:
            groups = q.failure_groups(con, since=since)
            found = q.findings(con, since=since)
        failures = sum(g["occurrences"] for g in groups)
        diagnosed = sum(g["diagnosed"] for g in groups)
        st.caption(
            f"**{failures} failure{'s' if failures != 1 else ''}** of {len(groups)} "
            f"kind{'s' if len(groups) != 1 else ''}, {diagnosed} diagnosed · "
            f"**{len(found)} finding{'s' if len(found) != 1 else ''}** (slow steps, loops, "
            "stuck tasks) · a failure is counted where it started; the steps it took down "
            "are its impact"
        )
        tabs = st.tabs(
            [
                f"Failures ({failures}, {len(groups)} kinds)",
                f"Slow steps and other findings ({len(found)})",
            ]
        )
        with tabs[0]:
            if not groups:
                empty_state(
                    "No failures recorded.",
                    "Error spans and ERROR sentences show up here, grouped by fingerprint.",
                )
            for g in groups:
                _group(g)
        with tabs[1]:
            if not found:
                empty_state(
                    "No slow steps or other findings.",
                    "Diagnose finds a step that held up its whole trace, a loop, a task "
                    "stuck waiting: press **Diagnose now**.",
                )
            for f in found:
                _finding(f)

    body()


main()
