"""Live by default (issue 14): `semtrace dashboard` on a file no agent has written yet waits
for it, then, with auto-refresh on, shows the spans of an agent that is still running, each
process reaching the file through the owner started on demand."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from semtrace.store.ownership import read_announcement, stop_owner
from tests.dashboard.conftest import free_port, needs_chromium, wait_ok
from tests.dashboard.test_browser import HEIGHT, WIDTH, settle, shot

pytestmark = needs_chromium

OWNER = {**os.environ, "SEMTRACE_MODE": "owner"}

# An agent that keeps calling a tool until told to stop: its root span stays open meanwhile.
AGENT = textwrap.dedent(
    """
    import pathlib, sys, time
    import semtrace

    db, stop = sys.argv[1], pathlib.Path(sys.argv[2])
    semtrace.configure(service_name="live-agent", db=db, batch_interval_s=0.2)

    @semtrace.tool("poll_inbox")
    def poll(i):
        time.sleep(0.02)
        return i

    with semtrace.agent("long_runner"):
        for i in range(3000):
            if stop.exists():
                break
            poll(i)
            time.sleep(0.1)
    semtrace.shutdown()
    """
)


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`semtrace dashboard --db FILE` (owner mode) on a file that does not exist yet; the
    file's owner, started on demand by the agent, is stopped afterwards."""
    db = tmp_path / "live.duckdb"
    port = free_port()
    exe = str(Path(sys.executable).with_name("semtrace"))
    proc = subprocess.Popen(
        [exe, "dashboard", "--db", str(db), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=OWNER,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ok(f"{url}/_stcore/health", proc, text="ok")
        yield url, db
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        stop_owner(db)
    assert read_announcement(db) is None


def test_auto_refresh_shows_the_spans_of_a_running_agent(dashboard, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The page waits for the first spans; once an agent writes, the trace appears marked
    running, its trace page shows the agent's tool spans (its root still open), and the
    count of spans grows while the page stays open."""
    url, db = dashboard
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.set_default_timeout(60_000)
    stop = tmp_path / "stop"
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(db), str(stop)],
        env=OWNER,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        page.goto(f"{url}/traces?view=Traces&refresh=true")
        settle(page)
        page.get_by_text("1 trace, 0 failed, 1 running").wait_for()
        page.goto(f"{url}/trace?refresh=true")
        page.get_by_text("running").first.wait_for()
        page.locator(".js-plotly-plot .bars").first.wait_for()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.js-plotly-plot .ytick text')]"
            ".some(e => e.textContent.replace(/\\u00a0/g, ' ').includes('execute_tool poll_inbox'))"
        )
        first = _spans(page)
        page.wait_for_function(
            "n => Number((document.body.innerText.match(/([\\d,]+) spans ·/) || [0, '0'])[1]"
            ".replace(/,/g, '')) > n",
            arg=first,
        )
        assert agent.poll() is None, "the agent stopped before the page saw it running"
        shot(page, "12-live")
    finally:
        stop.touch()
        agent.wait(60)
        page.close()
    assert agent.returncode == 0, agent.stdout.read().decode() if agent.stdout else ""


def _spans(page) -> int:  # type: ignore[no-untyped-def]
    import re

    found = re.search(r"([\d,]+) spans ·", page.locator('[data-testid="stMain"]').inner_text())
    assert found is not None
    return int(found.group(1).replace(",", ""))
