"""Every dashboard page, run by Streamlit's AppTest against the scenario's database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from semtrace.dashboard import APP
from semtrace.dashboard._launch import ENV_DB, ENV_SERVER
from tests.dashboard.scenario import DIAGNOSIS, FAILURE_SENTENCE_PART, LOG_SENTENCE, Scenario


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


def test_traces_page_lists_every_trace(app: AppTest, scenario: Scenario) -> None:
    """The landing page lists the three traces with their root names and error counts."""
    app.run()
    assert not app.exception
    assert [t.value for t in app.title] == ["Traces"]
    df = app.dataframe[0].value
    assert set(df["trace_id"]) == {
        scenario.travel_trace,
        scenario.intake_trace,
        scenario.extraction_trace,
    }
    travel = df[df["trace_id"] == scenario.travel_trace].iloc[0]
    assert travel["root_name"] == "invoke_agent supervisor" and travel["error_count"] == 1
    assert travel["open"] == f"/trace?trace={scenario.travel_trace}"


def test_traces_page_searches_sentences(app: AppTest, scenario: Scenario) -> None:
    """Typing in the search box keeps only the trace whose sentences match, showing the hit."""
    app.run()
    app.text_input(key="tr_text").input("Lisbon").run()
    df = app.dataframe[0].value
    assert list(df["trace_id"]) == [scenario.travel_trace]
    assert list(df["matched_sentence"]) == [LOG_SENTENCE]
    app.text_input(key="tr_text").input("no such words anywhere").run()
    assert "No trace matches these filters." in _texts(app)


def test_trace_page_shows_failure_diagnosis_and_critical_path(
    app: AppTest, scenario: Scenario
) -> None:
    """The trace page for the URL's trace shows its root, the failure sentence, the diagnosis,
    a waterfall, and the span the URL names with its attributes."""
    at = _open(app, "trace", trace=scenario.travel_trace, span=scenario.failed_span)
    assert at.selectbox(key="trace_pick").value == scenario.travel_trace
    assert at.subheader[0].value == "invoke_agent supervisor"
    assert any(FAILURE_SENTENCE_PART in e.value for e in at.error)
    assert any(DIAGNOSIS in s.value for s in at.success)
    assert at.selectbox(key=f"span_pick:{scenario.travel_trace}").value == scenario.failed_span
    assert "execute_tool lookup_vendor" in _texts(at)
    assert "critical path: 7 spans" in _texts(at)
    assert at.get("plotly_chart")


def test_trace_page_collapses_and_expands_a_span(app: AppTest, scenario: Scenario) -> None:
    """Collapsing a span hides its children from the waterfall; expanding brings them back."""
    hotel = "invoke_agent hotel"
    at = _open(app, "trace", trace=scenario.travel_trace)
    assert "7 of 7 spans shown" in _texts(at)
    at.selectbox(key=f"span_pick:{scenario.travel_trace}").set_value(
        _span_id(scenario, hotel)
    ).run()
    at.button[1].click().run()  # Collapse span
    assert "5 of 7 spans shown" in _texts(at)
    at.button[0].click().run()  # Expand span
    assert "7 of 7 spans shown" in _texts(at)


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
    models = at.dataframe[2].value
    assert set(models["model"]) == {"gpt-4o-mini"} and models["calls"].sum() == 3
    if len(at.dataframe) > 3:  # the messages view, when this semtrace has it
        messages = at.dataframe[3].value
        assert list(messages["topic"]) == ["invoice.received"]
        assert list(messages["producer_agent"]) == ["intake"]


def test_failures_page_shows_sentence_diagnosis_and_remediation(
    app: AppTest, scenario: Scenario
) -> None:
    """Each failure group shows its example sentence, diagnosis and remediation actions."""
    at = _open(app, "failures")
    assert any(FAILURE_SENTENCE_PART in e.value for e in at.error)
    assert any(DIAGNOSIS in s.value for s in at.success)
    assert list(at.dataframe[0].value["action"]) == ["fix_input"]
    assert at.metric[0].value == "1"


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
        ("agents", "No agents yet."),
        ("failures", "No failures recorded."),
        ("tasks", "No long-running tasks yet."),
    ]:
        at.switch_page(f"screens/{page}.py")
        at.run()
        assert not at.exception, page
        assert expected in _texts(at), page


def test_missing_database_is_reported_on_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database path that does not exist gives an error telling how to create one."""
    monkeypatch.setenv(ENV_DB, str(tmp_path / "missing.duckdb"))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert "semtrace demo" in at.error[0].value


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
