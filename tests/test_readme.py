"""The README runs as printed: its quick start, its example queries, its SQL contract."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import semtrace

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")
SQL_BLOCKS = re.findall(r"```sql\n(.*?)```", TEXT, flags=re.S)
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
# The relations issue 2 put in place: the README must document every one of their columns.
FOUNDATION = (
    "spans",
    "span_events",
    "span_links",
    "logs",
    "diagnoses",
    "traces",
    "failures",
    "agents",
    "llm_calls",
    "tool_calls",
)


def _run(code: str, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SEMTRACE_DB"))}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def quickstart_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The database the README's quick start writes, run as printed in a fresh process."""
    cwd = tmp_path_factory.mktemp("readme")
    _run(PYTHON_BLOCKS[0], cwd)
    return cwd / "semtrace.duckdb"


def _relations(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    cols: dict[str, list[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "ORDER BY table_name, ordinal_position"
    ).fetchall():
        if column not in cols.setdefault(table, []):
            cols[table].append(column)
    return cols


def _documented() -> dict[str, set[str]]:
    """Relation -> the backticked names after 'Columns:' in its README bullet."""
    docs: dict[str, set[str]] = {}
    for match in re.finditer(r"^- \*\*`(\w+)`\*\*:(.*?)(?=^- |^#|\Z)", TEXT, flags=re.S | re.M):
        name, body = match.group(1), match.group(2)
        _, _, columns = body.partition("Columns:")
        docs[name] = set(re.findall(r"`(\w+)`", columns))
    return docs


def test_readme_has_queries() -> None:
    """The README shows example queries and a quick start."""
    assert len(SQL_BLOCKS) >= 5
    assert "make demo" in TEXT and "make test" in TEXT


@pytest.mark.parametrize("sql", SQL_BLOCKS, ids=[f"query{i}" for i in range(len(SQL_BLOCKS))])
def test_example_query_runs_on_quickstart_db(quickstart_db: Path, sql: str) -> None:
    """Every example query runs on the quick start's database; those over what the quick start
    makes (no message bus, no long-running task) find rows."""
    con = semtrace.connect(quickstart_db)
    rows = con.sql(sql).fetchall()
    con.close()
    if not re.search(r"\b(messages|tasks|recoveries)\b", sql):
        assert rows, f"no rows for:\n{sql}"


def test_jupyter_snippet_runs(quickstart_db: Path) -> None:
    """The Python/Jupyter snippet runs against the quick start's database."""
    code = PYTHON_BLOCKS[1]
    if importlib.util.find_spec("polars") is None:  # an optional extra, not a dependency
        code = "\n".join(line for line in code.splitlines() if ".pl()" not in line)
    _run(code, quickstart_db.parent)


def test_testing_snippet_passes() -> None:
    """The semtrace.testing example's test passes as printed."""
    namespace: dict[str, object] = {}
    exec(compile(PYTHON_BLOCKS[2], "README.md", "exec"), namespace)
    test = namespace["test_plan"]
    assert callable(test)
    test()


def test_contract_matches_database(quickstart_db: Path) -> None:
    """Every documented relation and column exists; the foundation relations are documented
    with all of their columns."""
    con = semtrace.connect(quickstart_db)
    actual = _relations(con)
    con.close()
    documented = _documented()
    assert set(FOUNDATION) <= set(documented)
    for name, columns in documented.items():
        assert name in actual, f"README documents {name}, which the database does not have"
        missing = columns - set(actual[name])
        assert not missing, f"README lists columns {missing} that {name} does not have"
    for name in FOUNDATION:
        undocumented = [c for c in actual[name] if c not in documented[name]]
        assert not undocumented, f"README does not document {name}.{undocumented}"


@pytest.mark.skipif(
    importlib.util.find_spec("semtrace.cli.demo") is None, reason="the demo is not built yet"
)
def test_example_queries_run_on_demo_db(tmp_path: Path) -> None:
    """Every example query also runs on the database `semtrace demo` writes, finding rows."""
    db = tmp_path / "demo.duckdb"
    exe = Path(sys.executable).with_name("semtrace")
    proc = subprocess.run(
        [str(exe), "demo", "--no-dashboard", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    con = semtrace.connect(db)
    empty = [sql for sql in SQL_BLOCKS if not con.sql(sql).fetchall()]
    con.close()
    assert not empty, f"no rows on the demo db for: {empty}"


def test_links_to_docs_exist() -> None:
    """Every docs/ page the README links to exists."""
    links = re.findall(r"\]\((docs/[^)]+\.md)\)", TEXT)
    assert links
    missing = [link for link in links if not (README.parent / link).is_file()]
    assert not missing
