"""End to end: ``semtrace dashboard`` on the demo's database, driven in headless Chromium at
1440x900 (a laptop screen). One server and one browser for the whole module.

Every page is also saved as a screenshot under ``test-artifacts/dashboard/``; with
``SEMTRACE_DOCS_SCREENSHOTS=1`` they are written to ``docs/img/`` (what docs/dashboard.md
shows).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import semtrace
from tests.dashboard.conftest import Demo, free_port, needs_chromium, wait_ok

ROOT = Path(__file__).resolve().parents[2]
SHOTS = (
    ROOT / "docs" / "img"
    if os.environ.get("SEMTRACE_DOCS_SCREENSHOTS")
    else ROOT / "test-artifacts" / "dashboard"
)
WIDTH, HEIGHT = 1440, 900

pytestmark = needs_chromium


@contextlib.contextmanager
def _dashboard(db: Path) -> Iterator[str]:
    """`semtrace dashboard --db FILE --port N` running for the block; yields its URL."""
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
            proc.wait(5)


@pytest.fixture(scope="module")
def server(demo: Demo) -> Iterator[str]:
    """The dashboard on the demo's database, running until the module's tests are done."""
    with _dashboard(demo.db) as url:
        yield url


@pytest.fixture
def page(browser, server):  # type: ignore[no-untyped-def]
    """A fresh page of a laptop's size."""
    ctx = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    ctx.close()


def settle(page: Any) -> None:
    """Wait until the app is drawn and no script run is in progress."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText"
        ".includes('Running')"
    )


def shot(page: Any, name: str) -> None:
    """The first screen of the page, as a user sees it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(800)  # plotly and the grids finish drawing
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def sql(where: Demo | Path, query: str) -> Any:
    con = semtrace.connect(where.db if isinstance(where, Demo) else where)
    try:
        return con.sql(query).fetchall()[0][0]
    finally:
        con.close()


def text_of(page: Any) -> str:
    return str(page.locator('[data-testid="stMain"]').inner_text())


def test_counts_on_the_pages_equal_sql(page, server, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    """The traces, failed traces, failures, kinds of failure, diagnosed failures, slow steps
    and agents the pages count are what SQL counts on the same database, and what the demo's
    story said."""
    traces = sql(demo, "SELECT count(*) FROM traces")
    failed = sql(demo, "SELECT count(*) FROM traces WHERE failure_count > 0")  # a failure or more
    agents = sql(demo, "SELECT count(*) FROM agents")
    failures = sql(demo, "SELECT count(*) FROM failures")
    kinds = sql(demo, "SELECT count(DISTINCT fingerprint) FROM failures")
    diagnosed = sql(demo, "SELECT count(*) FROM failures WHERE diagnosis IS NOT NULL")
    slow = sql(demo, "SELECT count(*) FROM failure_fingerprints WHERE failure_kind = 'slow'")
    errors = sql(
        demo,
        "SELECT (SELECT count(*) FROM spans WHERE status_code = 'ERROR') + "
        "(SELECT count(*) FROM logs WHERE severity IN ('ERROR', 'CRITICAL'))",
    )
    # Counted where they started: the spans a failure took down and the sentences telling
    # of it again are not failures of their own.
    assert 0 < kinds <= failures < errors
    steps = f" and {slow} slow step{'' if slow == 1 else 's'}" if slow else ""
    assert (
        f"{failures} failures of {kinds} kinds{steps}; {diagnosed} of the failures "
        "diagnosed offline"
    ) in demo.story
    page.goto(f"{server}/traces?view=Traces")
    settle(page)
    page.get_by_text(f"{traces} traces, {failed} failed").wait_for()
    page.goto(server)
    settle(page)
    page.get_by_text("16 runs, ").wait_for()
    shot(page, "01-runs")
    page.goto(f"{server}/failures")
    settle(page)
    page.get_by_text(f"{failures} failures of {kinds} kinds, {diagnosed} diagnosed").wait_for()
    page.get_by_text(f"{slow} finding{'' if slow == 1 else 's'} ").wait_for()
    shot(page, "06-failures")
    page.goto(f"{server}/agents")
    settle(page)
    page.get_by_text(f"{agents} agents").first.wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    shot(page, "05-agents")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _failures_caption(db: Path) -> str:
    """The Failures page's count line (all time) for ``db`` once diagnosed (every failure
    has its fingerprint), counted by SQL."""
    failures = sql(db, "SELECT count(*) FROM failures")
    kinds = sql(db, "SELECT count(DISTINCT fingerprint) FROM failures")
    diagnosed = sql(db, "SELECT count(*) FROM failures WHERE diagnosis IS NOT NULL")
    found = sql(
        db,
        "SELECT count(*) FROM failure_fingerprints "
        "WHERE failure_kind IN ('slow', 'loop', 'stuck_task')",
    )
    return (
        f"{_n(failures, 'failure')} of {_n(kinds, 'kind')}, {diagnosed} diagnosed · "
        f"{_n(found, 'finding')} "
    )


def test_diagnose_now_updates_the_failures_page(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """On a demo database not diagnosed yet, pressing "Diagnose now" on the Failures page
    diagnoses it and the page's counts change to what SQL counts afterwards: every failure
    diagnosed, the slow step found."""
    db = tmp_path / "undiagnosed.duckdb"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from semtrace.demo.runner import run_demo; "
            "run_demo(sys.argv[1], diagnose=False)",
            str(db),
        ],
        check=True,
        timeout=240,
    )
    failures = sql(db, "SELECT count(*) FROM failures")
    assert failures and not sql(db, "SELECT count(*) FROM diagnoses")
    before = re.compile(rf"^{_n(failures, 'failure')} of \d+ kinds?, 0 diagnosed · 0 findings ")
    with _dashboard(db) as url:
        ctx = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        try:
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{url}/failures")
            settle(page)
            page.get_by_text(before).wait_for()
            page.get_by_text("Not diagnosed yet").first.wait_for()
            page.get_by_role("button", name="Diagnose now").click()
            page.get_by_text("shown on this page").wait_for()
            settle(page)
            after = _failures_caption(db)
            assert f"{failures} diagnosed · " in after and " · 0 findings" not in after
            page.get_by_text(after.strip()).wait_for()
            assert page.get_by_text(before).count() == 0
            assert page.get_by_text("Not diagnosed yet").count() == 0
        finally:
            ctx.close()


