"""Every dashboard page, run by Streamlit's AppTest against the scenario's database."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import semtrace
from semtrace.dashboard import APP
from semtrace.dashboard._launch import ENV_DB, ENV_SERVER
from tests.dashboard.scenario import DIAGNOSIS, FAILURE_SENTENCE_PART, LOG_SENTENCE, Scenario
from tests.store.test_failure_count import write_runs


@pytest.fixture
def app(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """The dashboard app pointed at the scenario database."""
    monkeypatch.setenv(ENV_DB, str(scenario.db))
    monkeypatch.delenv(ENV_SERVER, raising=False)
    yield AppTest.from_file(str(APP), default_timeout=60)


def _open(at: AppTest, page: str, **params: str) -> AppTest:
    at.run()
    at.query_params.update(params)
    at.switch_page(f"screens/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    parts = [
        e.value
        for kind in ("markdown", "caption", "info", "error", "success", "warning")
        for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def test_traces_page_groups_traces_into_runs(app: AppTest, scenario: Scenario) -> None:
    """The landing page shows runs: the producer's and the consumer's traces are one run,
    the travel trace another, failed first in red; the Traces view lists every trace."""
    app.run()
    assert not app.exception
    assert [t.value for t in app.title] == ["Traces"]
    runs = app.dataframe[0].value
    assert sorted(runs["traces"]) == [1, 2]
    travel = runs[runs["open"] == f"/trace?trace={scenario.travel_trace}"].iloc[0]
    assert travel["run"] == "invoke_agent supervisor" and travel["failures"] == 1
    assert travel["status"] == "✗ failed"
    assert "2 runs" in _texts(app)
    app.button_group[0].set_value("Traces").run()
    df = app.dataframe[0].value
    assert set(df["trace_id"]) == {
        scenario.travel_trace,
        scenario.intake_trace,
        scenario.extraction_trace,
    }


def test_traces_page_search_shows_the_whole_sentence(app: AppTest, scenario: Scenario) -> None:
    """Typing in the search box keeps only the run whose sentences match, and lists the
    whole matching sentence under the table."""
    app.run()
    app.text_input(key="tr_text").input("Lisbon").run()
    df = app.dataframe[0].value
    assert list(df["open"]) == [f"/trace?trace={scenario.travel_trace}"]
    assert list(df["said"]) == [LOG_SENTENCE]
    assert "Sentences matching “Lisbon”" in _texts(app)
    app.text_input(key="tr_text").input("no such words anywhere").run()
    assert "No trace matches these filters." in _texts(app)


def test_trace_page_shows_failure_diagnosis_and_the_selected_span(
    app: AppTest, scenario: Scenario
) -> None:
    """The trace page for the URL's trace shows its root, the failure sentence with its
    diagnosis beside the waterfall, and the span the URL names with its details."""
    at = _open(app, "trace", trace=scenario.travel_trace, span=scenario.failed_span)
    texts = _texts(at)
    assert "### invoke_agent supervisor" in texts
    assert FAILURE_SENTENCE_PART in texts and DIAGNOSIS in texts
    assert at.selectbox(key=f"span_pick:{scenario.travel_trace}:{scenario.failed_span}")
    assert "#### execute_tool lookup_vendor" in texts
    assert "critical path (7 spans)" in texts
    assert at.get("plotly_chart")


def test_trace_page_without_a_span_selects_the_failure(app: AppTest, scenario: Scenario) -> None:
    """With no span in the URL the failed span is selected, so its error is on screen."""
    at = _open(app, "trace", trace=scenario.travel_trace)
    assert "#### execute_tool lookup_vendor" in _texts(at)


def test_trace_page_collapses_and_expands_a_span(app: AppTest, scenario: Scenario) -> None:
    """Collapsing a span hides its children from the waterfall; expanding brings them back."""
    hotel = _span_id(scenario, "invoke_agent hotel")
    at = _open(app, "trace", trace=scenario.travel_trace, span=hotel)
    assert "7 of 7 spans shown" in _texts(at)
    at.button(key="tr_collapse").click().run()
    assert "5 of 7 spans shown" in _texts(at)
    at.button(key="tr_expand").click().run()
    assert "7 of 7 spans shown" in _texts(at)


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The runs of tests.store.test_failure_count (a failure that took down 3 spans, one told
    by a log sentence alone...), the dashboard pointed at them: root name -> trace id."""
    db = tmp_path / "counted.duckdb"
    write_runs(db)
    monkeypatch.setenv(ENV_DB, str(db))
    monkeypatch.delenv(ENV_SERVER, raising=False)
    con = semtrace.connect(db)
    try:
        return {r: t for t, r in con.sql("SELECT trace_id, root_name FROM traces").fetchall()}
    finally:
        con.close()


