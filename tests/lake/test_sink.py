"""The lake sink: every committed row in the lake exactly once, whatever moment it stopped."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from semtrace.lake import LakeSink, connect_lake
from semtrace.lake.layout import LAYOUTS, publish
from semtrace.store import schema
from semtrace.store.database import Store, connect_readonly
from semtrace.store.model import SpanRecord
from tests.lake.conftest import DAY, dict_rows, normalised, span

NS_PER_DAY = 86_400 * 10**9


def _count(con: object, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])  # type: ignore[attr-defined]


def _hidden(lake: Path) -> list[Path]:
    return [p for p in lake.rglob(".*") if p.is_file()]


def test_every_table_and_view_reads_the_same_over_the_lake(demo_db: Path, tmp_path: Path) -> None:
    """After one cycle over the demo database, every table and view of the contract gives the
    same rows from the lake as from the file."""
    store = Store(demo_db)
    sink = LakeSink(store, tmp_path / "lake")
    published = sink.flush()
    assert published > 0 and sink.flush() == 0  # nothing new: nothing written twice
    store.close()
    lake = connect_lake(tmp_path / "lake")
    db = connect_readonly(demo_db)
    from semtrace.store.views import VIEWS

    for name in (*LAYOUTS, *VIEWS):  # task_answers is a mailbox, not telemetry: not in a lake
        if name == "tasks":  # open tasks' durations run to now(): compare the settled columns
            sql = "SELECT * EXCLUDE (history, duration_ms, working_ms, input_required_ms, human_wait_ms) FROM tasks"
        else:
            sql = f"SELECT * FROM {name}"
        assert normalised(dict_rows(lake, sql)) == normalised(dict_rows(db, sql)), name
        assert _count(lake, f"SELECT count(*) FROM {name}") > 0 or name in {"semtrace_stats"}


def test_spans_are_partitioned_by_day_and_service_in_files_named_by_owner(
    tmp_path: Path,
) -> None:
    """Files land under date=/service_name= and carry the owner's id and cycle in their name."""
    store = Store(tmp_path / "a.duckdb")
    store.write_spans(
        [span(1), span(2, DAY + NS_PER_DAY, "billing/eu west"), span(3, service=None)]
    )
    sink = LakeSink(store, tmp_path / "lake", owner="machine-a")
    sink.flush()
    store.close()
    files = sorted(
        str(p.relative_to(tmp_path / "lake")) for p in (tmp_path / "lake").rglob("*.parquet")
    )
    assert [f for f in files if f.startswith("spans/")] == [
        "spans/date=2026-11-27/service_name=__HIVE_DEFAULT_PARTITION__/part-machine-a-0000000001-0002.parquet",
        "spans/date=2026-11-27/service_name=svc/part-machine-a-0000000001-0000.parquet",
        "spans/date=2026-11-28/service_name=billing%2Feu%20west/part-machine-a-0000000001-0001.parquet",
    ]
    lake = connect_lake(tmp_path / "lake")
    assert lake.execute("SELECT span_id, service_name FROM spans ORDER BY span_id").fetchall() == [
        (f"{1:016x}", "svc"),
        (f"{2:016x}", "billing/eu west"),
        (f"{3:016x}", None),
    ]


def test_commits_after_a_cycle_are_published_by_the_next(tmp_path: Path) -> None:
    """Rows committed between cycles go out in the next cycle, and only those."""
    store = Store(tmp_path / "a.duckdb")
    sink = LakeSink(store, tmp_path / "lake")
    for batch in range(4):
        store.write_spans([span(batch * 100 + i) for i in range(100)])
        assert sink.flush() == 100
    store.close()
    lake = connect_lake(tmp_path / "lake")
    assert lake.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchall() == [
        (400, 400)
    ]
    assert sink.watermarks[schema.SPANS] == 400