def test_waterfall_is_on_the_first_screen_of_a_failing_trace(page, server, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    """On the failing trip, the whole waterfall (with its durations) and the failure panel
    are on the first screen at 1440x900; clicking a bar selects that span."""
    page.goto(f"{server}/trace?trace={demo.failing_trip}")
    settle(page)
    page.locator(".js-plotly-plot .bars").first.wait_for()
    chart = page.locator(".js-plotly-plot").first.bounding_box()
    assert chart is not None
    assert chart["y"] >= 0 and chart["y"] + chart["height"] <= HEIGHT, chart
    labels = page.eval_on_selector_all(
        ".js-plotly-plot .textpoint text", "els => els.map(e => e.textContent.trim())"
    )
    assert any(re.fullmatch(r"[\d.]+ (ms|s|µs)", t or "") for t in labels), labels
    panel = page.get_by_text(re.compile(r"^\d+ failures?$")).bounding_box()
    assert panel is not None and panel["y"] < HEIGHT
    shot(page, "02-trace")
    # Clicking the bar of the failed hotel tool selects it.
    tool = sql(
        demo,
        f"SELECT span_id FROM spans WHERE trace_id = '{demo.failing_trip}' "
        "AND name = 'execute_tool search_hotels'",
    )
    names = page.eval_on_selector_all(
        ".js-plotly-plot .yaxislayer-above .ytick text", "els => els.map(e => e.textContent)"
    )
    row = next(i for i, n in enumerate(names) if "search_hotels" in (n or ""))
    bars = page.locator(".js-plotly-plot .bars").first.locator(".point")
    box = bars.nth(len(names) - 1 - row).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("id => location.search.includes('span=' + id)", arg=tool)
    page.get_by_role("heading", name=re.compile("execute_tool search_hotels")).wait_for()


def test_stack_trace_is_readable(page, server, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    """A failed LLM call's stack trace shows the demo's frame and the exception, not
    semtrace's own decorator frame."""
    span = sql(
        demo,
        f"SELECT span_id FROM spans WHERE trace_id = '{demo.rate_limited}' "
        "AND status_code = 'ERROR' ORDER BY start_time_ns LIMIT 1",
    )
    page.goto(f"{server}/trace?trace={demo.rate_limited}&span={span}")
    settle(page)
    page.locator(".js-plotly-plot .bars").first.wait_for()
    page.get_by_text("backoff").first.wait_for()
    shot(page, "03-trace-backoff")
    page.get_by_role("tab", name="Stack trace").click()
    page.get_by_text("llm_sim.py:").first.wait_for()
    tab = page.get_by_role("tabpanel").filter(has_text="llm_sim.py")
    assert "decorators.py" not in tab.inner_text()
    assert "frame(s) of semtrace's own instrumentation left out" in tab.inner_text()
    page.get_by_text("RateLimitError: Error code: 429").first.wait_for()
    page.get_by_role("tab", name="Stack trace").evaluate(
        "el => el.scrollIntoView({block: 'start'})"
    )
    shot(page, "03-stack-trace")


def test_an_unknown_or_ambiguous_id_is_explained(page, server, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    """/trace?trace=deadbeef says no trace has that id and shows no trace; an ambiguous
    prefix lists the traces it matches, and picking one opens it."""
    page.goto(f"{server}/trace?trace=deadbeef")
    settle(page)
    page.get_by_role("heading", name="Trace not found").wait_for()
    page.get_by_text("No trace has the id").wait_for()
    assert page.locator(".js-plotly-plot").count() == 0
    shot(page, "09-trace-not-found")
    prefix = sql(
        demo,
        "SELECT left(trace_id, 1) FROM traces GROUP BY 1 HAVING count(*) > 1 "
        "ORDER BY count(*) DESC, 1 LIMIT 1",
    )
    page.goto(f"{server}/trace?trace={prefix}")
    settle(page)
    page.get_by_text("pick one").wait_for()
    choices = page.locator('[data-testid="stPageLink"]').filter(
        has_text=re.compile(f"{prefix}[0-9a-f]{{31}} · ")
    )
    choices.nth(1).wait_for()
    chosen = re.findall(f"{prefix}[0-9a-f]{{31}}", choices.first.inner_text())[0]
    choices.first.click()
    page.wait_for_function("id => location.search.includes('trace=' + id)", arg=chosen)
    page.locator(".js-plotly-plot .bars").first.wait_for()


def test_replay_of_one_invoice_stays_in_its_run(page, server, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    """Replaying procurement's failure on one invoice covers that invoice's traces only:
    its lanes are the agents that handled it, and each sentence is told once."""
    page.goto(f"{server}/replay?trace={demo.vendor_failure}")
    settle(page)
    page.get_by_text("4 trace(s)").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    lanes = page.eval_on_selector_all(
        ".js-plotly-plot .ytick text", "els => els.map(e => e.textContent)"
    )
    assert {"intake", "extraction", "procurement"} <= set(lanes)
    assert not {"compliance", "payments"} & set(lanes)
    page.get_by_role("button", name="Last").click()
    page.wait_for_function("() => /Step (\\d+) of \\1\\b/.test(document.body.innerText)")
    settle(page)
    said = page.locator('[data-testid="stMain"]').inner_text()
    sentence = "failed to retrieve the vendor ID because the Last-updated field was null"
    assert said.count(sentence) == 1
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "04-replay")


def _steps(demo: Demo, trace_id: str) -> list[dict[str, Any]]:
    con = semtrace.connect(demo.db)
    try:
        return [
            dict(zip(("agent", "name", "status", "input", "output"), row, strict=True))
            for row in con.execute(
                "SELECT agent_name, name, status_code, input, output FROM spans "
                "WHERE trace_id = ? ORDER BY start_time_ns",
                [trace_id],
            ).fetchall()
        ]
    finally:
        con.close()


def _grid(page: Any) -> list[dict[str, str]]:
    """The rows of the page's (first) data grid, by column name, cells stripped."""
    rows = page.eval_on_selector_all(
        '[data-testid="stDataFrame"] table tr',
        "els => els.map(e => [...e.children].map(c => c.textContent))",
    )
    head = [h.strip() for h in rows[0]]
    return [dict(zip(head, (c.strip() for c in r), strict=False)) for r in rows[1:]]


def test_compare_two_demo_runs(page, server, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    """Comparing the failing trip with a good one: another trip is chosen as run B, and
    what differs is what the two traces' spans say: the steps only B had (the car booking)
    are added in B, the hotel steps that failed in A and not in B have another outcome, the
    tools called with other arguments or answering otherwise are marked, and a step's two
    inputs are shown side by side. The chart's axis ticks are not covered by its legend."""
    page.goto(f"{server}/compare?a={demo.failing_trip}")
    settle(page)
    page.get_by_role("heading", name="Compare two runs").wait_for()
    page.wait_for_function("() => location.search.includes('b=')")
    b = re.findall(r"[?&]b=([0-9a-f]{32})", page.url)[0]
    steps_a, steps_b = _steps(demo, demo.failing_trip), _steps(demo, b)
    assert b != demo.failing_trip

    def key(s: dict[str, Any]) -> tuple[str, str]:
        return (s["agent"] or "", s["name"])

    count_a = collections.Counter(key(s) for s in steps_a)
    count_b = collections.Counter(key(s) for s in steps_b)
    added, missing = count_b - count_a, count_a - count_b
    failed_a = {key(s) for s in steps_a if s["status"] == "ERROR"}
    failed_b = {key(s) for s in steps_b if s["status"] == "ERROR"}
    outcome = (failed_a ^ failed_b) & (set(count_a) & set(count_b))
    assert ("car_agent", "execute_tool book_car") in added and outcome
    summary = page.get_by_text(re.compile("^Run B took")).inner_text().replace("**", "")
    steps = len(steps_b) + sum(missing.values())  # B's steps, and the ones only A had
    assert (
        f"{steps} steps: {sum(added.values())} added, {sum(missing.values())} missing, "
        f"{len(outcome)} with another outcome"
    ) in summary, summary
    page.locator('[data-testid="stDataFrame"]').wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stDataFrame\"] td')]"
        ".some(e => (e.textContent || '').includes('failed in A, ok in B'))"
    )
    rows = _grid(page)
    assert len(rows) == steps
    by_name: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    for r in rows:
        by_name[r["step"]].append(r)
    for _, name in added:
        assert any(r["A"] == "—" and "added in B" in r["what differs"] for r in by_name[name])
    for _, name in outcome:
        assert any("failed in A, ok in B" in r["what differs"] for r in by_name[name]), name
    # Tools called once in each run: other arguments, other results.
    tools_a = {s["name"]: s for s in steps_a if s["name"].startswith("execute_tool")}
    tools_b = {s["name"]: s for s in steps_b if s["name"].startswith("execute_tool")}
    both = sorted(
        t
        for t in set(tools_a) & set(tools_b)
        if count_a[key(tools_a[t])] == count_b[key(tools_b[t])] == 1
    )
    other_input = [
        t for t in both if json.loads(tools_a[t]["input"]) != json.loads(tools_b[t]["input"])
    ]
    other_output = [
        t
        for t in both
        if tools_a[t]["output"] is not None
        and tools_b[t]["output"] is not None
        and tools_a[t]["output"] != tools_b[t]["output"]
    ]
    assert "execute_tool search_hotels" in other_input and other_output
    for t in both:
        [row] = by_name[t]
        assert ("different input" in row["what differs"]) == (t in other_input), row
        assert ("different output" in row["what differs"]) == (t in other_output), row
    # The hotel search, both sides: each run's own arguments.
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Step").click()
    page.keyboard.type("search_hotels")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stColumn\"]')]"
        ".some(e => e.innerText.startsWith('Run A') && e.innerText.includes('hotel_agent · '))"
    )
    sides = page.locator('[data-testid="stColumn"]').filter(has_text="Open on the trace page")
    texts = {
        t.split("\n", 1)[0]: t for t in sides.all_inner_texts() if t.startswith(("Run A", "Run B"))
    }
    args_a = json.loads(tools_a["execute_tool search_hotels"]["input"])
    args_b = json.loads(tools_b["execute_tool search_hotels"]["input"])
    differ = [k for k, v in args_a.items() if isinstance(v, str) and v != args_b.get(k)]
    assert differ  # the city searched
    for k in differ:
        assert args_a[k] in texts["Run A"] and args_a[k] not in texts["Run B"], (k, texts)
        assert args_b[k] in texts["Run B"] and args_b[k] not in texts["Run A"], (k, texts)
    # No axis tick of the chart under its legend (the "0" was clipped to a "(").
    page.locator(".js-plotly-plot .bars").first.wait_for()
    ticks = page.locator(".js-plotly-plot").first.locator(".xtick text")
    legend = page.locator(".js-plotly-plot").first.locator(".legend").bounding_box()
    assert legend is not None and ticks.count() >= 2
    assert ticks.first.text_content() == "0"
    for i in range(ticks.count()):
        tick = ticks.nth(i).bounding_box()
        assert tick is not None
        apart = (
            tick["x"] + tick["width"] <= legend["x"]
            or legend["x"] + legend["width"] <= tick["x"]
            or tick["y"] + tick["height"] <= legend["y"]
            or legend["y"] + legend["height"] <= tick["y"]
        )
        assert apart, (ticks.nth(i).text_content(), tick, legend)
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "07-compare")


def test_sessions_view_shows_threads(page, server) -> None:  # type: ignore[no-untyped-def]
    """The Sessions view lists the trips as sessions and shows one as a chat thread; /traces
    (the URL the docs give) is the same page."""
    page.goto(f"{server}/traces?view=Sessions")
    settle(page)
    page.get_by_text("4 sessions").wait_for()
    page.locator('[data-testid="stChatMessage"]').first.wait_for()
    page.locator('[data-testid="stDataFrame"] canvas').first.wait_for()
    settle(page)
    shot(page, "08-sessions")


def test_other_pages_render(page, server) -> None:  # type: ignore[no-untyped-def]
    """Tasks, the Inbox and SQL each render what they are for."""
    page.goto(f"{server}/tasks")
    settle(page)
    page.get_by_text("Total human wait").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    shot(page, "10-tasks")
    page.goto(f"{server}/inbox")
    settle(page)
    page.get_by_role("heading", name="Inbox").wait_for()  # its shot: test_inbox_browser
    page.goto(f"{server}/sql")
    settle(page)
    page.get_by_role("button", name="Run").click()
    page.get_by_text("row(s)").wait_for()
    shot(page, "11-sql")
