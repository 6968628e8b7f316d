"""``semtrace diagnose`` from a terminal, on a database the real tracer wrote."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

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
    assert "1 diagnosed now" in out
    again = _invoke("--db", str(configured))
    assert "(cached)" in again
    assert "0 diagnosed now, 1 from cache" in again


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
