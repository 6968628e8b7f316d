"""``semtrace dashboard``: argument checks, the port it picks, the Streamlit command it runs."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from semtrace.cli import app
from semtrace.dashboard import APP, DEFAULT_PORT, choose_port, resolve_db, streamlit_command
from semtrace.exceptions import ConfigurationError
from tests.dashboard.conftest import wait_ok


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something listens on, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_a_database_in_a_missing_folder_fails_with_a_hint(tmp_path: Path) -> None:
    """A --db whose folder does not exist exits 1 and says to check the path."""
    result = CliRunner().invoke(app, ["dashboard", "--db", str(tmp_path / "no" / "x.duckdb")])
    assert result.exit_code == 1
    assert "check the --db path" in " ".join(result.output.split())


def test_a_database_not_written_yet_is_accepted(tmp_path: Path) -> None:
    """A file that does not exist yet (agents will write it) is a valid target: the
    dashboard waits for its first spans."""
    assert resolve_db(tmp_path / "later.duckdb") == str(tmp_path / "later.duckdb")


def test_db_and_server_together_are_refused(tmp_path: Path) -> None:
    """--db and --server name two sources: the command refuses rather than guess."""
    result = CliRunner().invoke(
        app, ["dashboard", "--db", str(tmp_path / "x.duckdb"), "--server", "http://127.0.0.1:1"]
    )
    assert result.exit_code == 1
    assert "either --db or --server" in result.output


def test_a_taken_port_asked_for_is_refused_with_what_to_do(busy_port: int, tmp_path: Path) -> None:
    """--port on a port in use fails at once, saying to pass another or leave it out."""
    with pytest.raises(ConfigurationError, match="leave --port out"):
        choose_port(busy_port)
    result = CliRunner().invoke(
        app, ["dashboard", "--db", str(tmp_path / "x.duckdb"), "--port", str(busy_port)]
    )
    assert result.exit_code == 1
    assert f"port {busy_port}" in result.output and "--port" in result.output


def test_without_a_port_the_default_or_the_next_free_one_is_used() -> None:
    """No --port: the default port when it is free, else the next free one after it."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", DEFAULT_PORT))
        except OSError:
            pytest.skip(f"port {DEFAULT_PORT} is in use on this machine")
        s.listen()
        chosen = choose_port(None)
        assert chosen != DEFAULT_PORT
    with socket.socket() as check:
        check.bind(("127.0.0.1", chosen))  # it was free


def test_streamlit_runs_the_app_headless_on_the_requested_address() -> None:
    """The command line runs our app file headless, on the port and host asked for."""
    cmd = streamlit_command(port=8765, host="0.0.0.0")
    assert cmd[1:5] == ["-m", "streamlit", "run", str(APP)]
    assert {"--server.headless=true", "--server.port=8765", "--server.address=0.0.0.0"} <= set(cmd)


def test_demo_serves_on_another_port_when_the_default_is_taken(tmp_path: Path) -> None:
    """`semtrace demo` with port 8501 taken says so and serves the dashboard on a free port
    (the URL it prints answers) instead of failing."""
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", DEFAULT_PORT))
        blocker.listen()
    except OSError:
        pass  # something else already holds it: just as good
    exe = str(Path(sys.executable).with_name("semtrace"))
    proc = subprocess.Popen(
        [exe, "demo", "--db", str(tmp_path / "demo.duckdb")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if "Serving the dashboard" in line:
                break
        said = "".join(lines)
        assert f"Port {DEFAULT_PORT} is in use; serving on" in said, said
        # Tests run in embedded mode: no review can wait in the Inbox, and the demo says so.
        assert "No review waits in the Inbox: in embedded mode" in " ".join(said.split())
        url = re.search(r"http://127\.0\.0\.1:(\d+)", lines[-1])
        assert url is not None and int(url.group(1)) != DEFAULT_PORT
        wait_ok(f"{url.group(0)}/_stcore/health", proc, text="ok")  # type: ignore[arg-type]
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        blocker.close()
