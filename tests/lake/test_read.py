"""The contract over a lake in DuckDB: README queries unchanged, read-only, older files."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import semtrace
from semtrace.cli import app
from semtrace.exceptions import ConfigurationError
from semtrace.integrations import export_parquet
from semtrace.lake import LakeSink
from semtrace.store.database import Store, connect_readonly
from tests.lake.conftest import dict_rows, normalised, span

README = Path(__file__).resolve().parents[2] / "README.md"
README_SQL = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture
def demo_lake(demo_db: Path, tmp_path: Path) -> Path:
    store = Store(demo_db)
    LakeSink(store, tmp_path / "lake").flush()
    store.close()
    return tmp_path / "lake"


def test_every_readme_query_gives_the_same_rows_over_the_lake(
    demo_db: Path, demo_lake: Path
) -> None:
    """Each example query of the README runs unchanged on semtrace.connect(lake=...) and
    returns what it returns on the database file."""
    assert len(README_SQL) >= 5
    lake = semtrace.connect(lake=demo_lake)
    db = connect_readonly(demo_db)
    for sql in README_SQL:
        assert normalised(dict_rows(lake, sql)) == normalised(dict_rows(db, sql)), sql


def test_an_export_is_a_lake_too(demo_db: Path, tmp_path: Path) -> None:
    """`semtrace export` writes the same layout, so --lake reads an export as well."""
    export_parquet(demo_db, tmp_path / "export")
    lake = semtrace.connect(lake=tmp_path / "export")
    db = connect_readonly(demo_db)
    sql = "SELECT * FROM traces"
    assert normalised(dict_rows(lake, sql)) == normalised(dict_rows(db, sql))


def test_the_lake_is_read_only(demo_lake: Path) -> None:
    """DDL and DML are refused as on a database file opened read-only."""
    con = semtrace.connect(lake=demo_lake)
    with pytest.raises(duckdb.Error, match="read-only"):
        con.execute("CREATE TABLE x AS SELECT 1")
    with pytest.raises(duckdb.Error):
        con.execute("DELETE FROM spans")


def test_files_of_an_older_declaration_read_missing_columns_as_null(tmp_path: Path) -> None:
    """A file written before a column was declared still reads: the column is NULL there."""
    store = Store(tmp_path / "a.duckdb")
    store.write_spans([span(1), span(2)])
    LakeSink(store, tmp_path / "lake").flush()
    store.close()
    (path,) = (tmp_path / "lake" / "spans").rglob("*.parquet")
    old = pq.read_table(path)
    pq.write_table(old.drop_columns(["error_type", "task_id"]), path)
    con = semtrace.connect(lake=tmp_path / "lake")
    assert con.execute(
        "SELECT count(*), count(error_type), count(task_id), count(agent_name) FROM spans"
    ).fetchall() == [(2, 0, 0, 2)]
    assert con.execute("SELECT count(*) FROM traces").fetchall() == [(2,)]


def test_an_empty_lake_has_every_relation_with_no_rows(tmp_path: Path) -> None:
    """A lake an owner just started (no rows published yet) answers with empty results."""
    store = Store(tmp_path / "a.duckdb")
    LakeSink(store, tmp_path / "lake")
    store.close()
    con = semtrace.connect(lake=tmp_path / "lake")
    assert con.execute("SELECT count(*) FROM traces").fetchall() == [(0,)]
    assert pa.Table.from_pylist(dict_rows(con, "SELECT * FROM spans")).num_rows == 0


def test_cli_sql_traces_and_show_over_a_lake(demo_lake: Path) -> None:
    """`semtrace sql --lake`, `semtrace traces --lake` and `semtrace show --lake` work."""
    runner = CliRunner()
    result = runner.invoke(
        app, ["sql", "--lake", str(demo_lake), "select count(*) as n from spans", "-f", "csv"]
    )
    assert result.exit_code == 0, result.output
    ((spans,),) = semtrace.connect(lake=demo_lake).execute("select count(*) from spans").fetchall()
    assert spans > 0 and result.output.split() == ["n", str(spans)]
    result = runner.invoke(app, ["traces", "--lake", str(demo_lake), "-n", "1", "-f", "json"])
    assert result.exit_code == 0, result.output
    trace_id = re.search(r'"trace_id": "([0-9a-f]{32})"', result.output)
    assert trace_id
    result = runner.invoke(app, ["show", trace_id.group(1)[:12], "--lake", str(demo_lake)])
    assert result.exit_code == 0, result.output
    assert trace_id.group(1) in result.output
    result = runner.invoke(app, ["sql", "--lake", str(demo_lake.parent), "select 1"])
    assert result.exit_code == 1 and "is not a semtrace lake" in " ".join(result.output.split())


def test_connect_takes_a_db_or_a_lake_not_both(demo_lake: Path, tmp_path: Path) -> None:
    """Both at once is a programming error that says so."""
    with pytest.raises(ConfigurationError, match="either db= or lake="):
        semtrace.connect(tmp_path / "x.duckdb", lake=demo_lake)
