"""Schema version, migrations, and the tables/columns of the SQL contract."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from semtrace.store import schema
from semtrace.store.database import Store
from semtrace.store.views import VIEWS

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


def test_new_file_is_at_current_version(db_path: Path) -> None:
    """A new file gets every migration once, recorded in semtrace_schema, 1..SCHEMA_VERSION."""
    store = Store(db_path)
    con = store.cursor()
    assert schema.schema_version(con) == schema.SCHEMA_VERSION
    versions = [
        v for (v,) in con.execute("SELECT version FROM semtrace_schema ORDER BY 1").fetchall()
    ]
    assert versions == list(range(1, schema.SCHEMA_VERSION + 1))
    store.close()


def test_reopening_does_not_reapply(db_path: Path) -> None:
    """Opening a current file again changes nothing and keeps the data."""
    Store(db_path).close()
    store = Store(db_path)
    con = store.cursor()
    assert schema.migrate(con) == schema.SCHEMA_VERSION
    rows = con.execute("SELECT count(*) FROM semtrace_schema").fetchall()
    assert rows == [(schema.SCHEMA_VERSION,)]
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
    assert spans["start_time"] == "TIMESTAMP WITH TIME ZONE"
    assert spans["start_time_ns"] == "BIGINT"
    assert spans["attributes"] == "JSON"
    events = columns(con, "span_events")
    assert {"exception_type", "exception_message", "exception_stacktrace"} <= set(events)
    logs = columns(con, "logs")
    assert {"log_id", "time", "trace_id", "span_id", "severity", "agent_name", "message",
            "template", "action", "cause", "impact", "attributes"} <= set(logs)  # fmt: skip
    store.close()


def test_migration_path_upgrades_an_old_file(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file written at the current version is upgraded by a newly appended migration,
    keeping its rows; the version table records the step."""
    store = Store(db_path)
    store.execute("INSERT INTO semtrace_stats (time, pid) VALUES (now(), 42)")
    store.close()
    old = schema.SCHEMA_VERSION
    extra = ["ALTER TABLE semtrace_stats ADD COLUMN note VARCHAR"]
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, extra])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", old + 1)
    store = Store(db_path)
    con = store.cursor()
    assert schema.schema_version(con) == old + 1
    assert con.execute("SELECT pid, note FROM semtrace_stats").fetchall() == [(42, None)]
    store.close()


def test_failed_migration_rolls_back(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration that fails leaves the file at its previous version, unchanged."""
    Store(db_path).close()
    old = schema.SCHEMA_VERSION
    bad = ["ALTER TABLE semtrace_stats ADD COLUMN half VARCHAR", "SELECT * FROM no_such_table"]
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, bad])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", old + 1)
    with pytest.raises(duckdb.CatalogException):
        Store(db_path)
    monkeypatch.undo()
    Store(db_path).close()  # the failed open released the file: it opens again
    con = duckdb.connect(str(db_path), read_only=True)
    assert schema.schema_version(con) == old
    assert "half" not in columns(con, "semtrace_stats")
    con.close()
