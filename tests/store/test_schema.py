"""The declared schema: tables and columns of the SQL contract, the DDL and Arrow schemas
derived from one declaration, and files brought up to date column by column."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from semtrace.store import schema
from semtrace.store._arrow import logs_table, spans_tables
from semtrace.store.database import Store, connect_readonly
from semtrace.store.model import LogRecord, SpanRecord
from semtrace.store.views import VIEWS

V1_SQL = Path(__file__).parent / "data" / "schema_v1.sql"

CONTRACT_SPAN_COLUMNS = {
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_time",
    "end_time",
    "duration_ms",
    "status_code",
    "status_message",
    "service_name",
    "scope_name",
    "agent_name",
    "operation",
    "tool_name",
    "model",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "session_id",
    "task_id",
    "error_type",
    "attributes",
    "resource",
}


def columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    )


def version_rows(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str | None]]:
    return con.execute(
        "SELECT version, changes FROM semtrace_schema ORDER BY applied_at, version"
    ).fetchall()


def v1_file(path: Path) -> None:
    """A file exactly as semtrace's version-1 schema wrote it, with one span and one stats row."""
    con = duckdb.connect(str(path))
    con.execute(V1_SQL.read_text())
    con.execute(
        "INSERT INTO spans (trace_id, span_id, name, start_time, end_time, start_time_ns, "
        "end_time_ns, duration_ms, status_code, agent_name) VALUES ('t1', 's1', 'root', "
        "now(), now(), 1, 2, 0.0, 'OK', 'planner')"
    )
    con.execute("INSERT INTO semtrace_stats (time, pid) VALUES (now(), 42)")
    con.close()


def with_column(monkeypatch: pytest.MonkeyPatch, table: str, column: schema.Column) -> schema.Table:
    """Declare one more column on ``table`` for the duration of a test."""
    old = schema.DECLARED[table]
    new = dataclasses.replace(old, columns=(*old.columns, column))
    monkeypatch.setitem(schema.DECLARED, table, new)
    return new


def test_new_file_has_every_declared_column_in_order(db_path: Path) -> None:
    """A new file gets every declared table with its columns in declaration order, DuckDB
    types as declared, and one version row at the current version."""
    store = Store(db_path)
    con = store.cursor()
    for t in schema.DECLARED.values():
        assert list(columns(con, t.name)) == list(t.names)
    assert columns(con, "spans")["attributes"] == "JSON"
    assert columns(con, "spans")["start_time"] == "TIMESTAMP WITH TIME ZONE"
    assert version_rows(con) == [(schema.SCHEMA_VERSION, version_rows(con)[0][1])]
    assert schema.missing(con) == []
    store.close()


def test_reopening_changes_nothing(db_path: Path) -> None:
    """Opening a current file again adds no version row and keeps the data."""
    Store(db_path).close()
    store = Store(db_path)
    con = store.cursor()
    store.execute("INSERT INTO semtrace_stats (time, pid) VALUES (now(), 7)")
    assert schema.migrate(con) == schema.SCHEMA_VERSION
    assert len(version_rows(con)) == 1
    assert con.execute("SELECT pid FROM semtrace_stats").fetchall() == [(7,)]
    store.close()


