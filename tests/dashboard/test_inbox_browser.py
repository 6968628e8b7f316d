"""End to end, in headless Chromium (owner mode): an agent process waits on its task and a
person answers it on the Inbox page of ``semtrace dashboard``; ``semtrace demo`` leaves one
compliance review waiting there, and approving it completes the compliance run."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import semtrace
from semtrace.store import queries
from tests.cli.agents import QUESTION, Agent, owner_env, stop
from tests.dashboard.conftest import free_port, needs_chromium, wait_ok
from tests.dashboard.test_browser import HEIGHT, WIDTH, shot

pytestmark = needs_chromium


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    """A database path; the owner the agent starts is stopped after the test."""
    path = tmp_path / "agents.duckdb"
    yield path
    stop(path)


def _serve(command: str, db: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """``semtrace dashboard`` (or ``semtrace demo``, which serves it) on a free port, in
    owner mode; returns the dashboard's URL once it answers, and the process."""
    port = free_port()
    semtrace_cli = str(Path(sys.executable).with_name("semtrace"))
    proc = subprocess.Popen(
        [semtrace_cli, command, "--db", str(db), "--port", str(port)],
        env=owner_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ok(f"{url}/_stcore/health", proc, text="ok")
    return url, proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_an_answer_typed_in_the_inbox_resumes_the_waiting_agent(
    browser: object, db: Path, tmp_path: Path
) -> None:
    """The Inbox shows the waiting task's question; the answer typed there and sent reaches
    the agent process, which completes its task."""
    agent = Agent(tmp_path, db, "wait")
    url, dashboard = _serve("dashboard", db)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{url}/inbox")
        page.get_by_text(QUESTION).wait_for()
        page.get_by_label("Answer").fill("Confirmed: UK trading name of ACME GmbH.")
        page.get_by_label("Your name").fill("alice")
        page.get_by_role("button", name="Approve").click()
        page.get_by_text("Answer sent to compliance review").wait_for()
        assert agent.result() == "answer Confirmed: UK trading name of ACME GmbH.|alice|approve"
    finally:
        context.close()
        agent.kill()
        _stop(dashboard)


def _approved(db: Path) -> list[str]:
    con = semtrace.connect(db)
    try:
        return [
            str(r[0])
            for r in con.execute(
                "select json_extract_string(attributes, '$.invoice') from logs "
                "where message = 'invoice approved after review'"
            ).fetchall()
        ]
    finally:
        con.close()


def test_the_demo_review_waits_in_the_inbox_until_answered(browser: object, db: Path) -> None:
    """The Inbox shows the demo's waiting review; approving it there completes the run: the
    invoice is approved after review and no task waits any more."""
    url, demo = _serve("demo", db)
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})  # type: ignore[attr-defined]
    try:
        before = _approved(db)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{url}/inbox")
        page.get_by_text("on invoice INV-900-01 the registered vendor ACME GmbH?").wait_for()
        shot(page, "13-inbox")  # the demo's review, waiting
        page.get_by_role("button", name="Approve").click()
        page.get_by_text("Answer sent to compliance review").wait_for()
        deadline = time.monotonic() + 60
        while "INV-900-01" not in _approved(db):
            assert time.monotonic() < deadline, "the compliance run never completed"
            time.sleep(0.2)
        assert "INV-900-01" not in before
        assert queries.waiting_tasks(semtrace.connect(db)).num_rows == 0
    finally:
        context.close()
        _stop(demo)