def test_the_pages_count_failures_where_they_started(counted: dict[str, str]) -> None:
    """A failure that propagated up through 3 ERROR spans is 1 failure in the trace page's
    header and in the Traces list, a log sentence's failure 1 too; the caption counts the
    traces with a failure."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    _open(at, "trace", trace=counted["invoke_agent procurement"])
    header = next(c.value for c in at.caption if "spans ·" in c.value)
    assert " · 3 spans · 1 failure (3 ERROR spans) · " in header
    _open(at, "trace", trace=counted["invoke_agent intake"])
    header = next(c.value for c in at.caption if "spans ·" in c.value)
    assert " · 2 spans · 1 failure (0 ERROR spans) · " in header
    _open(at, "trace", trace=counted["invoke_agent ok"])
    header = next(c.value for c in at.caption if "spans ·" in c.value)
    assert " · 0 failures · " in header
    at.switch_page("screens/traces.py")
    at.run()
    at.button_group[0].set_value("Traces").run()
    df = at.dataframe[0].value
    got = dict(zip(df["root_name"], df["failures"], strict=True))
    assert got == {
        "invoke_agent procurement": 1,
        "invoke_agent intake": 1,
        "invoke_agent compliance": 1,
        "invoke_agent ok": 0,
    }
    assert "errors" not in df.columns
    assert "**4 traces**, 3 failed · " in _texts(at)


def test_an_unknown_trace_id_says_so_instead_of_showing_another(app: AppTest) -> None:
    """/trace?trace=deadbeef names no trace: the page says so and shows no trace."""
    at = _open(app, "trace", trace="deadbeef")
    assert [t.value for t in at.title] == ["Trace not found"]
    assert "No trace has the id `deadbeef`" in at.error[0].value
    assert not at.get("plotly_chart")


def _span_id(scenario: Scenario, name: str) -> str:
    import semtrace

    con = semtrace.connect(scenario.db)
    try:
        rows = con.sql(
            "SELECT span_id FROM spans WHERE trace_id = ? AND name = ?",
            params=[scenario.travel_trace, name],
        ).fetchall()
    finally:
        con.close()
    return str(rows[0][0])


def test_replay_steps_through_a_linked_run(app: AppTest, scenario: Scenario) -> None:
    """Replay opened at a step from the URL shows that event, follows the link into the
    consumer's trace, and moves one step with the step button (updating the URL)."""
    at = _open(app, "replay", trace=scenario.intake_trace, step="6")
    assert "2 trace(s)" in _texts(at)
    current = at.info[0].value
    assert current.startswith("Step 6 of 16") and "intake → extraction" in current
    assert "message on `invoice.received`" in current
    assert "the intake agent received invoice INV-7 and published it" in _texts(at)
    at.button(key="rp_next").click().run()
    assert at.info[0].value.startswith("Step 7 of 16")
    assert at.query_params["step"] in ("7", ["7"])
    at.button(key="rp_last").click().run()
    assert "task `task-42` is now **completed**" in _texts(at)


