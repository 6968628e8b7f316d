"""Parquet export (Hive-partitioned by date and service) and import, read back by DuckDB and polars."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from semtrace.cli import app
from semtrace.integrations import export_parquet, import_parquet
from semtrace.store.database import Store, get_open_store
from semtrace.store.model import LogRecord, SpanEventRecord, SpanLinkRecord, SpanRecord

DAY1 = int(datetime(2026, 11, 27, 23, 59, 0, tzinfo=UTC).timestamp() * 1e9)
DAY2 = int(datetime(2026, 11, 28, 0, 0, 30, tzinfo=UTC).timestamp() * 1e9)


def _span(i: int, start: int, service: str | None, **attrs: Any) -> SpanRecord:
    return SpanRecord(
        trace_id=f"{i:032x}",
        span_id=f"{i:016x}",
        parent_span_id=None,
        name=f"invoke_agent a{i}",
        kind="INTERNAL",
        start_ns=start,
        end_ns=start + 1_500_000,
        status_code="ERROR" if i == 3 else "OK",
        service_name=service,
        scope_name="semtrace",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": f"a{i}", **attrs},
        resource={"service.name": service} if service else {},
        events=(SpanEventRecord("exception", start + 10, {"exception.type": "ValueError"}),)
        if i == 3
        else (),
        links=(SpanLinkRecord(f"{1:032x}", f"{1:016x}"),) if i == 2 else (),
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A database with spans and logs on two UTC days and three services (one odd, one null)."""
    path = tmp_path / "source.duckdb"
    store = Store(path)
    store.write_spans(
        [
            _span(1, DAY1, "travel"),
            _span(2, DAY2, "travel", **{"gen_ai.request.model": "gpt-4o"}),
            _span(3, DAY2, "billing/eu west"),
            _span(4, DAY2, None),
        ]
    )
    store.write_logs(
        [
            LogRecord(
                DAY1 + 5, "the planner agent booked a flight", log_id="l1", service_name="travel"
            ),
            LogRecord(
                DAY2 + 5,
                "the billing agent failed to match the invoice",
                severity="ERROR",
                log_id="l2",
                service_name="billing/eu west",
                attributes={"invoice": 7},
            ),
        ]
    )
    store.execute(
        "INSERT INTO diagnoses (fingerprint, created_at, status, category) VALUES (?, ?, ?, ?)",
        ["fp1", datetime(2026, 11, 28, 1, tzinfo=UTC), "done", "missing data"],
    )
    store.close()
    return path


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    rel = con.sql(sql)
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def test_export_is_hive_partitioned_by_day_and_service(source: Path, tmp_path: Path) -> None:
    """Spans and logs go under date=/service_name=, other tables under date= only."""
    out = tmp_path / "out"
    written = export_parquet(source, out)
    assert written == {"spans": 4, "logs": 2, "span_events": 1, "span_links": 1, "diagnoses": 1}
    dirs = sorted(str(p.parent.relative_to(out)) for p in out.rglob("*.parquet"))
    assert dirs == [
        "diagnoses/date=2026-11-28",
        "logs/date=2026-11-27/service_name=travel",
        "logs/date=2026-11-28/service_name=billing%2Feu%20west",
        "span_events/date=2026-11-28",
        "span_links/date=2026-11-28",
        "spans/date=2026-11-27/service_name=travel",
        "spans/date=2026-11-28/service_name=__HIVE_DEFAULT_PARTITION__",
        "spans/date=2026-11-28/service_name=billing%2Feu%20west",
        "spans/date=2026-11-28/service_name=travel",
    ]
    assert json.loads((out / "_semtrace.json").read_text())["partitioning"]["spans"] == [
        "date",
        "service_name",
    ]


