"""CLI commands answer bad input with an error message and exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from semtrace.cli import app


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", ["serve", "dashboard", "demo"])
def test_out_of_range_port_is_refused_before_anything_is_created(
    command: str, tmp_path: Path
) -> None:
    """A port above 65535 is a usage error and no database file is created."""
    path = tmp_path / "app.duckdb"
    code, out, err = run(command, "--db", str(path), "--port", "99999")
    assert code == 2
    assert "--port" in err and "65535" in err and "Traceback" not in out + err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["diagnose"],
        ["export", "--out", "exported"],
        ["dashboard"],
        ["doctor"],
        ["traces"],
    ],
)
def test_a_folder_as_database_is_an_error_message(args: list[str], tmp_path: Path) -> None:
    """Commands given a folder as --db print 'cannot open <folder>: ...' and exit 1."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code, out, err = run(*args, "--db", str(folder))
    assert code == 1, out + err
    assert "cannot open" in err and "folder" in err
    assert "Traceback" not in out + err
