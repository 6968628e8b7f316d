"""``semtrace dashboard``: argument checks and the Streamlit command it runs."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from semtrace.cli import app
from semtrace.dashboard import APP, streamlit_command


def test_missing_database_fails_with_a_hint(tmp_path: Path) -> None:
    """A --db that does not exist exits 1 and says how to create one."""
    result = CliRunner().invoke(app, ["dashboard", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert "semtrace demo" in " ".join(result.output.split())


def test_db_and_server_together_are_refused(tmp_path: Path) -> None:
    """--db and --server name two sources: the command refuses rather than guess."""
    result = CliRunner().invoke(
        app, ["dashboard", "--db", str(tmp_path / "x.duckdb"), "--server", "http://127.0.0.1:1"]
    )
    assert result.exit_code == 1
    assert "either --db or --server" in result.output


def test_streamlit_runs_the_app_headless_on_the_requested_address() -> None:
    """The command line runs our app file headless, on the port and host asked for."""
    cmd = streamlit_command(port=8765, host="0.0.0.0")
    assert cmd[1:5] == ["-m", "streamlit", "run", str(APP)]
    assert {"--server.headless=true", "--server.port=8765", "--server.address=0.0.0.0"} <= set(cmd)
