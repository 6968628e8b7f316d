"""Inbox: the tasks waiting for a human (``input_required``), each with its question, agent,
trace and wait, and a form to answer it, approve or reject it, or cancel it. The answer goes
to the database's answer book; the waiting agent takes it and continues."""

from __future__ import annotations

import getpass
import os
from typing import Any

import streamlit as st

from semtrace.dashboard import _data
from semtrace.dashboard._launch import ENV_DB, ENV_SERVER
from semtrace.dashboard._widgets import empty_state, fmt_ms, refresh_every
from semtrace.inbox import AnswerRefused, answer_task, cancel_task
from semtrace.store import queries


def _default_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "dashboard"


_NOTES = "inbox-notes"  # what the last answers became, shown once at the top of the page


def _note(kind: str, text: str) -> None:
    st.session_state.setdefault(_NOTES, []).append((kind, text))


def _send(task: dict[str, Any], action: str, text: str, by: str) -> None:
    """Answer or cancel ``task`` in the database the dashboard reads; say how it went."""
    target = {"db": os.environ.get(ENV_DB) or None, "url": os.environ.get(ENV_SERVER) or None}
    who = by.strip() or _default_name()
    name = f"{task.get('name') or 'task'} ({task['task_id']})"
    try:
        if action == "cancel":
            cancel_task(task["task_id"], by=who, reason=text.strip() or None, **target)
            _note("success", f"Cancel sent for {name}: the task ends.")
            return
        decision = action if action in ("approve", "reject") else None
        answer_task(task["task_id"], text.strip() or None, decision=decision, by=who, **target)
        _note("success", f"Answer sent to {name}: its agent takes it and continues.")
    except AnswerRefused as exc:
        _note("error", f"Refused: {exc}")
    except ValueError as exc:  # no text and no decision
        _note("error", str(exc))


def _task_card(task: dict[str, Any]) -> None:
    task_id = task["task_id"]
    with st.container(border=True):
        agent = f" · agent **{task['agent_name']}**" if task.get("agent_name") else ""
        st.markdown(
            f"#### {task.get('name') or 'task'}{agent} · waiting {fmt_ms(task['waited_ms'])}"
        )
        st.markdown(task.get("question") or "_(no question given)_")
        c = st.columns([3, 1])
        c[0].caption(f"task `{task_id}`")
        if task.get("trace_id"):
            c[1].page_link(
                "screens/trace.py",
                label="Open trace",
                icon=":material/open_in_new:",
                query_params={"trace": task["trace_id"]},
            )
        if task.get("answered_by"):
            kind = "asked to cancel" if task.get("answer_kind") == "cancel" else "answered"
            st.info(
                f"{task['answered_by']} {kind} at {task['answered_at']}; waiting for the "
                "agent to take it."
            )
            return
        with st.form(key=f"inbox-form-{task_id}", clear_on_submit=True):
            text = st.text_area("Answer", key=f"inbox-text-{task_id}")
            by = st.text_input("Your name", value=_default_name(), key=f"inbox-by-{task_id}")
            b = st.columns(4)
            pressed = {
                "answer": b[0].form_submit_button("Send answer", type="primary"),
                "approve": b[1].form_submit_button("Approve"),
                "reject": b[2].form_submit_button("Reject"),
                "cancel": b[3].form_submit_button("Cancel task"),
            }
        action = next((a for a, on in pressed.items() if on), None)
        if action is not None:
            _send(task, action, text, by)
            st.rerun()


@st.fragment(run_every=refresh_every())
def main() -> None:
    st.title("Inbox")
    for kind, text in st.session_state.pop(_NOTES, []):
        (st.success if kind == "success" else st.error)(text)
    with _data.connection() as con:
        waiting = queries.waiting_tasks(con).to_pylist()
    if not waiting:
        empty_state(
            "No task is waiting for a human.",
            "A task shows up here when its agent moves it to input_required "
            "(`task.set_status('input_required', question)`, or `@semtrace.heal` escalating); "
            "answer it here or with `semtrace tasks answer`.",
        )
        return
    st.caption(
        f"{len(waiting)} task{'s' if len(waiting) != 1 else ''} waiting, longest first. "
        "An answer is stored before it is confirmed, and the agent takes it once."
    )
    for task in waiting:
        _task_card(task)


main()
