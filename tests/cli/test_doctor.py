"""`semtrace doctor`: a table without empty columns, and errors instead of tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import semtrace
from semtrace.cli import app
from semtrace.store.stats import STATS
from semtrace.testing import traced_db


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database the tracer wrote one trace into."""
    path = tmp_path_factory.mktemp("cli-doctor") / "semtrace.duckdb"
    STATS.reset()  # the stats row tells this file's story, not earlier tests' drops
    with traced_db(path, service_name="billing"), semtrace.agent("procurement"):
        pass
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.stdout, result.stderr


def test_doctor_hides_the_empty_fix_column(db: Path) -> None:
    """When every check passes, doctor prints no empty fix column."""
    code, out, _ = run("doctor", "--db", str(db))
    assert code == 0
    assert "check" in out and "detail" in out
    assert "fix" not in out.splitlines()[1] + out.splitlines()[2]


def test_doctor_on_a_folder(tmp_path: Path) -> None:
    """doctor on a folder says it cannot open it and why, exit 1, no traceback."""
    code, out, err = run("doctor", "--db", str(tmp_path))
    assert code == 1
    assert "cannot open" in err and "folder" in err and "Traceback" not in out + err


def test_doctor_replay_creates_nothing(tmp_path: Path) -> None:
    """doctor --replay with no file and no spool says so and does not create a database."""
    path = tmp_path / "none.duckdb"
    code, _, err = run("doctor", "--replay", "--db", str(path))
    assert code == 1
    assert "nothing to replay" in err
    assert not path.exists()


def test_doctor_on_a_file_that_is_not_duckdb(tmp_path: Path) -> None:
    """doctor on a text file fails the database check itself (never 'database ok'), exit 1."""
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n" * 20)
    code, out, _ = run("doctor", "--db", str(path))
    assert code == 1
    first = next(line for line in out.splitlines() if "database" in line)
    assert "fail" in first and " ok " not in first
    assert "access" not in out
