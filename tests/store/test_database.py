"""The writer: Arrow batches in, exact rows out; one transaction per batch; clear open errors."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from semtrace.exceptions import NotADatabaseError
from semtrace.store.database import (
    ENV_MEMORY_LIMIT,
    SERVER_MEMORY_LIMIT,
    Store,
    batch_tables,
    connect_readonly,
    get_open_store,
    open_store,
)
from semtrace.store.model import LogRecord, SpanRecord
from tests.store import dataset as ds


def test_span_round_trip_keeps_nanoseconds(db_path: Path) -> None:
    """A span's times come back as UTC microsecond timestamps plus the exact nanoseconds."""
    start = ds.T0 + 123_456_789
    span = SpanRecord(ds.T1, "1" * 16, None, "x", "INTERNAL", start, start + 1_500_001)
    store = Store(db_path)
    store.write_spans([span])
    row = (
        store.cursor()
        .execute(
            "SELECT start_time, start_time_ns, end_time_ns, duration_ms, status_code FROM spans"
        )
        .fetchall()
    )
    assert row == [
        (
            datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
            start,
            start + 1_500_001,
            1.500001,
            "UNSET",
        )
    ]
    store.close()


def test_logs_get_ids_and_severity_numbers(db_path: Path) -> None:
    """Log records without an id get one; severity numbers follow OTLP."""
    store = Store(db_path)
    store.write_logs(
        [LogRecord(ds.T0, "hello"), LogRecord(ds.T0 + 1, "oops", severity="ERROR", log_id="x")]
    )
    rows = (
        store.cursor()
        .execute("SELECT log_id, severity, severity_number, message FROM logs ORDER BY time_ns")
        .fetchall()
    )
    assert rows[1] == ("x", "ERROR", 17, "oops")
    generated, severity, number, message = rows[0]
    assert (severity, number, message) == ("INFO", 9, "hello")
    assert len(generated) == 16
    store.close()


def test_batch_is_one_transaction(db_path: Path) -> None:
    """When one table of a batch fails to append, nothing of the batch is kept."""
    store = Store(db_path)
    bad = pa.table({"no_such_column": [1]})
    with pytest.raises(duckdb.Error):
        store.append_tables([("spans", pa.Table.from_pylist([])), ("logs", bad)])
    store.write_spans(list(ds.TRAVEL))
    with pytest.raises(duckdb.Error):
        store.append_tables(
            [("semtrace_stats", pa.table({"time": [datetime.now(UTC)], "pid": [1]})), ("logs", bad)]
        )
    cur = store.cursor()
    assert cur.execute("SELECT count(*) FROM semtrace_stats").fetchall() == [(0,)]
    assert cur.execute("SELECT count(*) FROM spans").fetchall() == [(3,)]
    store.close()


def test_batch_tables_store_spans_and_logs_together(db_path: Path) -> None:
    """batch_tables gives spans, their events and links, and logs, appended in one go."""
    store = Store(db_path)
    store.append_tables(batch_tables([*ds.TRAVEL, *ds.BILLING], list(ds.LOGS)))
    cur = store.cursor()
    counts = [
        cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        for t in ("spans", "span_events", "span_links", "logs")
    ]
    assert counts == [5, 1, 1, 3]
    store.close()


def test_concurrent_writers_in_one_process(db_path: Path) -> None:
    """Threads appending through the same store lose nothing."""
    store = open_store(db_path)

    def write(worker: int) -> None:
        for i in range(20):
            store.write_spans(
                [SpanRecord(f"{worker:032x}", f"{i:016x}", None, "s", "INTERNAL", i, i + 1)]
            )

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.cursor().execute("SELECT count(*) FROM spans").fetchall() == [(80,)]
    store.close()


def test_open_store_is_one_writer_per_file(db_path: Path) -> None:
    """open_store returns the same writer for the same file however the path is spelled."""
    a = open_store(db_path)
    b = open_store(str(db_path.parent / "." / db_path.name))
    assert a is b
    assert get_open_store(db_path) is a
    a.close()
    assert get_open_store(db_path) is None


def test_readonly_on_a_foreign_duckdb_file(tmp_path: Path) -> None:
    """A DuckDB file that semtrace did not write is refused by name, not half-opened."""
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INT)")
    con.close()
    with pytest.raises(NotADatabaseError, match=r"other\.duckdb.*no semtrace tables"):
        connect_readonly(path)


def test_an_agents_writer_keeps_duckdbs_cache_small(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent's in-process writer caps DuckDB's cache at 64 MB (its peak RSS, see
    bench/memory.py); the process that also serves queries asks for more; the environment
    variable overrides both."""

    def limit(store: Store) -> str:
        row = store.cursor().execute("select current_setting('memory_limit')").fetchone()
        assert row is not None
        return str(row[0])

    agent = Store(db_path)
    assert limit(agent) == "61.0 MiB"  # DuckDB prints 64 MB as MiB
    agent.close()
    server = Store(db_path, memory_limit=SERVER_MEMORY_LIMIT)
    assert limit(server) == "244.1 MiB"
    server.close()
    monkeypatch.setenv(ENV_MEMORY_LIMIT, "128MB")
    overridden = Store(db_path, memory_limit=SERVER_MEMORY_LIMIT)
    assert limit(overridden) == "122.0 MiB"
    overridden.close()
