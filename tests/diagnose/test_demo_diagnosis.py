"""``semtrace demo`` with run()'s default thresholds: the stalled hotel chain is diagnosed."""

from __future__ import annotations

from pathlib import Path

import semtrace
from semtrace.demo.runner import run_demo


def test_demo_diagnoses_the_slow_hotel_chain(tmp_path: Path) -> None:
    """The run where the hotel API answered slowly (no error) is diagnosed as the search_hotels
    call holding up the supervisor chain; the human wait of the compliance task is not."""
    db = tmp_path / "demo.duckdb"
    run_demo(db, seed=7)
    con = semtrace.connect(db)
    try:
        rows = con.execute(
            """SELECT d.category, d.summary, f.failure_kind, s.name, s.status_code
               FROM diagnoses d
               JOIN failure_fingerprints f USING (fingerprint)
               JOIN spans s ON s.trace_id = f.trace_id AND s.span_id = f.span_id
               WHERE f.failure_kind = 'slow'"""
        ).fetchall()
    finally:
        con.close()
    hotel = [r for r in rows if r[3] == "execute_tool search_hotels"]
    assert [(r[0], r[4]) for r in hotel] == [("timeout", "UNSET")]
    assert "search_hotels was held up" in hotel[0][1]
    # Steps that wait on a human (the compliance review) are never slow steps.
    assert not [r for r in rows if "compliance" in r[3] or "invoice" in r[3]]
