"""Live updates end to end: `semtrace dashboard --collector` starts a collector for the
file, and with auto-refresh on the page shows a trace an agent writes (through that
collector) while the page is open, without a reload."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import semtrace
from semtrace.store.ownership import read_announcement
from semtrace.tracer.setup import STATE
from tests.dashboard.conftest import free_port, needs_chromium, wait_ok
from tests.dashboard.scenario import Scenario
from tests.dashboard.test_browser import settle, shot

pytestmark = needs_chromium


@pytest.fixture
def live(scenario: Scenario, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`semtrace dashboard --collector` on a copy of the scenario database: a collector owns
    the file while the dashboard reads it. Stopping the command stops both."""
    db = tmp_path / "live.duckdb"
    shutil.copy(scenario.db, db)
    port = free_port()
    exe = str(Path(sys.executable).with_name("semtrace"))
    proc = subprocess.Popen(
        [exe, "dashboard", "--db", str(db), "--collector", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ok(f"{url}/_stcore/health", proc)
        owner = read_announcement(db)
        assert owner is not None, "the dashboard did not start a collector for the file"
        yield url, db
    finally:
        proc.terminate()
        proc.wait(30)
    # SIGTERM to the command stopped Streamlit and the collector with it.
    assert read_announcement(db) is None
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/_stcore/health", timeout=2)


def test_auto_refresh_shows_a_new_run_without_reload(live, browser) -> None:  # type: ignore[no-untyped-def]
    """With auto-refresh on, a run an agent sends while the page is open appears in the list."""
    url, db = live
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(30_000)
    page.goto(f"{url}/traces?view=Traces&refresh=true")
    settle(page)
    page.get_by_text("3 traces, 1 failed").wait_for()

    semtrace.configure(service_name="late-service", db=db)  # routed to the collector
    try:

        @semtrace.agent("latecomer")
        def late() -> None:
            pass

        late()
        semtrace.force_flush()
    finally:
        semtrace.shutdown()
        STATE.settings = None

    # The caption above the table counts the traces: 3 before, 4 once the fragment reran.
    page.get_by_text("4 traces, 1 failed").wait_for(timeout=30_000)
    shot(page, "live-collector")
    page.close()
