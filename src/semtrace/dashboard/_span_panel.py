"""The selected span, laid out for debugging: what went in and came out, the readable stack
trace, the sentences and events, then the raw attributes, links and resource."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from semtrace.dashboard import stacktrace
from semtrace.dashboard._widgets import fmt_ms, status_badge
from semtrace.dashboard.content import span_input, span_output

__all__ = ["show_span", "show_stacktrace"]


def show_span(detail: dict[str, Any], *, agent: str | None, inherited: bool) -> None:
    """One span's header and tabs (from :func:`semtrace.dashboard.queries.span_detail`)."""
    span = detail["span"]
    who = agent or "no agent"
    if inherited:
        who += " (inherited from its caller)"
    st.markdown(
        f"#### {span['name']} {status_badge(span['status_code'])}\n"
        f"agent **{who}** · {fmt_ms(span['duration_ms'])} · {span['kind'].lower()} span "
        f"`{span['span_id']}`"
    )
    if span.get("status_message"):
        st.error(span["status_message"], icon=":material/error:")
    traces = [e for e in detail["events"] if e.get("exception_stacktrace")]
    spec = [("io", "Input and output")]
    if traces:
        spec.append(("stack", "Stack trace"))
    spec += [
        ("said", f"Sentences ({len(detail['logs'])})"),
        ("events", f"Events ({len(detail['events'])})"),
        ("attributes", "Attributes"),
        ("links", f"Links ({len(detail['links'])})"),
        ("resource", "Resource"),
    ]
    tab = dict(zip([k for k, _ in spec], st.tabs([t for _, t in spec]), strict=True))
    with tab["io"]:
        _input_output(span)
    if traces:
        with tab["stack"]:
            for event in traces:
                show_stacktrace(str(event["exception_stacktrace"]))
    with tab["said"]:
        if not detail["logs"]:
            st.caption("No sentence was logged inside this span.")
        for log in detail["logs"]:
            line = f"`{log['severity']}` {log['message']}"
            if log["severity"] in ("ERROR", "CRITICAL"):
                st.error(line)
            elif log["severity"] == "WARNING":
                st.warning(line)
            else:
                st.markdown(line)
    with tab["events"]:
        if not detail["events"]:
            st.caption("No span events.")
        for e in detail["events"]:
            what = e["exception_type"] or ""
            st.markdown(f"**{e['name']}** {what} {e['exception_message'] or ''}")
            if e["attributes"] and not e.get("exception_stacktrace"):
                st.json(e["attributes"], expanded=False)
    with tab["attributes"]:
        st.json(span["attributes"], expanded=True)
    with tab["links"]:
        if not detail["links"]:
            st.caption("No links to other spans.")
        for link in detail["links"]:
            st.page_link(
                "screens/trace.py",
                label=f"linked trace {link['linked_trace_id'][:12]} · span "
                f"{link['linked_span_id']}",
                query_params={"trace": link["linked_trace_id"], "span": link["linked_span_id"]},
            )
    with tab["resource"]:
        st.json(span["resource"], expanded=False)


def _input_output(span: dict[str, Any]) -> None:
    shown = False
    for title, value in (("Input", span_input(span)), ("Output", span_output(span))):
        if value is None:
            continue
        shown = True
        st.markdown(f"**{title}**")
        if isinstance(value, str):
            st.code(value, language=None, wrap_lines=True)
        else:
            st.code(
                json.dumps(value, indent=2, ensure_ascii=False, default=str),
                language="json",
                wrap_lines=True,
            )
    if not shown:
        st.caption(
            "Nothing recorded what this span took in or gave back. semtrace's decorators "
            "record arguments and return values; other instrumentations need content "
            "capture switched on."
        )


def show_stacktrace(text: str) -> None:
    """A readable stack trace: the application's frames with their source line, runs of
    library frames folded, semtrace's own frames left out; the exception at the end."""
    sections = stacktrace.parse(text)
    if not sections:
        st.code(text, language=None, wrap_lines=True)
        return
    for section in sections:
        if section.cause:
            st.caption(section.cause)
        hidden = sum(1 for f in section.frames if f.kind == "semtrace")
        for item in stacktrace.fold(section.frames):
            if isinstance(item, list):
                packages = ", ".join(dict.fromkeys(f.package for f in item))
                with st.expander(f"{len(item)} library frame(s): {packages}"):
                    for f in item:
                        st.markdown(f"`{f.where}` in `{f.function}`")
                        if f.code:
                            st.code(f.code, language="python")
            else:
                st.markdown(f"`{item.where}` in **{item.function}**")
                if item.code:
                    st.code(item.code, language="python")
        if hidden:
            st.caption(f"{hidden} frame(s) of semtrace's own instrumentation left out.")
        if section.exception:
            st.error(section.exception, icon=":material/bug_report:")
    with st.expander("Raw stack trace"):
        st.code(text, language=None)
