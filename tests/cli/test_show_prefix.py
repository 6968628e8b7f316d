"""`semtrace show` with an ambiguous trace id prefix lists the traces it could mean."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import semtrace
from semtrace.cli import app
from semtrace.testing import deterministic_ids, traced_db


def _db(path: Path, traces: int) -> Path:
    with traced_db(path, service_name="travel"), deterministic_ids():
        for _ in range(traces):
            with semtrace.agent("supervisor"):
                pass
    return path


def _show(db: Path, prefix: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["show", prefix, "--db", str(db)], env={"COLUMNS": "400"})
    return result.exit_code, " ".join(result.stderr.split())


def test_ambiguous_prefix_lists_the_matching_ids(tmp_path: Path) -> None:
    """A prefix shared by three traces is refused with the three full ids listed."""
    db = _db(tmp_path / "three.duckdb", 3)
    code, err = _show(db, "0000")
    assert code == 1
    assert "ambiguous" in err and "3 traces match" in err
    for n in (1, 2, 3):
        assert f"{n:032x}" in err


def test_ambiguous_prefix_lists_at_most_ten(tmp_path: Path) -> None:
    """With more than ten matches, ten ids are listed and the rest elided."""
    traces = 12
    db = _db(tmp_path / "many.duckdb", traces)
    code, err = _show(db, "0000")
    assert code == 1
    assert "More than 10 traces match" in err and err.endswith(", ...")
    assert sum(f"{n:032x}" in err for n in range(1, traces + 1)) == 10