def test_contract_tables_and_span_columns(db_path: Path) -> None:
    """Every contract table exists; spans has the documented columns with UTC timestamps."""
    store = Store(db_path)
    con = store.cursor()
    tables = {
        t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert set(schema.TABLES) | {schema.SCHEMA_TABLE} <= tables
    assert {"traces", "failures", "agents", "llm_calls", "tool_calls"} <= set(VIEWS)
    assert set(VIEWS) <= tables  # views are listed in information_schema.tables too
    spans = columns(con, "spans")
    assert set(spans) >= CONTRACT_SPAN_COLUMNS
    assert spans["start_time_ns"] == "BIGINT"
    events = columns(con, "span_events")
    assert {"exception_type", "exception_message", "exception_stacktrace"} <= set(events)
    logs = columns(con, "logs")
    assert {"log_id", "time", "trace_id", "span_id", "severity", "agent_name", "message",
            "template", "action", "cause", "impact", "attributes"} <= set(logs)  # fmt: skip
    store.close()


def test_ddl_and_arrow_agree() -> None:
    """For every table, what DuckDB returns from the derived DDL has the derived Arrow types,
    column for column (DuckDB spells the UTC zone Etc/UTC)."""
    con = duckdb.connect()
    for t in schema.DECLARED.values():
        con.execute(t.ddl())
        got = con.sql(f"SELECT * FROM {t.name} LIMIT 0").to_arrow_table().schema
        assert got.names == t.arrow.names
        assert [str(f.type).replace("Etc/UTC", "UTC") for f in got] == [
            str(f.type) for f in t.arrow
        ]
        assert [f.nullable for f in t.arrow] == [c.nullable for c in t.columns]


def test_writers_build_the_declared_arrow_schemas() -> None:
    """The span and log batch builders produce exactly the declared Arrow schemas."""
    span = SpanRecord("a" * 32, "b" * 16, None, "x", "INTERNAL", 1_000, 3_000_000)
    spans_t, events_t, links_t = spans_tables([span])
    assert spans_t.schema == schema.SPANS_TABLE.arrow
    assert events_t.schema == schema.SPAN_EVENTS_TABLE.arrow
    assert links_t.schema == schema.SPAN_LINKS_TABLE.arrow
    assert logs_table([LogRecord(time_ns=1_000, message="hi")]).schema == schema.LOGS_TABLE.arrow


def test_version_1_file_opens_and_migrates(db_path: Path) -> None:
    """A file written by the version-1 schema opens for writing: its rows stay, every
    declared column is there, and the version table records the step to the current version."""
    v1_file(db_path)
    store = Store(db_path)
    con = store.cursor()
    assert schema.missing(con) == []
    assert con.execute("SELECT trace_id, agent_name FROM spans").fetchall() == [("t1", "planner")]
    assert con.execute("SELECT pid FROM semtrace_stats").fetchall() == [(42,)]
    assert [v for v, _ in version_rows(con)] == [1, schema.SCHEMA_VERSION]
    assert con.execute("SELECT count(*) FROM traces").fetchall() == [(1,)]
    store.close()
    Store(db_path).close()  # and a second open is a no-op
    con = duckdb.connect(str(db_path), read_only=True)
    assert [v for v, _ in version_rows(con)] == [1, schema.SCHEMA_VERSION]
    con.close()


def test_new_columns_and_tables_are_added_on_open(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two columns declared independently (on two tables) and a new table all appear when an
    existing file is opened; the new column is backfilled from the rows already stored; the
    version table lists what changed."""
    v1_file(db_path)
    with_column(
        monkeypatch,
        "spans",
        schema.Column("agent_upper", schema.VARCHAR, backfill="upper(agent_name)"),
    )
    with_column(monkeypatch, "semtrace_stats", schema.Column("note", schema.VARCHAR))
    extra = schema.Table("notes", (schema.Column("text", schema.VARCHAR, nullable=False),))
    monkeypatch.setitem(schema.DECLARED, "notes", extra)
    store = Store(db_path)
    con = store.cursor()
    assert con.execute("SELECT agent_upper FROM spans").fetchall() == [("PLANNER",)]
    assert con.execute("SELECT pid, note FROM semtrace_stats").fetchall() == [(42, None)]
    assert columns(con, "notes") == {"text": "VARCHAR"}
    changes = version_rows(con)[-1][1]
    assert changes is not None
    assert set(changes.split()) >= {"+spans.agent_upper", "+semtrace_stats.note", "+notes"}
    store.close()


def test_failed_migration_rolls_back(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A change that fails half-way (a bad backfill) leaves the file as it was, unlocked."""
    Store(db_path).close()
    with_column(monkeypatch, "semtrace_stats", schema.Column("half", schema.VARCHAR))
    with_column(
        monkeypatch, "spans", schema.Column("bad", schema.VARCHAR, backfill="no_such_column")
    )
    with pytest.raises(duckdb.BinderException):
        Store(db_path)
    monkeypatch.undo()
    Store(db_path).close()  # the failed open released the file: it opens again
    con = duckdb.connect(str(db_path), read_only=True)
    assert "half" not in columns(con, "semtrace_stats")
    assert "bad" not in columns(con, "spans")
    assert len(version_rows(con)) == 1
    con.close()


def test_readonly_connection_to_an_older_file_reads_new_columns_as_null(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only connection to a file that lacks a declared column or table sees it as NULL
    (so today's views run), without writing to the file."""
    v1_file(db_path)
    Store(db_path).close()
    with_column(monkeypatch, "spans", schema.Column("later", schema.BIGINT))
    extra = schema.Table("notes", (schema.Column("text", schema.VARCHAR),))
    monkeypatch.setitem(schema.DECLARED, "notes", extra)
    con = connect_readonly(db_path)
    assert con.execute("SELECT span_id, later FROM spans").fetchall() == [("s1", None)]
    assert con.execute("SELECT count(*) FROM notes").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM traces").fetchall() == [(1,)]
    con.close()
    raw = duckdb.connect(str(db_path), read_only=True)
    assert "later" not in columns(raw, "spans")
    raw.close()


def test_arrow_schema_is_derived_not_copied() -> None:
    """The Arrow schema of a table follows its declaration: a new column shows up in it."""
    t = schema.Table("t", (schema.Column("a", schema.BIGINT, nullable=False),))
    wider = dataclasses.replace(t, columns=(*t.columns, schema.Column("b", schema.JSON)))
    assert wider.arrow == pa.schema(
        [pa.field("a", pa.int64(), nullable=False), pa.field("b", pa.string())]
    )
    assert wider.ddl() == "CREATE TABLE IF NOT EXISTS t (\n    a BIGINT NOT NULL,\n    b JSON\n)"
