"""A database a ``semtrace serve`` collector owns: diagnoses are computed, and the user is told
clearly that they were not stored and why."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import semtrace
from semtrace import diagnose
from semtrace.cli import app
from semtrace.collector.announce import read_announcement


@pytest.fixture
def served_failure(db_path: Path) -> Iterator[str]:
    """A database with one failed tool call, then owned by a collector in another process."""
    semtrace.configure(db=db_path, capture_logging=False)

    @semtrace.tool("lookup_vendor")
    def lookup() -> None:
        raise ConnectionRefusedError("vendor API refused the connection")

    with contextlib.suppress(ConnectionRefusedError), semtrace.agent("procurement"):
        lookup()
    semtrace.shutdown()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("semtrace")),
            "serve",
            "--db",
            str(db_path),
            "--port",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while (ann := read_announcement(str(db_path))) is None:
            assert proc.poll() is None, "the collector exited"
            assert time.monotonic() < deadline, "the collector never announced itself"
            time.sleep(0.05)
        yield ann.url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_run_says_diagnoses_were_not_stored(db_path: Path, served_failure: str) -> None:
    """run() returns the diagnosis, marked not stored, with a reason naming the collector."""
    found = diagnose.run(db=db_path)
    assert [d.category.value for d in found] == ["dependency_down"]
    assert found.stored is False
    assert found.not_stored_reason is not None
    assert "NOT stored" in found.not_stored_reason
    assert served_failure in found.not_stored_reason
    con = semtrace.connect(db_path)
    try:
        assert con.execute("SELECT count(*) FROM diagnoses").fetchall() == [(0,)]
    finally:
        con.close()


def test_cli_warns_that_diagnoses_were_not_stored(db_path: Path, served_failure: str) -> None:
    """`semtrace diagnose` prints the diagnosis table and a warning that nothing was stored."""
    result = CliRunner().invoke(app, ["diagnose", "--db", str(db_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "dependency_down" in result.stdout
    assert "diagnoses were NOT stored" in result.stderr
    assert served_failure in result.stderr
