"""`semtrace --version` prints the installed version."""

from __future__ import annotations

from typer.testing import CliRunner

import semtrace
from semtrace.cli import app


def test_version_flag_prints_the_version() -> None:
    """--version prints 'semtrace X.Y.Z' and exits 0 without running a command."""
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"semtrace {semtrace.__version__}"


def test_commands_still_run_after_the_callback() -> None:
    """The root options do not swallow commands: `semtrace sql --help` still answers."""
    result = CliRunner().invoke(app, ["sql", "--help"])
    assert result.exit_code == 0 and "SQL" in result.stdout
