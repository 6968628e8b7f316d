"""`semtrace lake compact`: fewer files, every row still read exactly once, even mid-write."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from semtrace.cli import app
from semtrace.lake import LakeSink, connect_lake, visible_files
from semtrace.lake.compact import LakeBusyError, compact
from semtrace.lake.sink import state_dir
from semtrace.store.database import Store
from tests.lake.conftest import DAY, span

NS_PER_DAY = 86_400 * 10**9


def _spans(lake: Path) -> tuple[int, int]:
    con = connect_lake(lake)
    try:
        ((total, distinct),) = con.execute(
            "SELECT count(*), count(DISTINCT span_id) FROM spans"
        ).fetchall()
    finally:
        con.close()
    return int(total), int(distinct)


@pytest.fixture
def small_files(tmp_path: Path) -> Path:
    """A lake of 12 cycles of 50 spans each: 12 small files in one partition."""
    store = Store(tmp_path / "a.duckdb")
    sink = LakeSink(store, tmp_path / "lake")
    for c in range(12):
        store.write_spans([span(c * 50 + i) for i in range(50)])
        sink.flush()
    store.close()
    return tmp_path / "lake"


def test_compaction_merges_small_files_and_keeps_every_row_once(small_files: Path) -> None:
    """Twelve files become one; during the grace period the replaced files stay on disk but
    readers skip them; after it they are deleted."""
    assert len(visible_files(small_files, "spans")) == 12
    report = compact(small_files)
    assert (report.files_in, report.files_out, report.rows) == (12, 1, 600)
    on_disk = list((small_files / "spans").rglob("*.parquet"))
    assert len(on_disk) == 13  # the replaced files wait for queries that listed them
    assert len(visible_files(small_files, "spans")) == 1
    assert _spans(small_files) == (600, 600)
    report = compact(small_files, grace_s=0)
    assert report.removed_files == 12 and report.files_in == 0
    assert len(list((small_files / "spans").rglob("*.parquet"))) == 1
    assert not list((small_files / "spans").rglob("_compaction-*"))
    assert _spans(small_files) == (600, 600)


def test_a_marker_whose_outputs_are_not_all_published_hides_them(small_files: Path) -> None:
    """A compaction killed after its marker but before renaming its outputs: readers keep
    reading the old files, and the next compaction finishes the job."""
    report = compact(small_files)
    assert report.files_out == 1
    (merged,) = [p for p in (small_files / "spans").rglob("part-compact-*.parquet")]
    marker = next(merged.parent.glob("_compaction-*.json"))
    tmp = merged.parent / f".compact-{merged.name.split('-')[2]}-0000.parquet.tmp"
    assert marker.read_text().count(tmp.name) == 1
    merged.rename(tmp)  # as if the rename had not happened yet
    assert len(visible_files(small_files, "spans")) == 12
    assert _spans(small_files) == (600, 600)
    compact(small_files)
    assert merged.exists() and not tmp.exists()
    assert _spans(small_files) == (600, 600)


def test_compaction_during_writes_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path,
) -> None:
    """While an owner commits and publishes, compactions run (grace 0) and a reader counts:
    every count lies between what was published before and after it, never above, and
    the final count is every committed span."""
    store = Store(tmp_path / "a.duckdb")
    lake = tmp_path / "lake"
    sink = LakeSink(store, lake)
    published = [0]
    done = threading.Event()
    errors: list[BaseException] = []

    def owner() -> None:
        try:
            for c in range(40):
                store.write_spans([span(c * 25 + i, DAY + (c % 2) * NS_PER_DAY) for i in range(25)])
                sink.flush()
                published[0] = sink.watermarks["spans"]
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=owner)
    thread.start()
    seen: list[int] = []
    compactions = 0
    while not done.is_set():
        before = published[0]
        compactions += compact(lake, grace_s=0).partitions
        total, distinct = _spans(lake)
        after = published[0]
        assert total == distinct and before <= total <= after
        seen.append(total)
    thread.join()
    assert not errors
    compact(lake, grace_s=0)
    store.close()
    assert _spans(lake) == (1000, 1000)
    assert compactions > 0 and seen == sorted(seen)


def test_retention_deletes_whole_days_older_than_the_window(tmp_path: Path) -> None:
    """Days wholly older than the window go; the rest stays."""
    store = Store(tmp_path / "a.duckdb")
    store.write_spans([span(i, DAY - (i % 5) * NS_PER_DAY) for i in range(50)])
    LakeSink(store, tmp_path / "lake").flush()
    store.close()
    now = datetime(2026, 11, 27, 18, tzinfo=UTC)
    report = compact(tmp_path / "lake", retention=timedelta(days=2), now=now)
    assert sorted(p.split("/")[1] for p in report.expired_partitions if p.startswith("spans")) == [
        "date=2026-11-23",
        "date=2026-11-24",
    ]
    assert _spans(tmp_path / "lake") == (30, 30)


def test_one_compaction_at_a_time(small_files: Path) -> None:
    """A second compaction while one holds the lock is refused with what to do."""
    lock = state_dir(small_files) / "compact.lock"
    lock.write_text("{}")
    with pytest.raises(LakeBusyError, match="another `semtrace lake compact` is running"):
        compact(small_files)
    lock.unlink()


def test_cli_compact_and_status(small_files: Path) -> None:
    """`semtrace lake compact` says what it merged; `semtrace lake status` shows the owner."""
    runner = CliRunner()
    result = runner.invoke(app, ["lake", "compact", str(small_files), "--grace", "0s"])
    assert result.exit_code == 0, result.output
    assert "merged 12 files into 1 in 1 partitions (600 rows); removed 12" in " ".join(
        result.output.split()
    )
    result = runner.invoke(app, ["lake", "status", str(small_files)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "spans: 1 files" in flat and "600 spans" in flat
    result = runner.invoke(app, ["lake", "compact", str(small_files.parent / "nope")])
    assert result.exit_code == 1 and "is not a semtrace lake" in " ".join(result.output.split())


def test_cli_compact_with_retention_deletes_the_days_before_the_window(tmp_path: Path) -> None:
    """`semtrace lake compact --retention 2d` deletes the days that ended before the window
    (counted from now) and merges what stays; a retention that is no duration is refused."""
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    store = Store(tmp_path / "a.duckdb")
    sink = LakeSink(store, tmp_path / "lake")
    for back in range(5):  # two cycles per day: two small files in each day's partition
        start = int((today - timedelta(days=back)).timestamp() * 1e9)
        for c in range(2):
            store.write_spans([span(back * 100 + c * 10 + i, start) for i in range(10)])
            sink.flush()
    store.close()
    lake = tmp_path / "lake"
    runner = CliRunner()
    result = runner.invoke(
        app, ["lake", "compact", str(lake), "--retention", "2d", "--grace", "0s"]
    )
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "merged 6 files into 3 in 3 partitions (60 rows)" in flat
    assert "expired 2 day partitions" in flat
    days = sorted(p.name for p in (lake / "spans").iterdir())
    assert days == [f"date={(today - timedelta(days=b)).date()}" for b in (2, 1, 0)]
    assert _spans(lake) == (60, 60)
    result = runner.invoke(app, ["lake", "compact", str(lake), "--retention", "forever"])
    assert result.exit_code == 1
    assert "--retention 'forever'" in " ".join(result.output.split())
    assert _spans(lake) == (60, 60)
