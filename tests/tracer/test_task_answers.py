"""Answers to a task waiting for a human, through the answer book of its database: given by
``answer_task``/``cancel_task`` (here from the same process, which writes the file), taken by
the waiting code (sync or async), each answer once, refusals with their reason."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import semtrace
from semtrace.inbox import AnswerRefused, answer_task, cancel_task
from semtrace.store import queries


@pytest.fixture(autouse=True)
def _fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMTRACE_INBOX_POLL_S", "0.02")


def _waiting(task_name: str, question: str) -> Any:
    task = semtrace.start_task(task_name, agent="compliance")
    task.set_status("input_required", question)
    semtrace.force_flush()  # the status is in the tasks view: the book can check it
    return task


def _rows(con: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    return con().sql(sql, params=params).to_arrow_table().to_pylist()


def _settled(con: Any) -> list[dict[str, Any]]:
    """The answer book's rows once every answer is settled (the poller settles right after
    the waiting code took the answer; waits at most 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        rows = _rows(con, "select * from task_answers order by answered_at")
        if all(r["delivered_at"] is not None for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


def test_a_blocking_wait_gets_the_answer_once_and_the_book_settles_it(
    configured: Path, con: Any
) -> None:
    """wait_for_input_sync returns the answer with who gave it; the book marks it delivered,
    keeps the answer redacted, and the tasks view shows who answered."""
    task = _waiting("vendor check", "Is ACME Ltd the registered ACME GmbH?")
    got: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: got.update(answer=task.wait_for_input_sync(30)))
    waiter.start()
    given = answer_task(task.id, "Yes, key sk-abcdefghijklmnopqrstuvwxyz1234 approves", by="alice")
    waiter.join(30)
    answer = got["answer"]
    assert answer == "Yes, key sk-abcdefghijklmnopqrstuvwxyz1234 approves"
    assert (answer.by, answer.decision, answer.answer_id) == ("alice", None, given["answer_id"])
    assert task.status == "working"
    task.complete()
    [row] = _settled(con)
    assert row["outcome"] == "delivered" and row["delivered_to"].startswith("pid ")
    assert "sk-abcdef" not in row["answer"] and "[REDACTED:" in row["answer"]
    [view] = _rows(con, "select status, answered_by, answers from tasks")
    assert view == {"status": "completed", "answered_by": "alice", "answers": 1}


async def test_an_async_wait_gets_an_approval(configured: Path) -> None:
    """An approval without text reaches an async wait as the decision ('approve')."""
    task = _waiting("payment release", "Release 24,000 EUR to Nordwind?")
    waiting = asyncio.ensure_future(task.wait_for_input(timeout=30))
    await asyncio.to_thread(answer_task, task.id, decision="approve", by="bob")
    answer = await waiting
    assert answer == "approve" and answer.approved and not answer.rejected
    assert answer.by == "bob"


def test_an_answer_given_before_the_wait_is_taken_when_it_starts(configured: Path) -> None:
    """The book keeps an answer until someone waits: the wait returns it at once."""
    task = _waiting("vendor check", "Which vendor?")
    answer_task(task.id, "V-1042", by="carol")
    assert task.status == "input_required"  # nobody waits yet: nothing taken
    assert task.wait_for_input_sync(timeout=30) == "V-1042"


def test_a_second_answer_to_the_same_question_is_refused(configured: Path) -> None:
    """Two answers to one question: the second is refused, naming who answered first."""
    task = _waiting("vendor check", "Which vendor?")
    answer_task(task.id, "V-1042", by="carol")
    with pytest.raises(AnswerRefused, match=r"already answered by carol at .* has not taken"):
        answer_task(task.id, "V-9999", by="dave")
    assert task.wait_for_input_sync(timeout=30) == "V-1042"


