"""The Inbox page (AppTest): tasks waiting for a human, answered from a form; the waiting
code (a thread of this process, which writes the database) takes the answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import semtrace
from semtrace.dashboard import APP
from semtrace.dashboard._launch import ENV_DB, ENV_SERVER


@pytest.fixture
def inbox(configured: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """The dashboard on the test's database, opened on the Inbox page."""
    monkeypatch.setenv(ENV_DB, str(configured))
    monkeypatch.delenv(ENV_SERVER, raising=False)
    monkeypatch.setenv("SEMTRACE_INBOX_POLL_S", "0.02")
    yield AppTest.from_file(str(APP), default_timeout=60)


def _open(at: AppTest) -> AppTest:
    at.run()
    at.switch_page("screens/inbox.py")
    at.run()
    assert not at.exception, at.exception
    return at


def _waiting(question: str) -> Any:
    task = semtrace.start_task("compliance review", agent="compliance")
    task.set_status("input_required", question)
    semtrace.force_flush()
    return task


def test_an_empty_inbox_says_how_tasks_get_there(inbox: AppTest) -> None:
    """No task waiting: the page says so and how a task comes to wait."""
    at = _open(inbox)
    assert "No task is waiting for a human." in at.info[0].value


def test_the_form_answers_the_waiting_task(inbox: AppTest) -> None:
    """The card shows the question and agent; the answer typed and sent reaches the waiting
    code, with the name given in the form as who answered."""
    task = _waiting("Is 'ACME Ltd' on invoice INV-001-02 the registered vendor ACME GmbH?")
    got: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: got.update(a=task.wait_for_input_sync(60)))
    waiter.start()
    at = _open(inbox)
    markdown = "\n".join(m.value for m in at.markdown)
    assert "compliance review" in markdown and "agent **compliance**" in markdown
    assert "the registered vendor ACME GmbH?" in markdown
    at.text_area(key=f"inbox-text-{task.id}").input("Yes: it is the UK trading name.")
    at.text_input(key=f"inbox-by-{task.id}").input("alice")
    next(b for b in at.button if b.label == "Send answer").click()
    at.run()
    assert not at.exception, at.exception
    waiter.join(60)
    assert got["a"] == "Yes: it is the UK trading name." and got["a"].by == "alice"
    assert "Answer sent" in at.success[0].value


def test_reject_sends_the_decision_and_the_card_says_who_answered(inbox: AppTest) -> None:
    """Reject sends the decision; until the agent takes it, the card shows who answered
    instead of the form (one answer per question)."""
    task = _waiting("Release 24,000 EUR?")
    at = _open(inbox)
    next(b for b in at.button if b.label == "Reject").click()
    at.run()
    assert "Answer sent" in at.success[0].value
    # Not taken yet (nobody waits): the card says who answered instead of the form.
    assert any("waiting for the agent to take it" in i.value for i in at.info)
    assert task.wait_for_input_sync(60).decision == "reject"
    task.complete()


def test_cancel_task_ends_the_waiting_task_cancelled(inbox: AppTest, configured: Path) -> None:
    """Pressing "Cancel task" on the card ends the task: the waiting code is cancelled, the
    task ends cancelled with who cancelled it and why, and the Inbox no longer lists it."""
    import asyncio

    from semtrace.store import queries

    task = _waiting("Pay the duplicate of invoice INV-001-02?")
    got: dict[str, Any] = {}

    def wait() -> None:
        try:
            got["answer"] = task.wait_for_input_sync(60)
        except asyncio.CancelledError as exc:
            got["cancelled"] = str(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    at = _open(inbox)
    at.text_area(key=f"inbox-text-{task.id}").input("a duplicate of INV-001-01")
    at.text_input(key=f"inbox-by-{task.id}").input("carol")
    next(b for b in at.button if b.label == "Cancel task").click()
    at.run()
    assert not at.exception, at.exception
    assert "Cancel sent for compliance review" in at.success[0].value
    waiter.join(60)
    assert not waiter.is_alive() and "answer" not in got
    assert got["cancelled"] == "the task is cancelled"
    assert task.status == "cancelled"
    semtrace.force_flush()
    con = semtrace.connect(configured)
    try:
        [row] = queries.tasks(con).to_pylist()
    finally:
        con.close()
    assert (row["status"], row["status_message"]) == (
        "cancelled",
        "cancelled by carol while waiting: a duplicate of INV-001-01",
    )
    at.run()
    assert "No task is waiting for a human." in at.info[0].value
