"""The demo summary's count of diagnosed failures matches the diagnoses it lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

import semtrace
from semtrace.demo.summary import build_summary
from semtrace.testing import traced_db


def test_overview_count_matches_the_diagnoses_panel(tmp_path: Path) -> None:
    """Two timeouts at two places are two entries, and the overview says 2, whatever it was told."""
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
        summary = build_summary(
            con, db=str(db), seed=7, runs=1, generated_s=0.1, elapsed_s=0.2, diagnosed=1
        )
    finally:
        con.close()
    assert summary.diagnosed == len(summary.diagnoses) == 2
    console = Console(record=True, width=200)
    summary.render(console)
    text = " ".join(console.export_text().replace("│", " ").split())  # unwrap the panels
    assert "2 distinct failures (fingerprints) diagnosed offline" in text
    assert "one per distinct failure (fingerprint)" in text
