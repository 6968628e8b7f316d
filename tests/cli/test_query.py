"""`semtrace sql`, `semtrace traces`, `semtrace show` on a database written by the tracer."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import semtrace
from semtrace.cli import app
from semtrace.testing import deterministic_ids, traced_db

TRACE_OK = "00000000000000000000000000000001"
TRACE_ERR = "00000000000000000000000000000002"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two traces written by the real tracer: a good one and one whose tool fails."""
    path = tmp_path_factory.mktemp("cli") / "semtrace.duckdb"

    @semtrace.tool("search_flights")
    def search(origin: str) -> list[str]:
        return ["TP123"]

    @semtrace.llm(model="gpt-4o-mini", provider="openai")
    def ask(prompt: str) -> dict[str, object]:
        return {"usage": {"input_tokens": 1000, "output_tokens": 500}}

    @semtrace.agent("supervisor")
    def plan() -> None:
        search("LIS")
        ask("where to?")

    @semtrace.tool("lookup_vendor")
    def lookup(invoice: str) -> None:
        raise KeyError("vendor_id")

    @semtrace.agent("procurement")
    def procure() -> None:
        semtrace.get_logger(agent="procurement").warning("vendor cache is cold")
        lookup("INV-7")

    with traced_db(path, service_name="travel"), deterministic_ids():
        plan()
        with pytest.raises(KeyError):
            procure()
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.stdout, result.stderr


def test_sql_table(db: Path) -> None:
    """sql prints a table with the column names, the values and the row count."""
    code, out, _ = run(
        "sql", "select agent_name, count(*) as n from spans group by 1 order by 1", "--db", str(db)
    )
    assert code == 0
    assert "agent_name" in out and "n" in out
    assert "procurement" in out and "supervisor" in out
    assert "2 rows" in out


def test_sql_csv(db: Path) -> None:
    """--format csv prints a header and one line per row."""
    code, out, _ = run(
        "sql",
        "select name, model, input_tokens from spans where model is not null",
        "--db",
        str(db),
        "--format",
        "csv",
    )
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [
        ["name", "model", "input_tokens"],
        ["chat gpt-4o-mini", "gpt-4o-mini", "1000"],
    ]


def test_sql_json(db: Path) -> None:
    """--format json prints the rows as a JSON list of objects."""
    code, out, _ = run(
        "sql",
        "select trace_id, span_count, status from traces order by trace_id",
        "--db",
        str(db),
        "-f",
        "json",
    )
    assert code == 0
    assert json.loads(out) == [
        {"trace_id": TRACE_OK, "span_count": 3, "status": "OK"},
        {"trace_id": TRACE_ERR, "span_count": 2, "status": "ERROR"},
    ]


def test_sql_error_lists_tables(db: Path) -> None:
    """A bad query prints DuckDB's message and the tables and views, exit 1, no traceback."""
    code, out, err = run("sql", "select * from spanz", "--db", str(db))
    assert code == 1
    assert "Table with name spanz does not exist" in err
    assert "Tables: spans, span_events, span_links, logs" in err
    assert "Views: traces, llm_calls, tool_calls, agents, failures" in err
    assert "Traceback" not in out + err


def test_sql_missing_db(tmp_path: Path) -> None:
    """sql on a path with no database says how to make one, exit 1."""
    code, _, err = run("sql", "select 1", "--db", str(tmp_path / "none.duckdb"))
    assert code == 1
    assert "no semtrace database" in err and "semtrace demo" in err


def test_traces(db: Path) -> None:
    """traces lists recent traces with their root span and status; filters narrow them."""
    code, out, _ = run("traces", "--db", str(db), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["root_name"], r["status"], r["span_count"], r["failure_count"]) for r in rows] == [
        ("invoke_agent procurement", "ERROR", 2, 1),
        ("invoke_agent supervisor", "OK", 3, 0),
    ]
    code, out, _ = run("traces", "--db", str(db))  # a table: failures where errors were
    header = [c.strip() for c in next(x for x in out.splitlines() if "trace_id" in x).split("┃")]
    assert "failures" in header and "errors" not in header
    code, out, _ = run("traces", "--db", str(db), "--status", "error", "-f", "json")
    assert [r["trace_id"] for r in json.loads(out)] == [TRACE_ERR]
    code, out, _ = run("traces", "--db", str(db), "--agent", "supervisor")
    assert code == 0
    assert "invoke_agent supervisor" in out and "procurement" not in out


def test_show_tree_with_errors(db: Path) -> None:
    """show prints the span tree of a trace, the failed spans with their error sentence; its
    head counts the failure once (the tool's took its agent down: 2 ERROR spans)."""
    code, out, _ = run("show", TRACE_ERR, "--db", str(db))
    assert code == 0
    assert f"trace {TRACE_ERR}" in out
    assert "2 spans, 1 failure (2 ERROR spans)" in out
    lines = out.splitlines()
    agent = next(i for i, line in enumerate(lines) if "invoke_agent procurement" in line)
    tool = next(i for i, line in enumerate(lines) if "execute_tool lookup_vendor" in line)
    assert agent < tool
    assert "✗" in out
    assert "KeyError" in out and "vendor_id" in out


