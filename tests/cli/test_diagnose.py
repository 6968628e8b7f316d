"""`semtrace diagnose` on the command line: trace selection and clean stdout."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import semtrace
from semtrace.cli import app
from semtrace.testing import traced_db


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database holding one trace whose tool failed."""
    path = tmp_path_factory.mktemp("cli-diagnose") / "semtrace.duckdb"
    with traced_db(path, service_name="billing"), semtrace.agent("procurement"):

        @semtrace.tool("lookup_vendor")
        def lookup() -> None:
            raise TimeoutError("vendor API did not answer in 5 s")

        with pytest.raises(TimeoutError):
            lookup()
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.stdout, result.stderr


def test_unknown_trace_is_an_error(db: Path) -> None:
    """diagnose --trace with an id no trace has says so and exits 1 (not 'No failures')."""
    code, out, err = run("diagnose", "--db", str(db), "--trace", "zzz")
    assert code == 1
    assert "no trace with id 'zzz'" in err
    assert "No failures" not in out


def test_known_trace_prefix_is_diagnosed(db: Path) -> None:
    """diagnose --trace with a prefix of the trace's id diagnoses its failure."""
    con = semtrace.connect(db)
    (trace_id,) = con.execute("SELECT DISTINCT trace_id FROM spans").fetchone() or ("",)
    con.close()
    code, out, err = run("diagnose", "--db", str(db), "--trace", trace_id[:6])
    assert code == 0, err
    assert "1 failure of 1 kind, 1 diagnosed" in " ".join(out.split())


def test_report_on_stdout_has_no_progress_residue(db: Path) -> None:
    """diagnose into a file: stdout starts with the report, stderr stays empty (no bar)."""
    code, out, err = run("diagnose", "--db", str(db))
    assert code == 0
    assert not out.startswith("\n")
    assert "diagnoses" in out.splitlines()[0]
    assert err == ""
