"""``semtrace diagnose`` from a terminal, on a database the real tracer wrote."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

import semtrace
from semtrace.cli import app


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, ["diagnose", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_table_then_cached(make_failure: Callable[..., None], configured: Path) -> None:
    """The summary table names the category and action; a second run comes from the cache."""
    make_failure(ConnectionRefusedError("vendor API refused the connection"))
    semtrace.shutdown()
    out = _invoke("--db", str(configured))
    assert "dependency_down" in out
    assert "retry_with_backoff" in out
    assert "1 diagnosis, one per kind of failure or finding: 1 new, 0 from cache" in out
    again = _invoke("--db", str(configured))
    assert "(cached)" in again
    assert "0 new, 1 from cache" in again


def test_cli_show_context_and_json(make_failure: Callable[..., None], configured: Path) -> None:
    """--show-context prints the redacted pack; --json prints parseable diagnoses."""
    make_failure(KeyError("last_updated"), api_key="sk-test-abcdefghijklmnop")
    semtrace.shutdown()
    out = _invoke("--db", str(configured), "--show-context")
    assert "context sent for" in out
    assert "lookup_vendor" in out
    assert "sk-test-abcdefghijklmnop" not in out
    data = json.loads(_invoke("--db", str(configured), "--json", "--limit", "1"))
    assert [d["category"] for d in data] == ["missing_data"]


def test_cli_no_failures(configured: Path) -> None:
    """A database without failures says so."""

    @semtrace.tool("ok_tool")
    def fine() -> int:
        return 1

    fine()
    semtrace.shutdown()
    assert "No failures found" in _invoke("--db", str(configured))


def test_cli_missing_file(tmp_path: Path) -> None:
    """A missing database is an error message, not a traceback."""
    result = CliRunner().invoke(app, ["diagnose", "--db", str(tmp_path / "nope.duckdb")])
    assert result.exit_code == 1
    assert "no semtrace database" in result.output


def _sql(db: Path, query: str, params: list[object] | None = None) -> Any:
    con = semtrace.connect(db)
    try:
        return con.execute(query, params or []).fetchall()[0][0]
    finally:
        con.close()


def _counted(db: Path, where: str = "", params: list[object] | None = None) -> str:
    """What the dashboard's Failures page says for these failures, counted by SQL."""
    and_where = f" AND {where}" if where else ""
    failures = _sql(db, f"SELECT count(*) FROM failures WHERE true{and_where}", params)
    kinds = _sql(
        db, f"SELECT count(DISTINCT fingerprint) FROM failures WHERE true{and_where}", params
    )
    diagnosed = _sql(
        db, f"SELECT count(*) FROM failures WHERE diagnosis IS NOT NULL{and_where}", params
    )
    findings = _sql(
        db,
        "SELECT count(*) FROM failure_fingerprints "
        f"WHERE failure_kind IN ('slow', 'loop', 'stuck_task'){and_where}",
        params,
    )

    def n(count: int, noun: str) -> str:
        return f"{count} {noun}{'' if count == 1 else 's'}"

    return (
        f"{n(failures, 'failure')} of {n(kinds, 'kind')}, {diagnosed} diagnosed · "
        f"{n(findings, 'finding')} (slow steps, loops, stuck tasks)"
    )


def test_cli_counts_failures_kinds_and_findings_as_sql_does(tmp_path: Path) -> None:
    """On the demo's database (diagnosed by this command), the summary line counts failures,
    their kinds, the diagnosed ones and the findings (a slow step is a finding, not a kind
    of failure) as SQL counts them, in the Failures page's words; the table marks the slow
    step as such. With --trace, the counts are that trace's."""
    from semtrace.demo.runner import run_demo

    db = tmp_path / "demo.duckdb"
    run_demo(db, seed=7, diagnose=False)
    raw = _invoke("--db", str(db))
    out = " ".join(raw.replace("│", " ").split())
    counted = _counted(db)
    assert not counted.startswith("0 ") and " · 0 findings" not in counted  # both, in the demo
    assert counted in out
    assert "fingerprint(s)" not in out
    con = semtrace.connect(db)
    try:
        kinds = dict(
            con.execute(
                "SELECT DISTINCT fingerprint, failure_kind FROM failure_fingerprints"
            ).fetchall()
        )
    finally:
        con.close()
    marked = dict(re.findall(r"│ ([0-9a-f]{16}) +│ (failure|slow step) +│", raw))
    assert marked == {fp: "slow step" if k == "slow" else "failure" for fp, k in kinds.items()}
    # The trace with the most failures.
    trip = str(_sql(db, "SELECT trace_id FROM failures GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"))
    one = " ".join(_invoke("--db", str(db), "--trace", trip).replace("│", " ").split())
    assert _counted(db, "trace_id = ?", [trip]) in one
