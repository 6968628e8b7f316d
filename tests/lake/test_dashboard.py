"""`semtrace dashboard --lake`: every page, run by Streamlit's AppTest over a lake.

The dashboard's scenario (tests/dashboard/scenario.py) is published to a lake by a sink,
then its database file is deleted: what the pages show can only come from the lake. The
CLI passes the lake in SEMTRACE_DASHBOARD_LAKE, as set here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from semtrace.dashboard import APP
from semtrace.dashboard._launch import ENV_DB, ENV_LAKE, ENV_SERVER
from semtrace.lake import LakeSink, connect_lake
from semtrace.store.database import Store
from tests.dashboard import scenario as scenario_mod
from tests.dashboard.scenario import DIAGNOSIS, FAILURE_SENTENCE_PART, Scenario
from tests.dashboard.test_pages import _open, _texts


@pytest.fixture(scope="module")
def lake_scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Scenario]:
    """The dashboard's scenario, published to a lake; its database file deleted."""
    root = tmp_path_factory.mktemp("dash-lake")
    scenario = scenario_mod.build(root / "semtrace.duckdb")
    store = Store(scenario.db)
    assert LakeSink(store, root / "lake").flush() > 0
    store.close()
    for leftover in root.glob("semtrace.duckdb*"):
        os.unlink(leftover)
    return root / "lake", scenario


@pytest.fixture
def app(lake_scenario: tuple[Path, Scenario], monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv(ENV_LAKE, str(lake_scenario[0]))
    monkeypatch.delenv(ENV_DB, raising=False)
    monkeypatch.delenv(ENV_SERVER, raising=False)
    yield AppTest.from_file(str(APP), default_timeout=60)


def _lake_count(lake: Path, sql: str) -> int:
    con = connect_lake(lake)
    try:
        return int(con.execute(sql).fetchall()[0][0])
    finally:
        con.close()


def test_the_traces_page_lists_the_lakes_runs_and_traces(
    app: AppTest, lake_scenario: tuple[Path, Scenario]
) -> None:
    """The landing page reads the lake (the sidebar says so): two runs, the failed one
    first, and every trace of the lake in the Traces view."""
    lake, scenario = lake_scenario
    app.run()
    assert not app.exception, app.exception
    assert f"Reading `lake {lake}`" in [c.value for c in app.sidebar.caption]
    runs = app.dataframe[0].value
    assert sorted(runs["traces"]) == [1, 2]
    travel = runs[runs["open"] == f"/trace?trace={scenario.travel_trace}"].iloc[0]
    assert travel["failures"] == 1 and travel["status"] == "✗ failed"
    assert "2 runs" in _texts(app)
    app.button_group[0].set_value("Traces").run()
    traces = set(app.dataframe[0].value["trace_id"])
    assert traces == {scenario.travel_trace, scenario.intake_trace, scenario.extraction_trace}
    assert len(traces) == _lake_count(lake, "SELECT count(*) FROM traces")


def test_the_trace_page_draws_a_trace_from_the_lake(
    app: AppTest, lake_scenario: tuple[Path, Scenario]
) -> None:
    """The travel trace's page: its root, the failure with its diagnosis, every span."""
    lake, scenario = lake_scenario
    at = _open(app, "trace", trace=scenario.travel_trace)
    texts = _texts(at)
    spans = _lake_count(
        lake, f"SELECT count(*) FROM spans WHERE trace_id = '{scenario.travel_trace}'"
    )
    assert "### invoke_agent supervisor" in texts
    assert FAILURE_SENTENCE_PART in texts and DIAGNOSIS in texts
    assert f"{spans} of {spans} spans shown" in texts
    assert at.get("plotly_chart")


def test_the_agents_failures_and_tasks_pages_show_the_lakes_counts(
    app: AppTest, lake_scenario: tuple[Path, Scenario]
) -> None:
    """Agents (every agent, the model's calls), failures (one, diagnosed) and tasks (one,
    completed after a human's answer) as the lake holds them."""
    lake, _ = lake_scenario
    at = _open(app, "agents")
    stats = at.dataframe[1].value
    assert len(stats) == _lake_count(lake, "SELECT count(*) FROM agents") == 6
    models = at.dataframe[2].value
    assert models["calls"].sum() == _lake_count(lake, "SELECT count(*) FROM llm_calls") == 3
    assert list(at.dataframe[3].value["topic"]) == ["invoice.received"]
    at = _open(app, "failures")
    assert _lake_count(lake, "SELECT count(*) FROM failures") == 1
    assert "**1 failure** of 1 kind, 1 diagnosed" in _texts(at)
    at = _open(app, "tasks")
    row = at.dataframe[0].value.iloc[0]
    assert row["task_id"] == "task-42" and row["status"] == "completed"
    assert at.metric[0].value == str(_lake_count(lake, "SELECT count(*) FROM tasks")) == "1"


def test_the_sql_page_queries_the_lake(app: AppTest, lake_scenario: tuple[Path, Scenario]) -> None:
    """The SQL page answers over the lake: the spans it counts are the lake's."""
    lake, _ = lake_scenario
    at = _open(app, "sql")
    at.text_area(key="sql_text").input("SELECT count(*) AS n FROM spans").run()
    at.button(key="sql_run").click().run()
    assert not at.exception, at.exception
    (n,) = at.dataframe[0].value["n"]
    assert n == _lake_count(lake, "SELECT count(*) FROM spans") > 0
