"""An agent in a process of its own whose task waits for a human, for the tests that answer
it from another process (the CLI, the dashboard), in owner mode (the default for users)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from semtrace.store.ownership import read_announcement, stop_owner

QUESTION = "Is 'ACME Ltd' on invoice INV-001-02 the registered vendor ACME GmbH?"

AGENT = textwrap.dedent(
    f"""
    import sys
    import semtrace

    db, mode = sys.argv[1], sys.argv[2]
    semtrace.configure(service_name="invoices", db=db, batch_interval_s=0.05)
    if mode == "resume":  # a new process re-attaches to the task
        task = semtrace.resume_task(sys.argv[3])
    else:
        task = semtrace.start_task("compliance review", agent="compliance")
        task.set_status("input_required", {QUESTION!r})
    semtrace.force_flush()  # the question is in the database: the Inbox lists it
    print(task.id, flush=True)
    if mode == "ask":  # stop without waiting
        semtrace.shutdown()
        sys.exit(0)
    try:
        answer = task.wait_for_input_sync(timeout=120)
    except BaseException as exc:
        print(f"ended {{type(exc).__name__}} {{task.status}}: {{task.status_message}}", flush=True)
    else:
        print(f"answer {{answer}}|{{answer.by}}|{{answer.decision}}", flush=True)
        task.complete({{"decision": answer.decision}})
    semtrace.shutdown()
    """
)


def owner_env(**extra: str) -> dict[str, str]:
    """The environment of a user's process: owner mode, answers polled often."""
    return {
        **os.environ,
        "SEMTRACE_MODE": "owner",
        "SEMTRACE_OWNER_IDLE_TIMEOUT": "120",
        "SEMTRACE_INBOX_POLL_S": "0.1",
        "COLUMNS": "200",
        **extra,
    }


def run_agent(tmp_path: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The agent script run to its end (for one expected to fail at once)."""
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    return subprocess.run(
        [sys.executable, str(script), str(db), *args],
        env=owner_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


class Agent:
    """The agent process: its task id (first line it prints), then how its wait ended."""

    def __init__(self, tmp_path: Path, db: Path, *args: str, **env: str) -> None:
        script = tmp_path / "agent.py"
        script.write_text(AGENT)
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(db), *args],
            env=owner_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.task_id = self.proc.stdout.readline().strip()  # blocks until the task waits
        if not self.task_id:
            self.proc.kill()
            pytest.fail(f"the agent did not start its task: {self.proc.stderr.read()}")  # type: ignore[union-attr]

    def result(self, timeout: float = 120) -> str:
        """What the agent printed after its wait, once it has exited."""
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return out.strip()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def tasks_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``semtrace tasks ...`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "semtrace.cli", "tasks", *args],
        env=owner_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def owner_pid(db: Path) -> int:
    ann = read_announcement(db)
    assert ann is not None, "no owner serves the database"
    return ann.pid


def stop(db: Path) -> None:
    """Stop whatever owner serves ``db`` (the agents started it, detached)."""
    stop_owner(db)


def wait_for(predicate: object, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