def test_show_interleaves_logs(db: Path) -> None:
    """show prints log sentences under the span they were written in; --no-logs hides them."""
    code, out, _ = run("show", TRACE_ERR, "--db", str(db))
    assert code == 0
    lines = out.splitlines()
    agent = next(i for i, line in enumerate(lines) if "invoke_agent procurement" in line)
    log = next(i for i, line in enumerate(lines) if "vendor cache is cold" in line)
    assert agent < log
    assert "WARNING" in lines[log]
    code, out, _ = run("show", TRACE_ERR, "--db", str(db), "--no-logs")
    assert code == 0 and "vendor cache is cold" not in out


def test_show_prefix(tmp_path: Path) -> None:
    """A unique prefix of a trace id is enough, in either case."""
    path = tmp_path / "p.duckdb"
    with traced_db(path):
        for _ in range(2):
            with semtrace.agent("a"):
                pass
    ids = sorted(
        r["trace_id"] for r in json.loads(run("traces", "--db", str(path), "-f", "json")[1])
    )
    common = 0
    while ids[0][common] == ids[1][common]:
        common += 1
    code, out, _ = run("show", ids[0][: common + 1].upper(), "--db", str(path))
    assert code == 0 and f"trace {ids[0]}" in out


def test_show_ambiguous_prefix(db: Path) -> None:
    """A prefix shared by two traces is refused with a request for more characters."""
    code, _, err = run("show", "0000", "--db", str(db))
    assert code == 1
    assert "ambiguous" in err


def test_show_unknown_trace(db: Path) -> None:
    """show with an id that matches nothing points at `semtrace traces`, exit 1."""
    code, _, err = run("show", "ffff", "--db", str(db))
    assert code == 1
    assert "no trace with id 'ffff'" in err and "semtrace traces" in err


def test_console_script(db: Path) -> None:
    """The installed `semtrace` console script runs a query."""
    exe = Path(sys.executable).with_name("semtrace")
    proc = subprocess.run(
        [str(exe), "sql", "select count(*) as n from traces", "--db", str(db), "-f", "csv"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["n", "2"]


def test_sql_on_a_file_another_process_writes(tmp_path: Path) -> None:
    """sql on a file another process holds for writing names that process and `semtrace
    serve`, exit 1, no traceback."""
    path = tmp_path / "busy.duckdb"
    code = (
        "import sys\n"
        "from semtrace.store.database import Store\n"
        f"store = Store({str(path)!r})\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        exit_code, out, err = run("sql", "select 1", "--db", str(path))
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert exit_code == 1
    flat = " ".join(err.split())  # rich wraps long lines
    assert f"process {holder.pid}" in flat
    assert "owner mode" in flat
    assert "Traceback" not in out + err


def test_brackets_are_text_not_markup(db: Path) -> None:
    """Values, column names and errors with [brackets] print as written (rich markup is off)."""
    code, out, _ = run("sql", "select '[red]x[/]' as \"[b]col\"", "--db", str(db))
    assert code == 0
    assert "[red]x[/]" in out and "[b]col" in out
    code, out, err = run("sql", "select '[/]' from nope", "--db", str(db))
    assert code == 1
    assert "Table with name nope does not exist" in err
    assert "Traceback" not in out + err


def test_traces_table_keeps_ids_whole(db: Path) -> None:
    """The traces table keeps each trace id on one line, ready to copy into `semtrace show`."""
    result = CliRunner().invoke(app, ["traces", "--db", str(db)], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    assert TRACE_OK in result.stdout and TRACE_ERR in result.stdout
    assert "2 rows" in result.stdout


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_repeated_column_names_keep_every_column(db: Path, fmt: str) -> None:
    """`select a, a` keeps both columns in every format, the repeat named as DuckDB names it
    (name_1), each header over its own value."""
    query = "select 'x' as name, 'y' as name, 3 as n"
    code, out, err = run("sql", query, "--db", str(db), "--format", fmt)
    assert code == 0, err
    if fmt == "json":
        assert json.loads(out) == [{"name": "x", "name_1": "y", "n": 3}]
    elif fmt == "csv":
        assert list(csv.reader(io.StringIO(out))) == [["name", "name_1", "n"], ["x", "y", "3"]]
    else:
        header = next(line for line in out.splitlines() if "name_1" in line)
        cells = next(line for line in out.splitlines() if " y " in line)
        assert [c.strip() for c in header.split("┃")[1:4]] == ["name", "name_1", "n"]
        assert [c.strip() for c in cells.split("│")[1:4]] == ["x", "y", "3"]
