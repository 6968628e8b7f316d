"""The dashboard reading through a real ``semtrace serve`` collector that owns the file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from semtrace.dashboard import APP
from semtrace.dashboard._launch import ENV_DB, ENV_SERVER
from tests.dashboard.conftest import free_port, wait_ok
from tests.dashboard.scenario import DIAGNOSIS, Scenario


@pytest.fixture(scope="module")
def collector(
    scenario: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """`semtrace serve` owning a copy of the scenario database; yields (url, db)."""
    db = tmp_path_factory.mktemp("served") / "served.duckdb"
    shutil.copy(scenario.db, db)
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("semtrace")),
            "serve",
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
        wait_ok(f"{url}/health", proc)
        yield url, db
    finally:
        proc.terminate()
        proc.wait(10)


def test_server_url_serves_every_page(
    collector: tuple[str, Path], scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --server URL, the traces, trace and replay pages read through the collector."""
    url, _ = collector
    monkeypatch.delenv(ENV_DB, raising=False)
    monkeypatch.setenv(ENV_SERVER, url)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert scenario.travel_trace in set(at.dataframe[0].value["trace_id"])
    at.query_params["trace"] = scenario.travel_trace
    at.switch_page("screens/trace.py")
    at.run()
    assert not at.exception, at.exception
    assert any(DIAGNOSIS in m.value for m in at.markdown)
    at.query_params.update({"trace": scenario.intake_trace, "step": "6"})
    at.switch_page("screens/replay.py")
    at.run()
    assert not at.exception, at.exception
    assert "intake → extraction" in at.info[0].value


def test_db_owned_by_a_collector_is_read_through_it(
    collector: tuple[str, Path], scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pointing --db at a file the collector owns works: no lock error, the same traces."""
    _, db = collector
    monkeypatch.delenv(ENV_SERVER, raising=False)
    monkeypatch.setenv(ENV_DB, str(db))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert not at.error
    assert scenario.travel_trace in set(at.dataframe[0].value["trace_id"])