def test_replay_says_a_log_step_is_a_log_step(app: AppTest, scenario: Scenario) -> None:
    """A step that is a sentence says so (and which span it was written in)."""
    import semtrace
    from semtrace.dashboard import queries as q

    con = semtrace.connect(scenario.db)
    try:
        events = q.replay_events(con, q.causal_scope(con, scenario.intake_trace)).to_pylist()
    finally:
        con.close()
    step = next(e["step"] for e in events if e["kind"] == "log")
    at = _open(app, "replay", trace=scenario.intake_trace, step=str(step))
    assert "logs: the intake agent received invoice INV-7" in at.info[0].value
    assert "**This step is a log sentence** (INFO)" in _texts(at)


def test_agents_page_shows_topology_and_stats(app: AppTest) -> None:
    """The agents page names the orchestration and lists edges, per-agent stats, tokens and
    cost per model, and the messages between agents."""
    at = _open(app, "agents")
    assert "Orchestration: mixed." in at.success[0].value
    edges = at.dataframe[0].value
    assert {(r.source, r.target, r.kind) for r in edges.itertuples()} >= {
        ("supervisor", "flight", "call"),
        ("intake", "extraction", "message"),
    }
    stats = at.dataframe[1].value
    assert set(stats["agent_name"]) == {
        "supervisor",
        "flight",
        "hotel",
        "intake",
        "extraction",
        "compliance",
    }
    assert "None" not in stats.astype(str).to_numpy().ravel().tolist()
    models = at.dataframe[2].value
    assert set(models["model"]) == {"gpt-4o-mini"} and models["calls"].sum() == 3
    messages = at.dataframe[3].value
    assert list(messages["topic"]) == ["invoice.received"]
    assert list(messages["producer_agent"]) == ["intake"]


def test_failures_page_shows_sentence_diagnosis_and_remediation(
    app: AppTest, scenario: Scenario
) -> None:
    """Each failure group shows its sentence (headed by its span, never a template), the
    diagnosis and what to do."""
    at = _open(app, "failures")
    texts = _texts(at)
    assert FAILURE_SENTENCE_PART in texts
    assert "**hotel** · execute_tool lookup_vendor" in texts
    assert "{agent}" not in texts  # no raw template where a sentence belongs
    assert any(DIAGNOSIS in s.value and "fix input (80%)" in s.value for s in at.success)
    assert "**1 failure** of 1 kind, 1 diagnosed" in texts


def test_tasks_page_shows_states_and_human_wait(app: AppTest) -> None:
    """The tasks page lists the task with its final state and the time it waited on a human."""
    at = _open(app, "tasks")
    df = at.dataframe[0].value
    row = df[df["task_id"] == "task-42"].iloc[0]
    assert row["status"] == "completed" and row["human_wait_ms"] > 0
    assert at.metric[0].value == "1"


def test_sql_page_runs_a_query_and_reports_errors(app: AppTest, scenario: Scenario) -> None:
    """The SQL page runs the query typed, shows its rows, and explains a bad query."""
    at = _open(app, "sql")
    assert any("spans (base table)" in e.label for e in at.expander)
    at.text_area(key="sql_text").input("SELECT trace_id FROM traces WHERE error_count > 0").run()
    at.button(key="sql_run").click().run()
    assert list(at.dataframe[0].value["trace_id"]) == [scenario.travel_trace]
    at.text_area(key="sql_text").input("SELECT * FROM nope").run()
    at.button(key="sql_run").click().run()
    assert "Views:" in at.error[0].value


