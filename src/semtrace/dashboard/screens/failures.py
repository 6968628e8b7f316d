"""Failures: fingerprints with counts, an example sentence, the diagnosis and its
remediations, and a button to diagnose now with the chosen provider."""

from __future__ import annotations

import json
import os
from typing import Any

import streamlit as st

from semtrace.dashboard import _data
from semtrace.dashboard import queries as q
from semtrace.dashboard._widgets import empty_state, refresh_every


def _remediations(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [r for r in value or [] if isinstance(r, dict)]


def _diagnose_now() -> None:
    c1, c2 = st.columns([1, 3])
    provider = c1.selectbox("Provider", ["rules", "openai", "anthropic"], key="fl_provider")
    if not c2.button("Diagnose now", icon=":material/medical_services:", key="fl_diagnose"):
        return
    try:
        from semtrace.diagnose import run
    except ImportError:
        st.warning("Diagnosis is not available in this semtrace build yet.")
        return
    if os.environ.get(_data.ENV_SERVER):
        st.warning("Run `semtrace diagnose` next to the collector to diagnose its database.")
        return
    with st.spinner(f"Diagnosing with {provider}…"):
        try:
            found = run(db=_data.describe_target(), provider=provider)
        except Exception as exc:  # shown, never a crash of the page
            st.error(f"Diagnosis failed: {exc}")
            return
    st.toast(f"{len(found)} diagnosis(es) written")
    st.rerun()


@st.fragment(run_every=refresh_every())
def main() -> None:
    st.title("Failures")
    _diagnose_now()
    with _data.connection() as con:
        groups = q.failure_groups(con).to_pylist()
    if not groups:
        empty_state(
            "No failures recorded.",
            "Error spans and ERROR sentences show up here, grouped by fingerprint.",
        )
        return
    m = st.columns(3)
    m[0].metric("Distinct failures", len(groups))
    m[1].metric("Occurrences", sum(g["occurrences"] for g in groups))
    m[2].metric("Diagnosed", sum(1 for g in groups if g["diagnosis"]))
    for g in groups:
        title = f"{g['agent_name'] or '-'} · {g['step']} · {g['error_type'] or 'error'} - x{g['occurrences']} in {g['traces']} trace(s)"
        with st.expander(title, expanded=True):
            st.error(g["example_sentence"] or "(no sentence)", icon=":material/error:")
            if g["diagnosis"]:
                st.success(
                    f"**Diagnosis** ({g['category'] or 'uncategorised'}): {g['diagnosis']}",
                    icon=":material/medical_services:",
                )
                if g["root_cause"]:
                    st.markdown(f"**Root cause:** {g['root_cause']}")
                rem = _remediations(g["remediations"])
                if rem:
                    st.dataframe(
                        [
                            {
                                "action": r.get("action"),
                                "confidence": r.get("confidence"),
                                "rationale": r.get("rationale"),
                                "parameters": json.dumps(r.get("parameters") or {}),
                            }
                            for r in rem
                        ],
                        hide_index=True,
                        column_config={
                            "confidence": st.column_config.ProgressColumn(
                                "confidence", min_value=0.0, max_value=1.0, format="%.2f"
                            )
                        },
                    )
            else:
                st.caption("Not diagnosed yet: press **Diagnose now**.")
            c = st.columns(3)
            c[0].caption(f"last seen {g['last_seen']}")
            c[1].caption(f"fingerprint `{g['fingerprint'] or '-'}`")
            c[2].page_link(
                "screens/trace.py",
                label="Open example trace",
                icon=":material/open_in_new:",
                query_params={
                    k: v
                    for k, v in (("trace", g["example_trace"]), ("span", g["example_span"]))
                    if v
                },
            )


main()
