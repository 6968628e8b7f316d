"""End to end: ``semtrace dashboard`` served on a free port, driven in headless Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.conftest import free_port, needs_chromium, wait_ok
from tests.dashboard.scenario import DIAGNOSIS, FAILURE_SENTENCE_PART, Scenario

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(scenario: Scenario) -> Iterator[str]:
    """`semtrace dashboard --db FILE --port N` running until the module's tests are done."""
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("semtrace")),
            "dashboard",
            "--db",
            str(scenario.db),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ok(f"{url}/_stcore/health", proc, text="ok")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def page(browser, server):  # type: ignore[no-untyped-def]
    """A fresh 1600x1000 page."""
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    ctx.close()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1600, "height": 2000})
    page.wait_for_timeout(1000)  # let plotly and the grids redraw at the new size
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _settle(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')"
    )


def test_trace_page_shows_failure_and_diagnosis(page, server, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    """A shared trace URL, as the server's very first request, opens our trace page (with the
    app's navigation, not Streamlit's file list) showing the failure and its diagnosis; a
    click on a bar selects that span."""
    page.goto(f"{server}/trace?trace={scenario.travel_trace}")
    _settle(page)
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_text("Failures", exact=True).wait_for()
    assert nav.get_by_text("app", exact=True).count() == 0
    page.get_by_text(FAILURE_SENTENCE_PART).first.wait_for()
    page.get_by_text(DIAGNOSIS).first.wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    assert page.get_by_text("invoke_agent supervisor").count() > 0
    _shot(page, "02-trace")
    # Clicking the failed tool's bar (the last row) selects it: its panel shows its exception.
    bar = page.locator(".js-plotly-plot .bars .point").nth(6).bounding_box()
    assert bar is not None
    page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
    page.wait_for_function("id => location.search.includes('span=' + id)", arg=scenario.failed_span)
    page.get_by_role("heading", name="execute_tool lookup_vendor").wait_for()
    # Picking another span afterwards sticks (the old click does not win it back).
    page.locator('[data-testid="stSelectbox"]').nth(1).click()
    page.get_by_role("option", name=re.compile("invoke_agent flight")).click()
    page.get_by_role("heading", name="invoke_agent flight").wait_for()
    page.wait_for_timeout(1000)
    assert page.get_by_role("heading", name="invoke_agent flight").count() == 1


def test_traces_page_shows_trace_ids(page, server, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    """The landing page shows the traces table with a known trace id; selecting a row opens
    that trace."""
    page.goto(server)
    _settle(page)
    page.get_by_role("heading", name="Traces").wait_for()
    page.get_by_text("With errors").wait_for()
    grid = page.locator('[data-testid="stDataFrame"]')
    grid.wait_for()
    _shot(page, "01-traces")
    # The grid draws on a canvas; its accessible copy carries the cell text.
    page.wait_for_function(
        "id => document.body.innerText.includes(id)"
        " || [...document.querySelectorAll('[data-testid=\"stDataFrame\"] *')]"
        ".some(e => (e.textContent || '').includes(id))",
        arg=scenario.travel_trace,
    )
    # Selecting a row (its checkbox, left of the first cell) opens that trace.
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)
    page.wait_for_url("**/trace?trace=*")
    assert scenario.extraction_trace in page.url  # the newest trace is the first row
    page.get_by_role("heading", name="Trace", exact=True).wait_for()


def test_replay_shows_agent_lanes_and_steps_forward(page, server, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    """Replay shows one lane per agent, moves to the next step (and URL) on click, and
    advances by itself while playing."""
    page.goto(f"{server}/replay?trace={scenario.intake_trace}&step=6")
    _settle(page)
    page.get_by_text("Step 6 of 16").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    lanes = page.eval_on_selector_all(
        ".js-plotly-plot .ytick text", "els => els.map(e => e.textContent)"
    )
    assert {"intake", "extraction", "compliance"} <= set(lanes)
    _shot(page, "03-replay-step6")
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.get_by_role("button", name="Step", exact=True).click()
    page.get_by_text("Step 7 of 16").wait_for()
    page.wait_for_function("() => location.search.includes('step=7')")
    _shot(page, "04-replay-step7")
    page.get_by_text("Play", exact=True).click()
    # Playing moves on by itself (each step shows for half a second: check it got past 8).
    page.wait_for_function(
        "() => { const m = document.body.innerText.match(/Step (\\d+) of 16/);"
        " return m && Number(m[1]) >= 9; }"
    )
    page.get_by_text("Play", exact=True).click()


def test_other_pages_render_their_content(page, server) -> None:  # type: ignore[no-untyped-def]
    """Agents, failures, tasks and SQL each render what they are for."""
    page.goto(f"{server}/agents")
    _settle(page)
    page.get_by_text("Orchestration: mixed.").wait_for()
    page.locator('[data-testid="stDataFrame"] canvas').first.wait_for()
    _shot(page, "05-agents")
    page.goto(f"{server}/failures")
    _settle(page)
    page.get_by_text(DIAGNOSIS).first.wait_for()
    _shot(page, "06-failures")
    page.goto(f"{server}/tasks")
    _settle(page)
    page.get_by_text("Total human wait").wait_for()
    _shot(page, "07-tasks")
    page.goto(f"{server}/sql")
    _settle(page)
    page.get_by_role("button", name="Run").click()
    page.get_by_text("row(s)").wait_for()
    _shot(page, "08-sql")