def test_a_cycle_recorded_but_not_published_is_rolled_forward(tmp_path: Path) -> None:
    """An owner that died after recording its cycle but before renaming all of its files:
    the next owner of the file renames the rest, and reads nothing twice."""
    store = Store(tmp_path / "a.duckdb")
    store.write_spans([span(i, DAY + (i % 3) * NS_PER_DAY) for i in range(300)])

    class Died(Exception):
        pass

    def dies_halfway(files: Iterable[tuple[Path, Path]]) -> None:
        pairs = list(files)
        publish(pairs[: len(pairs) // 2])
        raise Died

    sink = LakeSink(store, tmp_path / "lake", publisher=dies_halfway)
    with pytest.raises(Died):
        sink.flush()
    assert any(p.name.endswith(".tmp") for p in _hidden(tmp_path / "lake"))
    store.write_spans([span(1000 + i) for i in range(10)])  # committed while it was down

    again = LakeSink(store, tmp_path / "lake")  # the next owner of the same file
    again.flush()
    store.close()
    assert not [p for p in _hidden(tmp_path / "lake") if p.name.endswith(".tmp")]
    lake = connect_lake(tmp_path / "lake")
    assert lake.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchall() == [
        (310, 310)
    ]


def test_a_cycle_that_died_before_it_was_recorded_is_read_again(tmp_path: Path) -> None:
    """Temporary files of a cycle that was never recorded are removed, and its rows are read
    again from the database (the lake lags, it does not lose)."""
    store = Store(tmp_path / "a.duckdb")
    store.write_spans([span(i) for i in range(50)])
    first = LakeSink(store, tmp_path / "lake", owner="o1")
    first.flush()
    store.write_spans([span(100 + i) for i in range(50)])
    # What a cycle killed while writing leaves: a half-written hidden file, no record of it.
    folder = tmp_path / "lake" / "spans" / "date=2026-11-27" / "service_name=svc"
    orphan = folder / ".part-o1-0000000002-0000.parquet.tmp"
    orphan.write_bytes(b"PAR1 half a file")
    again = LakeSink(store, tmp_path / "lake", owner="o1")
    assert not orphan.exists()
    assert again.flush() == 50
    store.close()
    lake = connect_lake(tmp_path / "lake")
    assert lake.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchall() == [
        (100, 100)
    ]


def test_a_new_database_at_the_same_path_starts_over(tmp_path: Path) -> None:
    """A database file replaced by a new one (rowids from 0 again) is published from its
    first row, under new file names, next to what the old one published."""
    path = tmp_path / "a.duckdb"
    store = Store(path)
    store.write_spans([span(i) for i in range(30)])
    LakeSink(store, tmp_path / "lake").flush()
    store.close()
    for leftover in path.parent.glob("a.duckdb*"):
        os.unlink(leftover)
    store = Store(path)
    store.write_spans([span(500 + i) for i in range(40)])
    assert LakeSink(store, tmp_path / "lake").flush() == 40
    store.close()
    lake = connect_lake(tmp_path / "lake")
    assert lake.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchall() == [
        (70, 70)
    ]


def test_files_are_bounded_in_rows(tmp_path: Path) -> None:
    """A partition's rows are split into files of at most max_file_rows rows."""
    store = Store(tmp_path / "a.duckdb")
    store.write_spans([span(i) for i in range(2500)])
    LakeSink(store, tmp_path / "lake", max_file_rows=1000).flush()
    store.close()
    import pyarrow.parquet as pq

    sizes = sorted(
        pq.ParquetFile(p).metadata.num_rows
        for p in (tmp_path / "lake" / "spans").rglob("*.parquet")
    )
    assert sizes == [500, 1000, 1000]


def test_background_cycles_wait_for_rows_to_settle(tmp_path: Path) -> None:
    """The thread's cycles publish a row once it is settle_s old, so the fix the writer makes
    when a late parent arrives (its child inherits the parent's agent) reaches the lake; a
    row published at once keeps the value it was committed with."""
    parent = span(1)  # agent a1
    child = SpanRecord(
        trace_id=parent.trace_id,
        span_id=f"{2:016x}",
        parent_span_id=parent.span_id,
        name="execute_tool lookup",
        kind="INTERNAL",
        start_ns=parent.start_ns + 10,
        end_ns=parent.start_ns + 20,
        service_name="svc",
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
    )
    store = Store(tmp_path / "a.duckdb")
    settled = LakeSink(store, tmp_path / "settled", settle_s=0.3)
    at_once = LakeSink(store, tmp_path / "at-once")
    store.write_spans([child])  # the child ends first, with no agent of its own
    assert settled.flush(settled=True) == 0  # nothing is 0.3 s old yet
    assert at_once.flush() == 1
    time.sleep(0.35)
    store.write_spans([parent])  # the writer fixes the child: it inherits a1
    assert settled.flush(settled=True) == 1  # the child, as fixed; the parent is too young
    settled.flush()
    at_once.flush()
    store.close()
    sql = "SELECT span_id, agent_name FROM spans ORDER BY span_id"
    assert connect_lake(tmp_path / "settled").execute(sql).fetchall() == [
        (f"{1:016x}", "a1"),
        (f"{2:016x}", "a1"),
    ]
    assert connect_lake(tmp_path / "at-once").execute(sql).fetchall() == [
        (f"{1:016x}", "a1"),
        (f"{2:016x}", None),
    ]