def test_duckdb_reads_back_the_same_columns_and_values(source: Path, tmp_path: Path) -> None:
    """read_parquet(hive_partitioning) returns every span column with its value, plus date."""
    out = tmp_path / "out"
    export_parquet(source, out)
    con = duckdb.connect(str(source), read_only=True)
    original = _rows(
        con,
        "SELECT * REPLACE (attributes::VARCHAR AS attributes, resource::VARCHAR AS resource) FROM spans ORDER BY span_id",
    )
    back = _rows(
        duckdb.connect(),
        f"""SELECT * FROM read_parquet('{out}/spans/**/*.parquet', hive_partitioning = true,
                hive_types = {{'date': DATE, 'service_name': VARCHAR}}) ORDER BY span_id""",
    )
    assert [r.pop("date") for r in back] == [date(2026, 11, 27)] + [date(2026, 11, 28)] * 3
    assert back == original


def test_polars_reads_the_export(source: Path, tmp_path: Path) -> None:
    """polars scan_parquet with hive partitioning sees the contract's columns and services."""
    pl = pytest.importorskip("polars")
    out = tmp_path / "out"
    export_parquet(source, out)
    frame = pl.scan_parquet(f"{out}/spans/**/*.parquet", hive_partitioning=True).collect()
    con = duckdb.connect(str(source), read_only=True)
    contract = [c[0] for c in con.sql("DESCRIBE spans").fetchall()]
    assert sorted(frame.columns) == sorted([*contract, "date"])
    assert sorted(frame["service_name"].to_list(), key=str) == [
        None,
        "billing/eu west",
        "travel",
        "travel",
    ]
    assert frame.filter(pl.col("model") == "gpt-4o")["span_id"].to_list() == [f"{2:016x}"]


def test_import_restores_every_table_and_is_idempotent(source: Path, tmp_path: Path) -> None:
    """Importing an export into a new database gives back the rows; a second import adds none."""
    out = tmp_path / "out"
    export_parquet(source, out)
    target = tmp_path / "target.duckdb"
    added = import_parquet(out, target)
    assert added == {"spans": 4, "logs": 2, "span_events": 1, "span_links": 1, "diagnoses": 1}
    assert import_parquet(out, target) == dict.fromkeys(added, 0)
    writer = get_open_store(target)
    assert writer is not None
    writer.close()  # release the file so it can be opened read-only below
    src = duckdb.connect(str(source), read_only=True)
    dst = duckdb.connect(str(target), read_only=True)
    for table, order in (
        ("spans", "span_id"),
        ("logs", "log_id"),
        ("span_events", "span_id"),
        ("span_links", "span_id"),
        ("diagnoses", "fingerprint"),
    ):
        sql = f"SELECT * FROM {table} ORDER BY {order}"
        assert _rows(dst, sql) == _rows(src, sql), table


def test_reexport_since_replaces_those_days_only(source: Path, tmp_path: Path) -> None:
    """Exporting again with since= rewrites whole days from then on and never duplicates rows."""
    out = tmp_path / "out"
    export_parquet(source, out)
    written = export_parquet(source, out, since=datetime(2026, 11, 28, 12, tzinfo=UTC))
    assert written["spans"] == 3  # all of 2026-11-28, though since was its noon
    counts = (
        duckdb.connect()
        .sql(
            f"""SELECT date, count(*) FROM read_parquet('{out}/spans/**/*.parquet',
                hive_partitioning = true) GROUP BY date ORDER BY date"""
        )
        .fetchall()
    )
    assert counts == [(date(2026, 11, 27), 1), (date(2026, 11, 28), 3)]


def _flat(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines at the terminal width


def test_cli_export_and_import(source: Path, tmp_path: Path) -> None:
    """`semtrace export --format parquet --out` and `semtrace import` round-trip through the CLI."""
    runner = CliRunner()
    out = tmp_path / "cli-out"
    result = runner.invoke(
        app, ["export", "--format", "parquet", "--out", str(out), "--db", str(source)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 9 rows" in _flat(result.output)
    target = tmp_path / "cli-target.duckdb"
    result = runner.invoke(app, ["import", str(out), "--db", str(target)])
    assert result.exit_code == 0, result.output
    assert "imported 9 rows" in _flat(result.output)
    result = runner.invoke(app, ["import", str(tmp_path / "missing"), "--db", str(target)])
    assert result.exit_code == 1
    assert "is not a folder written by `semtrace export`" in _flat(result.output)