def test_answers_to_finished_unknown_or_working_tasks_are_refused(configured: Path) -> None:
    """Each refusal says why: finished, not waiting, or unknown (status 404)."""
    done = _waiting("old review", "?")
    done.complete()
    working = semtrace.start_task("crunching", agent="compliance")
    semtrace.force_flush()
    with pytest.raises(AnswerRefused, match=r"already completed .* takes no more input"):
        answer_task(done.id, "late", by="erin")
    with pytest.raises(AnswerRefused, match="is working, not waiting for input"):
        answer_task(working.id, "early", by="erin")
    with pytest.raises(AnswerRefused, match="no task 'nope' is known") as unknown:
        answer_task("nope", "hello", by="erin")
    assert unknown.value.status == 404
    working.complete()


def test_cancel_ends_the_waiting_task_cancelled(configured: Path, con: Any) -> None:
    """A cancel request ends the task cancelled; the blocked wait raises CancelledError."""
    task = _waiting("vendor check", "Which vendor?")
    raised: list[BaseException] = []

    def wait() -> None:
        try:
            task.wait_for_input_sync(timeout=30)
        except BaseException as exc:
            raised.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    cancel_task(task.id, by="frank", reason="duplicate invoice")
    waiter.join(30)
    assert isinstance(raised[0], asyncio.CancelledError)
    assert task.status == "cancelled"
    assert task.status_message == "cancelled by frank while waiting: duplicate invoice"
    [row] = _settled(con)
    assert (row["kind"], row["outcome"]) == ("cancel", "cancelled")


def test_a_timeout_fails_the_task(configured: Path, con: Any) -> None:
    """No answer within the timeout: the task fails with a sentence saying so."""
    task = _waiting("vendor check", "Which vendor?")
    with pytest.raises(TimeoutError, match=r"no answer came within 0\.1 s"):
        task.wait_for_input_sync(timeout=0.1)
    assert task.status == "failed"
    [view] = _rows(con, "select status, status_message from tasks")
    assert view == {"status": "failed", "status_message": "no answer came within 0.1 s"}


async def test_an_async_timeout_fails_the_task(configured: Path) -> None:
    """The async wait fails the task the same way."""
    task = _waiting("vendor check", "Which vendor?")
    with pytest.raises(TimeoutError, match=r"within 0\.05 s"):
        await task.wait_for_input(timeout=0.05)
    assert task.status == "failed"


def test_the_waiting_list_shows_the_question_and_a_pending_answer(
    configured: Path, con: Any
) -> None:
    """waiting_tasks lists each waiting task with its question; one answered but not yet
    taken carries who answered."""
    first = _waiting("vendor check", "Which vendor?")
    second = _waiting("payment release", "Release it?")
    answer_task(second.id, decision="reject", by="gina")
    rows = queries.waiting_tasks(con()).to_pylist()
    assert [(r["task_id"], r["question"], r["answered_by"]) for r in rows] == [
        (first.id, "Which vendor?", None),
        (second.id, "Release it?", "gina"),
    ]
    assert rows[0]["agent_name"] == "compliance" and rows[0]["waited_ms"] >= 0
    first.cancel()
    second.cancel()


def test_heal_escalation_lands_in_the_inbox(configured: Path, con: Any) -> None:
    """A step healed by escalate_to_human leaves its task waiting in the Inbox, and the
    answer given there reaches the task."""

    @semtrace.heal(allow=["escalate_to_human"])
    @semtrace.tool("erp_login")
    def login() -> None:
        raise PermissionError("401 Unauthorized: invalid api key")

    with semtrace.start_task("vendor sync", agent="procurement") as task:
        with pytest.raises(PermissionError):
            login()
        semtrace.force_flush()
        [waiting] = queries.waiting_tasks(con()).to_pylist()
        assert waiting["task_id"] == task.id and "A person is needed" in waiting["question"]
        answer_task(task.id, "rotated the key", by="hank")
        assert task.wait_for_input_sync(timeout=30) == "rotated the key"
