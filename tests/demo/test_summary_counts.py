"""The demo summary counts failures, their kinds and diagnoses as the store's named queries
(and so the dashboard) do, and agrees with the diagnoses it lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

import semtrace
from semtrace.demo.summary import build_summary
from semtrace.testing import traced_db


def test_overview_count_matches_the_diagnoses_panel(tmp_path: Path) -> None:
    """Two timeouts at two places are two failures of two kinds, both diagnosed: the overview
    says so, and the diagnoses panel lists both."""
    db = tmp_path / "demo.duckdb"
    with traced_db(db, service_name="travel"), semtrace.agent("hotel_agent"):
        for name in ("search_hotels", "book_hotel"):

            @semtrace.tool(name)
            def call() -> None:
                raise TimeoutError("the hotel API did not answer in 5 s")

            with pytest.raises(TimeoutError):
                call()
    assert len(semtrace.diagnose.run(db=db)) == 2
    con = semtrace.connect(db)
    try:
        summary = build_summary(con, db=str(db), seed=7, runs=1, generated_s=0.1, elapsed_s=0.2)
        sql = con.sql("SELECT count(*), count(DISTINCT fingerprint) FROM failures").fetchall()
    finally:
        con.close()
    assert (summary.failure_count, summary.failure_kinds) == sql[0] == (2, 2)
    assert summary.diagnosed == summary.diagnosis_count == len(summary.diagnoses) == 2
    console = Console(record=True, width=200)
    summary.render(console)
    text = " ".join(console.export_text().replace("│", " ").split())  # unwrap the panels
    assert "2 failures of 2 kinds; 2 of the failures diagnosed offline" in text
    assert "one per kind of failure or slow step (fingerprint)" in text
