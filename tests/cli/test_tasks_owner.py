"""Tasks answered across processes in owner mode: an agent process waits on its task, the CLI
answers or cancels it through the database's owner, the agent resumes; the answer survives a
kill -9 of the owner and is delivered once."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from semtrace.store.ownership import read_announcement
from tests.cli.agents import QUESTION, Agent, owner_pid, run_agent, stop, tasks_cli, wait_for


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    """A database path; the owner the agents start is stopped after the test."""
    path = tmp_path / "agents.duckdb"
    yield path
    stop(path)


def _book(db: Path) -> list[dict[str, object]]:
    import semtrace

    con = semtrace.connect(db)
    try:
        return (
            con.sql(
                "select task_id, outcome, delivered_at is not null as delivered from task_answers"
            )
            .to_arrow_table()
            .to_pylist()
        )
    finally:
        con.close()


def _task(db: Path) -> dict[str, object]:
    import semtrace
    from semtrace.store import queries

    con = semtrace.connect(db)
    try:
        [row] = queries.tasks(con).to_pylist()
    finally:
        con.close()
    return row


def test_the_cli_answers_a_waiting_agent_which_completes(db: Path, tmp_path: Path) -> None:
    """The waiting task is listed with its question; the CLI's answer reaches the agent, a
    second answer is refused saying why, and the task completes with who answered."""
    agent = Agent(tmp_path, db, "wait")
    try:
        listed = tasks_cli("list", "--db", str(db), "--format", "json")
        assert listed.returncode == 0, listed.stderr
        assert agent.task_id in listed.stdout and QUESTION in listed.stdout
        given = tasks_cli(
            "answer", agent.task_id, "Yes, the UK trading name", "--by", "alice", "--db", str(db)
        )
        assert given.returncode == 0, given.stderr
        again = tasks_cli("answer", agent.task_id, "No", "--by", "bob", "--db", str(db))
        assert again.returncode == 1 and "answer refused" in again.stderr
        # Refused as answered, or (the agent was quicker) as no longer waiting or finished.
        assert re.search(r"already answered by alice|not waiting|already completed", again.stderr)
        assert agent.result() == "answer Yes, the UK trading name|alice|None"
    finally:
        agent.kill()
    row = _task(db)
    assert (row["status"], row["answered_by"], row["answers"]) == ("completed", "alice", 1)
    assert _book(db) == [{"task_id": agent.task_id, "outcome": "delivered", "delivered": True}]


def test_the_cli_cancels_a_waiting_agent(db: Path, tmp_path: Path) -> None:
    """A cancel from the CLI ends the waiting task cancelled; the agent's wait says so."""
    agent = Agent(tmp_path, db, "wait")
    try:
        done = tasks_cli(
            "cancel",
            agent.task_id,
            "--reason",
            "duplicate invoice",
            "--by",
            "carol",
            "--db",
            str(db),
        )
        assert done.returncode == 0, done.stderr
        assert agent.result() == (
            "ended CancelledError cancelled: cancelled by carol while waiting: duplicate invoice"
        )
    finally:
        agent.kill()
    assert _task(db)["status"] == "cancelled"


def test_an_answer_outlives_the_owner_killed_before_delivery(db: Path, tmp_path: Path) -> None:
    """The agent stops while its task waits; the answer is committed by the owner, which is
    then killed -9; a new agent process re-attaches, a new owner starts, and the answer is
    delivered to it, once: re-attaching again finds the task completed."""
    asked = Agent(tmp_path, db, "ask")
    assert asked.result() == ""
    given = tasks_cli(
        "answer", asked.task_id, "approved", "--approve", "--by", "dana", "--db", str(db)
    )
    assert given.returncode == 0, given.stderr
    killed = owner_pid(db)
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: read_announcement(db) is None, what="the killed owner to be noticed")
    resumed = Agent(tmp_path, db, "resume", asked.task_id)
    assert resumed.task_id == asked.task_id
    assert resumed.result() == "answer approved|dana|approve"
    assert owner_pid(db) != killed
    proc = run_agent(tmp_path, db, "resume", asked.task_id)  # the task is over now
    assert proc.returncode == 1 and "is already completed; nothing to resume" in proc.stderr
    assert _book(db) == [{"task_id": asked.task_id, "outcome": "delivered", "delivered": True}]
    assert _task(db)["answers"] == 1


def test_a_waiting_agent_gets_the_answer_after_the_owner_is_killed(
    db: Path, tmp_path: Path
) -> None:
    """The agent keeps waiting (polling every 2 s) while the owner that took the answer is
    killed -9: its next poll starts a new owner and takes the answer from the file, once."""
    agent = Agent(tmp_path, db, "wait", SEMTRACE_INBOX_POLL_S="2")
    try:
        given = tasks_cli("answer", agent.task_id, "go ahead", "--by", "erin", "--db", str(db))
        assert given.returncode == 0, given.stderr
        os.kill(owner_pid(db), signal.SIGKILL)
        assert agent.result() == "answer go ahead|erin|None"
    finally:
        agent.kill()
    assert _book(db) == [{"task_id": agent.task_id, "outcome": "delivered", "delivered": True}]
