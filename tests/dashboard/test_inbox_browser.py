"""End to end: an agent process waits on its task; a person answers it on the Inbox page of
``semtrace dashboard`` in headless Chromium; the agent resumes and completes (owner mode)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.agents import QUESTION, Agent, owner_env, stop
from tests.dashboard.conftest import free_port, needs_chromium, wait_ok

pytestmark = needs_chromium


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    """A database path; the owner the agent starts is stopped after the test."""
    path = tmp_path / "agents.duckdb"
    yield path
    stop(path)


def _dashboard(db: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("semtrace")),
            "dashboard",
            "--db",
            str(db),
            "--port",
            str(port),
        ],
        env=owner_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ok(f"{url}/_stcore/health", proc, text="ok")
    return url, proc


def test_an_answer_typed_in_the_inbox_resumes_the_waiting_agent(
    browser: object, db: Path, tmp_path: Path
) -> None:
    """The Inbox shows the waiting task's question; the answer typed there and sent reaches
    the agent process, which completes its task."""
    agent = Agent(tmp_path, db, "wait")
    url, dashboard = _dashboard(db)
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
        dashboard.terminate()
        try:
            dashboard.wait(10)
        except subprocess.TimeoutExpired:
            dashboard.kill()
