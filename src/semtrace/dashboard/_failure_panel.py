"""The trace page's failure panel: one compact entry per failure with its sentence, the
spans it took down, and its diagnosis, beside the waterfall."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from semtrace.dashboard.tree import TraceTree

__all__ = ["actions", "impact_chain", "show_failures"]


def actions(remediations: Any) -> list[str]:
    """The remediation actions of a diagnosis, most confident first, as short labels."""
    if isinstance(remediations, str):
        try:
            remediations = json.loads(remediations)
        except ValueError:
            return []
    items = [r for r in remediations or [] if isinstance(r, dict) and r.get("action")]
    items.sort(key=lambda r: -float(r.get("confidence") or 0))
    return [
        str(r["action"]).replace("_", " ")
        + (f" ({float(r['confidence']):.0%})" if r.get("confidence") is not None else "")
        for r in items
    ]


def impact_chain(tree: TraceTree, failure: dict[str, Any]) -> list[str]:
    """The names of the spans a failure took down (``impacted_span_ids`` of the failures
    view), nearest first."""
    names = tree.table.column("name")
    ids = [i for i in failure.get("impacted_span_ids") or [] if i in tree.position]
    ids.sort(key=lambda i: -tree.depth[tree.position[i]])
    return [str(names[tree.position[i]].as_py()) for i in ids]


def _step(failure: dict[str, Any], tree: TraceTree) -> str:
    """Where the failure happened, named by its span (never a log template)."""
    i = tree.position.get(failure.get("span_id") or "")
    if i is not None:
        return str(tree.table.column("name")[i].as_py())
    return str(failure.get("tool_name") or failure.get("operation") or "a step")


SHOWN = 8  # failures drawn in full; the others are listed one line each


def show_failures(failures: list[dict[str, Any]], tree: TraceTree, trace_id: str) -> None:
    """One bordered entry per failure (the first :data:`SHOWN`), oldest first, each with a
    button that selects its span; the others one line each."""
    st.markdown(f"**{len(failures)} failure{'s' if len(failures) != 1 else ''}**")
    with st.container(height=min(620, 170 * len(failures) + 20), border=False):
        for n, f in enumerate(failures[:SHOWN]):
            with st.container(border=True):
                agent = f.get("agent_name") or "unknown agent"
                st.markdown(f":red[:material/error: **{agent}** · {_step(f, tree)}]")
                st.markdown(f.get("message") or f.get("status_message") or "(no sentence)")
                chain = impact_chain(tree, f)
                if chain:
                    st.caption("Took down: " + " → ".join(chain))
                if f.get("diagnosis"):
                    st.markdown(
                        f":green-badge[{f.get('category') or 'diagnosed'}] {f['diagnosis']}"
                    )
                    todo = actions(f.get("remediations"))
                    if todo:
                        st.caption("What to do: " + ", ".join(todo))
                else:
                    st.caption("Not diagnosed yet (Failures page: Diagnose now).")
                if f.get("span_id") and st.button(
                    "Select span", key=f"fail_pick:{trace_id}:{n}", icon=":material/my_location:"
                ):
                    st.query_params["span"] = f["span_id"]
                    st.rerun()
        if len(failures) > SHOWN:
            st.caption(f"{len(failures) - SHOWN} more (pick one to select its span):")
            for f in failures[SHOWN:200]:
                st.page_link(
                    "screens/trace.py",
                    label=f"{_step(f, tree)}: {(f.get('message') or '')[:90]}",
                    query_params={"trace": trace_id, "span": f.get("span_id") or ""},
                )