def test_pages_on_an_empty_database_say_what_to_do(
    empty_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no data, each page shows an informative empty state instead of failing."""
    monkeypatch.setenv(ENV_DB, str(empty_db))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert "No traces yet." in _texts(at)
    for page, expected in [
        ("trace", "No traces yet."),
        ("replay", "Nothing to replay yet."),
        ("compare", "Nothing to compare yet."),
        ("agents", "No agents yet."),
        ("failures", "No failures recorded."),
        ("tasks", "No long-running tasks yet."),
    ]:
        at.switch_page(f"screens/{page}.py")
        at.run()
        assert not at.exception, page
        assert expected in _texts(at), page


def test_a_database_not_written_yet_shows_the_waiting_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database path that does not exist yet shows "waiting for the first spans" (with how
    to get some), on every page, instead of failing."""
    monkeypatch.setenv(ENV_DB, str(tmp_path / "later.duckdb"))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Waiting for the first spans"]
    assert "semtrace demo" in at.info[0].value
    at.switch_page("screens/trace.py")
    at.run()
    assert [t.value for t in at.title] == ["Waiting for the first spans"]


def test_diagnose_now_writes_diagnoses_the_page_then_shows(
    scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pressing "Diagnose now" runs the offline rules provider on the database and the page
    shows more diagnoses afterwards."""
    import shutil

    import semtrace

    db = tmp_path / "diagnose.duckdb"
    shutil.copy(scenario.db, db)
    monkeypatch.setenv(ENV_DB, str(db))

    def count() -> int:
        con = semtrace.connect(db)
        try:
            return int(con.sql("SELECT count(*) FROM diagnoses").fetchall()[0][0])
        finally:
            con.close()

    before = count()
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page("screens/failures.py")
    at.run()
    at.button(key="fl_diagnose").click().run()
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]
    assert count() > before
    assert any("shown on this page" in s.value for s in at.success)


def test_a_file_another_process_writes_is_explained(
    scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When an embedded agent in another process holds the file, the page says who holds it
    and how to share it (a collector) instead of showing a lock traceback."""
    import shutil
    import subprocess
    import sys

    db = tmp_path / "held.duckdb"
    shutil.copy(scenario.db, db)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(db)!r}); print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        monkeypatch.setenv(ENV_DB, str(db))
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        assert not at.exception
        message = at.error[0].value
        assert f"process {holder.pid}" in message and "owner mode" in message
    finally:
        holder.communicate("", timeout=10)


def test_the_waterfall_draws_sentences_and_span_events_on_their_bars(
    app: AppTest, scenario: Scenario
) -> None:
    """Each log sentence of the trace and the failed tool's exception event is a marker on
    the bar of the span it happened in, at its time, with its text to hover."""
    import semtrace

    at = _open(app, "trace", trace=scenario.travel_trace)
    [chart] = at.get("plotly_chart")
    fig = json.loads(chart.proto.spec)
    bars = fig["data"][0]
    bar_of = {
        c[0]: (y, base, base + width)
        for c, y, base, width in zip(
            bars["customdata"], bars["y"], bars["base"], bars["x"], strict=True
        )
    }
    drawn = [
        (y, x, html.unescape(text.replace("<br>", " ")))
        for t in fig["data"][1:]
        if t.get("mode") == "markers"
        for x, y, text in zip(t["x"], t["y"], t["text"], strict=True)
    ]
    con = semtrace.connect(scenario.db)
    try:
        [[origin]] = con.sql(
            "SELECT min(start_time_ns) FROM spans WHERE trace_id = ?",
            params=[scenario.travel_trace],
        ).fetchall()
        happened = con.sql(
            """SELECT time_ns, span_id, message FROM logs WHERE trace_id = ?
               UNION ALL
               SELECT time_ns, span_id, exception_type || ': ' || exception_message
               FROM span_events WHERE trace_id = ? AND exception_type IS NOT NULL
               ORDER BY time_ns""",
            params=[scenario.travel_trace, scenario.travel_trace],
        ).fetchall()
    finally:
        con.close()
    assert LOG_SENTENCE in [text for _, _, text in happened]
    assert any(text.startswith("ValueError: ") for _, _, text in happened)
    assert len(drawn) == len(happened)
    for time_ns, span_id, text in happened:
        row, start, end = bar_of[span_id]
        x = (time_ns - origin) / 1e6
        [at_ms] = [dx for dy, dx, dt in drawn if dy == row and dt == text]
        assert at_ms == pytest.approx(x, abs=1e-3)
        assert start - 1e-3 <= at_ms <= end + 1e-3  # on its bar
