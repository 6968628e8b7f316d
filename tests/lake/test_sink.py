"""The lake sink: every committed row in the lake exactly once, whatever moment it stopped."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from semtrace.lake import LakeSink, connect_lake, owner_id
from semtrace.lake.layout import LAYOUTS, NameTaken, publish
from semtrace.lake.sink import OwnerConflict, state_dir
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


def test_a_cycle_whose_publishing_failed_is_finished_by_the_next_not_read_again(
    tmp_path: Path,
) -> None:
    """A cycle recorded, then failing halfway through publishing (a disk hiccup) in an
    owner that goes on: its next cycle publishes the rest of those files, then the new rows;
    the half already published is not written a second time."""
    store = Store(tmp_path / "a.duckdb")
    store.write_spans([span(i, DAY + (i % 3) * NS_PER_DAY) for i in range(300)])
    failures = [OSError("the disk hiccuped")]

    def flaky(files: Iterable[tuple[Path, Path]]) -> None:
        pairs = list(files)
        if failures:
            publish(pairs[: len(pairs) // 2])
            raise failures.pop()
        publish(pairs)

    sink = LakeSink(store, tmp_path / "lake", publisher=flaky)
    with pytest.raises(OSError, match="hiccuped"):  # SEMTRACE_RAISE_INTERNAL_ERRORS=1
        sink.flush()
    assert sink.stats.errors == 1
    store.write_spans([span(1000 + i) for i in range(10)])
    assert sink.flush() == 10
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


POD = "travel-agents-production-worker-deployment-7c9d8f6b5-"  # 53 characters


def test_owner_ids_differ_past_a_long_host_name_prefix_and_per_database(tmp_path: Path) -> None:
    """Two pods whose names share their first 53 characters, the same database path on
    each: two ids. The same database reopened keeps its id; a new database at the same path
    (another container of the same name) gets another."""
    db = "/data/semtrace.duckdb"
    a, b = owner_id(db, host=POD + "abcde"), owner_id(db, host=POD + "fghij")
    assert a != b
    assert a.startswith(POD[:40] + "-") and len(a) == 40 + 1 + 16
    path = tmp_path / "a.duckdb"
    store = Store(path)
    first = LakeSink(store, tmp_path / "lake").owner
    again = LakeSink(store, tmp_path / "lake").owner
    store.close()
    for leftover in path.parent.glob("a.duckdb*"):
        os.unlink(leftover)
    store = Store(path)
    other = LakeSink(store, tmp_path / "lake").owner
    store.close()
    assert first == again != other


def test_a_state_file_of_another_database_is_refused_not_taken_over(tmp_path: Path) -> None:
    """A second database under an id already in use (SEMTRACE_LAKE_OWNER given twice) is
    refused: it neither reads the first one's watermarks as its own nor writes its files.
    Under its own id, both databases' rows are in the lake."""
    lake = tmp_path / "lake"
    a, b = Store(tmp_path / "a.duckdb"), Store(tmp_path / "b.duckdb")
    a.write_spans([span(i) for i in range(100)])
    b.write_spans([span(1000 + i) for i in range(100)])
    first = LakeSink(a, lake, owner="shared")
    assert first.flush() == 100
    with pytest.raises(OwnerConflict, match=r"in use by .*a\.duckdb"):
        LakeSink(b, lake, owner="shared")
    assert LakeSink(b, lake).flush() == 100
    a.close()
    b.close()
    assert connect_lake(lake).execute(
        "SELECT count(*), count(DISTINCT span_id) FROM spans"
    ).fetchall() == [(200, 200)]


def test_an_owner_whose_id_was_taken_meanwhile_stops_publishing(tmp_path: Path) -> None:
    """Two owners started at once under one id both found no state file: the first to save
    again finds the other's and refuses, and removes its own unpublished files."""
    lake = tmp_path / "lake"
    a, b = Store(tmp_path / "a.duckdb"), Store(tmp_path / "b.duckdb")
    first = LakeSink(a, lake, owner="shared")
    (state_dir(lake) / "owners" / "shared.json").unlink()  # as if b had started first
    second = LakeSink(b, lake, owner="shared")
    a.write_spans([span(i) for i in range(10)])
    b.write_spans([span(100 + i) for i in range(20)])
    with pytest.raises(OwnerConflict, match=r"b\.duckdb"):
        first.flush()  # SEMTRACE_RAISE_INTERNAL_ERRORS: the owner would count it and go on
    assert first.stats.errors == 1 and "OwnerConflict" in (first.stats.last_error or "")
    assert not [p for p in _hidden(lake) if p.name.endswith(".tmp")]
    assert second.flush() == 20
    a.close()
    b.close()
    assert connect_lake(lake).execute("SELECT count(*) FROM spans").fetchall() == [(20,)]


def test_publish_never_writes_over_a_file(tmp_path: Path) -> None:
    """A final name another file has is refused (NameTaken) and both files kept; the other
    pairs are published, and a pair linked before a crash (temporary and final one file) is
    finished."""
    pairs = []
    for name in ("taken", "free", "linked"):
        tmp = tmp_path / f".{name}.parquet.tmp"
        tmp.write_bytes(f"new {name}".encode())
        pairs.append((tmp, tmp_path / f"{name}.parquet"))
    pairs[0][1].write_bytes(b"someone else's file")
    os.link(pairs[2][0], pairs[2][1])
    with pytest.raises(NameTaken) as caught:
        publish(pairs)
    assert caught.value.pairs == [pairs[0]]
    assert pairs[0][1].read_bytes() == b"someone else's file"
    assert pairs[0][0].read_bytes() == b"new taken"
    assert [p.exists() for p, _ in pairs] == [True, False, False]
    assert pairs[1][1].read_bytes() == b"new free" and pairs[2][1].read_bytes() == b"new linked"


def test_a_taken_file_name_is_counted_and_the_file_published_under_another(
    tmp_path: Path,
) -> None:
    """Another writer's file already has the name the sink's next cycle uses: the sink
    leaves it alone, publishes under a new name and counts the collision."""
    lake = tmp_path / "lake"
    store = Store(tmp_path / "a.duckdb")
    store.write_spans([span(i) for i in range(50)])
    sink = LakeSink(store, lake, owner="o1")
    sink.flush()
    other = Store(tmp_path / "b.duckdb")
    other.write_spans([span(500 + i) for i in range(7)])
    LakeSink(other, lake, owner="o2").flush()
    other.close()
    folder = lake / "spans" / "date=2026-11-27" / "service_name=svc"
    foreign = folder / "part-o1-0000000002-0000.parquet"
    (folder / "part-o2-0000000001-0000.parquet").rename(foreign)
    before = foreign.read_bytes()
    store.write_spans([span(100 + i) for i in range(50)])
    assert sink.flush() == 50
    store.close()
    assert sink.stats.name_collisions == 1 and sink.health()["name_collisions"] == 1
    assert foreign.read_bytes() == before
    assert len(list(folder.glob("part-o1-0000000002-0000-*.parquet"))) == 1
    assert connect_lake(lake).execute(
        "SELECT count(*), count(DISTINCT span_id) FROM spans"
    ).fetchall() == [(107, 107)]
