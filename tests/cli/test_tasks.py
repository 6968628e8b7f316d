"""``semtrace tasks list|answer|cancel`` from another process, against agents in processes of
their own: an agent that stopped while its task waited re-attaches and gets the answer."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import semtrace
from semtrace.store import queries

AGENT = textwrap.dedent(
    """
    import sys
    import semtrace

    db, mode = sys.argv[1], sys.argv[2]
    semtrace.configure(service_name="invoices", db=db, batch_interval_s=0.05)
    if mode == "ask":  # start the task, ask, and stop without waiting
        task = semtrace.start_task("compliance review", agent="compliance")
        task.set_status("input_required", "Is ACME Ltd the registered ACME GmbH?")
        print(task.id, flush=True)
    else:  # re-attach to the task and wait for its answer
        task = semtrace.resume_task(sys.argv[3])
        answer = task.wait_for_input_sync(timeout=60)
        print(f"{answer}|{answer.by}|{answer.decision}", flush=True)
        task.complete({"decision": answer.decision})
    semtrace.shutdown()
    """
)


def _env() -> dict[str, str]:
    return {**os.environ, "SEMTRACE_INBOX_POLL_S": "0.05"}


def _agent(tmp_path: Path, db: Path, *args: str) -> str:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    proc = subprocess.run(
        [sys.executable, str(script), str(db), *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "semtrace.cli", "tasks", *args],
        env={**_env(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_answer_from_the_cli_reaches_the_agent_that_re_attaches(tmp_path: Path) -> None:
    """The task an agent left waiting is listed, answered from the CLI (a second answer is
    refused with who answered), and the agent that re-attaches gets it and completes."""
    db = tmp_path / "agents.duckdb"
    task_id = _agent(tmp_path, db, "ask")
    listed = _cli("list", "--db", str(db), "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert task_id in listed.stdout and "Is ACME Ltd the registered ACME GmbH?" in listed.stdout
    given = _cli(
        "answer", task_id, "Yes, UK trading name", "--approve", "--by", "alice", "--db", str(db)
    )
    assert given.returncode == 0, given.stderr
    assert "answered the compliance agent's task compliance review" in given.stdout
    again = _cli("answer", task_id, "no", "--by", "bob", "--db", str(db))
    assert again.returncode == 1
    assert "already answered by alice" in again.stderr
    assert _agent(tmp_path, db, "resume", task_id) == "Yes, UK trading name|alice|approve"
    con = semtrace.connect(db)
    try:
        [row] = queries.tasks(con).to_pylist()
        [book] = con.sql("select outcome, delivered_to from task_answers").fetchall()
    finally:
        con.close()
    assert (row["status"], row["answered_by"], row["answers"]) == ("completed", "alice", 1)
    assert book[0] == "delivered" and book[1].startswith("pid ")
    late = _cli("answer", task_id, "late", "--db", str(db))
    assert late.returncode == 1 and "already completed" in late.stderr


def test_cancel_from_the_cli_ends_the_task_when_its_agent_re_attaches(tmp_path: Path) -> None:
    """A cancel from the CLI is taken by the re-attached agent: the task ends cancelled."""
    db = tmp_path / "agents.duckdb"
    task_id = _agent(tmp_path, db, "ask")
    cancelled = _cli("cancel", task_id, "--reason", "duplicate", "--by", "carol", "--db", str(db))
    assert cancelled.returncode == 0, cancelled.stderr
    script = tmp_path / "agent.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(db), "resume", task_id],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "CancelledError" in proc.stderr
    con = semtrace.connect(db)
    try:
        [row] = queries.tasks(con).to_pylist()
    finally:
        con.close()
    assert row["status"] == "cancelled"
    assert row["status_message"] == "cancelled by carol while waiting: duplicate"


def test_who_answered_is_told_in_a_log_sentence_redacted(tmp_path: Path) -> None:
    """The answer given from the CLI by an email address is told as a log sentence on the
    task's span ("... answered the task ... after ..."), and the address is redacted there,
    on the span, in the tasks view and in the answer book: it is stored nowhere."""
    db = tmp_path / "agents.duckdb"
    task_id = _agent(tmp_path, db, "ask")
    email = "alice.reviewer@example.com"
    given = _cli("answer", task_id, "Yes", "--approve", "--by", email, "--db", str(db))
    assert given.returncode == 0, given.stderr
    answer, by, decision = _agent(tmp_path, db, "resume", task_id).split("|")
    assert (answer, decision) == ("Yes", "approve")
    assert re.fullmatch(r"\[REDACTED:email:[0-9a-f]+\]", by), by
    con = semtrace.connect(db)
    try:
        [log] = con.sql(
            "select message, agent_name, span_id, "
            "attributes->>'$.\"semtrace.task.answered_by\"' as by from logs "
            "where template = '{by} answered the task {task} after {waited}'"
        ).fetchall()
        [row] = queries.tasks(con).to_pylist()
        # The span it is on: the task's, in the agent that re-attached to it.
        [on] = con.sql(
            "select attributes->>'$.\"mcp.task.id\"' from spans where span_id = ?",
            params=[log[2]],
        ).fetchall()
        leaks = {
            table: con.sql(
                f"select count(*) from {table} t where t::VARCHAR like ?", params=[f"%{email}%"]
            ).fetchall()[0][0]
            for table in ("logs", "spans", "span_events", "task_answers", "tasks")
        }
    finally:
        con.close()
    message, agent, _, logged_by = log
    assert re.fullmatch(
        re.escape(by) + r" answered the task compliance review after \d+(\.\d+)? (ms|s|min|h)",
        message,
    ), message
    assert (agent, on[0], logged_by) == ("compliance", task_id, by)
    assert row["answered_by"] == by
    assert leaks == dict.fromkeys(leaks, 0)
