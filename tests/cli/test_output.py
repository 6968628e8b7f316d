"""CLI polish found by a first-time walkthrough: readable wide results, errors instead of
tracebacks, validated flags, `show` in time order without repeated sentences."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import semtrace
from semtrace.cli import app
from semtrace.testing import deterministic_ids, traced_db

TRACE = "00000000000000000000000000000001"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trace: an agent calls a tool, logs a sentence, then calls a tool that fails."""
    path = tmp_path_factory.mktemp("cli-output") / "semtrace.duckdb"
    log = semtrace.get_logger(agent="procurement")

    @semtrace.tool("fetch_invoice")
    def fetch() -> None:
        pass

    @semtrace.tool("lookup_vendor")
    def lookup(invoice: str) -> None:
        raise KeyError("vendor_id")

    @semtrace.agent("procurement")
    def procure() -> None:
        fetch()
        log.info("invoice fetched, looking up the vendor")
        lookup("INV-7")

    with traced_db(path, service_name="billing"), deterministic_ids(), pytest.raises(KeyError):
        procure()
    return path


def run(*args: str, columns: int = 250) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})
    return result.exit_code, result.stdout, result.stderr


def test_wide_sql_result_prints_one_block_per_row(db: Path) -> None:
    """A result too wide for the terminal prints each row as name/value lines, ids whole."""
    code, out, _ = run("sql", "select * from traces", "--db", str(db), columns=80)
    assert code == 0
    assert "-[ row 1 ]" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["trace_id", TRACE] in lines
    assert ["root_name", "invoke_agent", "procurement"] in lines
    assert "1 row, one block each" in out


def test_narrow_sql_result_stays_a_table(db: Path) -> None:
    """A result that fits the terminal is still a table."""
    code, out, _ = run("sql", "select trace_id, status from traces", "--db", str(db), columns=80)
    assert code == 0
    assert "-[ row" not in out
    assert TRACE in out and "ERROR" in out and "1 row" in out


def test_sql_empty_query(db: Path) -> None:
    """An empty query is refused with an example, exit 1."""
    code, _, err = run("sql", "  ", "--db", str(db))
    assert code == 1
    assert "empty" in err and "select * from traces" in err


def test_sql_on_a_folder(tmp_path: Path) -> None:
    """--db pointing at a folder names the path and the problem, exit 1, no traceback."""
    code, out, err = run("sql", "select 1", "--db", str(tmp_path))
    assert code == 1
    assert f"cannot open {tmp_path}" in " ".join(err.split())
    assert "Traceback" not in out + err


def test_sql_parquet_out(db: Path, tmp_path: Path) -> None:
    """--format parquet creates the folders of --out; an impossible path is an error, exit 1."""
    target = tmp_path / "new" / "folder" / "spans.parquet"
    code, _, _ = run(
        "sql", "select name from spans", "--db", str(db), "-f", "parquet", "--out", str(target)
    )
    assert code == 0
    assert pq.read_table(target).num_rows == 3
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, out, err = run(
        "sql", "select 1", "--db", str(db), "-f", "parquet", "--out", str(blocker / "x.parquet")
    )
    assert code == 1
    assert "cannot write" in err and "Traceback" not in out + err


def test_traces_status_is_validated(db: Path) -> None:
    """--status accepts OK or ERROR in either case and refuses anything else, naming the choices."""
    code, out, _ = run("traces", "--db", str(db), "--status", "error", "-f", "csv")
    assert code == 0 and TRACE in out
    code, out, _ = run("traces", "--db", str(db), "--status", "ok", "-f", "csv")
    assert code == 0 and TRACE not in out
    code, out, err = run("traces", "--db", str(db), "--status", "failed")
    assert code == 2
    message = (out + err).lower()
    assert "'failed' is not one of" in message and "'ok'" in message and "'error'" in message


def test_traces_parquet_and_limit(db: Path, tmp_path: Path) -> None:
    """traces writes Parquet with --out, and refuses a limit below 1."""
    target = tmp_path / "traces.parquet"
    code, _, _ = run("traces", "--db", str(db), "-f", "parquet", "--out", str(target))
    assert code == 0
    assert pq.read_table(target).column("trace_id").to_pylist() == [TRACE]
    code, _, _ = run("traces", "--db", str(db), "--limit", "0")
    assert code == 2


def test_show_orders_logs_and_spans_by_time(db: Path) -> None:
    """show puts a log sentence between the child spans it was written between."""
    code, out, _ = run("show", TRACE, "--db", str(db))
    assert code == 0
    lines = out.splitlines()

    def at(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    assert at("fetch_invoice") < at("invoice fetched") < at("execute_tool lookup_vendor")


def test_show_prints_a_failure_sentence_once(db: Path) -> None:
    """A failed span's sentence is printed once, not again as the ERROR log that repeats it."""
    code, out, _ = run("show", TRACE, "--db", str(db))
    assert code == 0
    flat = " ".join(out.split())
    assert flat.count("tool lookup_vendor failed in") == 1
    assert "so the procurement agent failed" in flat  # the log's impact, on the same line
    assert "ERROR:" not in out


def test_show_max_spans_must_be_positive(db: Path) -> None:
    """--max-spans below 1 is refused by the parser, exit 2."""
    code, _, _ = run("show", TRACE, "--db", str(db), "--max-spans", "0")
    assert code == 2


def test_traces_hides_columns_on_a_narrow_terminal(db: Path) -> None:
    """On an 80-column terminal traces drops the least useful columns and says which."""
    code, out, _ = run("traces", "--db", str(db), columns=80)
    assert code == 0
    assert TRACE in out and "ERROR" in out
    flat = " ".join(out.split())
    assert "hidden to fit the terminal" in flat and "cost $" in flat
    code, out, _ = run("traces", "--db", str(db), columns=250)
    assert "hidden" not in out and "cost $" in out
