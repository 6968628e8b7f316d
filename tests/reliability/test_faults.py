"""Faults the agent must survive: its database locked, deleted, read-only or full."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import semtrace
from semtrace.store import SpanRecord
from semtrace.store.database import Store, close_stores, connect_readonly
from semtrace.store.resilient import ResilientWriter
from semtrace.store.stats import Stats

HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.readline()
con.close()
"""


def _spans(n: int, trace: str = "a" * 32) -> list[SpanRecord]:
    now = time.time_ns()
    return [
        SpanRecord(trace_id=trace, span_id=f"{i:016x}", parent_span_id=None, name=f"step {i}",
                   kind="INTERNAL", start_ns=now, end_ns=now + 1000)
        for i in range(n)
    ]


def _count(db: Path, sql: str = "select count(*) from spans") -> int:
    con = connect_readonly(db)
    try:
        row = con.execute(sql).fetchone()
        assert row is not None
        return int(row[0])
    finally:
        con.close()


@pytest.fixture
def holder(db_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the database open for writing until told to let go."""
    Store(db_path).close()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.wait(timeout=10)


def test_locked_database_spools_then_replays(db_path: Path, holder: subprocess.Popen[str]) -> None:
    """While another process holds the file, batches are spooled; once it lets go they are
    written in order and the spool is emptied."""
    stats = Stats()
    writer = ResilientWriter(db_path, stats=stats)
    assert writer.write(spans=_spans(5)) is False
    assert writer.write(spans=_spans(3, trace="b" * 32)) is False
    assert stats.spooled == 8 and stats.spans_written == 0 and stats.export_errors >= 1
    assert writer.spool.pending_batches() >= 1
    _release(holder)
    writer.retry_now()  # skip the backoff wait
    assert writer.write(spans=_spans(2, trace="c" * 32)) is True
    writer.close()
    assert _count(db_path) == 10
    assert stats.spooled == 0
    assert writer.spool.pending_batches() == 0


def test_agent_keeps_running_while_database_is_locked(db_path: Path, holder: subprocess.Popen[str]) -> None:
    """A traced agent whose database is locked still returns its results, and its spans reach
    the file after the other process exits."""
    script = f"""
import logging, warnings, semtrace
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
try:
    semtrace.configure(db={str(db_path)!r}, batch_interval_s=0.1)
except semtrace.DatabaseLockedError as exc:
    raise SystemExit("configure raised: " + str(exc))

@semtrace.tool("lookup")
def lookup(i):
    return i * 2

print(sum(lookup(i) for i in range(50)), flush=True)
semtrace.force_flush()
import sys; sys.stdin.readline()
from semtrace.store.resilient import get_writer
w = get_writer({str(db_path)!r}); w.retry_now()
print("replayed", w.flush_spool(), flush=True)
semtrace.shutdown()
"""
    agent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert agent.stdout is not None and agent.stdin is not None
    line = agent.stdout.readline().strip()
    assert line == str(sum(i * 2 for i in range(50))), agent.stderr.read() if agent.stderr else ""
    _release(holder)
    agent.stdin.write("\n")
    agent.stdin.flush()
    out, err = agent.communicate(timeout=60)
    assert agent.returncode == 0, err
    assert "replayed" in out
    assert _count(db_path, "select count(*) from spans where name = 'execute_tool lookup'") == 50


def test_deleted_database_is_recreated(db_path: Path) -> None:
    """When the file is deleted under a running writer, later batches go to a new file
    instead of a dead inode."""
    writer = ResilientWriter(db_path, stats=Stats())
    assert writer.write(spans=_spans(4))
    os.remove(db_path)
    if Path(str(db_path) + ".wal").exists():
        os.remove(str(db_path) + ".wal")
    assert writer.write(spans=_spans(6, trace="d" * 32))
    writer.close()
    close_stores()
    assert _count(db_path) == 6


SMALL_FS_BYTES = 4 * 1024 * 1024


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root and mount rights, as on CI machines)."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_FS_BYTES}", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_read_only_filesystem_spools_elsewhere_then_replays(
    small_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a read-only file system the batches wait in the spool and are written when it is
    writable again."""
    monkeypatch.setenv("SEMTRACE_SPOOL_DIR", str(tmp_path / "spool"))
    db = small_fs / "ro.duckdb"
    stats = Stats()
    writer = ResilientWriter(db, stats=stats)
    assert writer.write(spans=_spans(2))
    writer.close()
    close_stores()
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    writer = ResilientWriter(db, stats=stats)
    assert writer.write(spans=_spans(3, trace="e" * 32)) is False
    assert stats.spooled == 3
    subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)
    writer.retry_now()
    assert writer.flush_spool() == 1
    writer.close()
    close_stores()
    assert _count(db) == 5


def test_full_disk_counts_what_it_cannot_keep(small_fs: Path) -> None:
    """When the disk is full and the spool cannot grow either, the loss is counted, the
    writer never raises, and writing resumes when space is freed."""
    db = small_fs / "full.duckdb"
    stats = Stats()
    writer = ResilientWriter(db, stats=stats)
    assert writer.write(spans=_spans(1))
    filler = small_fs / "filler"
    with pytest.raises(OSError), open(filler, "wb", buffering=0) as fh:
        for _ in range(SMALL_FS_BYTES // 65536 + 16):  # more than the file system holds
            fh.write(b"\0" * 65536)
    big = [s for s in _spans(20_000, trace="f" * 32)]
    assert writer.write(spans=big) is False
    assert stats.spans_dropped + stats.spooled == 20_000
    assert stats.spans_dropped > 0
    filler.unlink()
    writer.retry_now()
    assert writer.write(spans=_spans(2, trace="9" * 32)) is True
    writer.close()
    close_stores()
    assert _count(db, "select count(*) from spans where trace_id = '" + "9" * 32 + "'") == 2


def test_doctor_reports_spool_and_drops(db_path: Path, holder: subprocess.Popen[str]) -> None:
    """`semtrace doctor` names the waiting spool with its fix, and replays it on request."""
    writer = ResilientWriter(db_path, stats=Stats())
    writer.write(spans=_spans(3))
    _release(holder)
    from semtrace.doctor import run_checks

    checks = {c.name: c for c in run_checks(db_path)}
    assert checks["spool"].status == "warn" and "1 batches" in checks["spool"].detail
    assert "--replay" in checks["spool"].fix
    res = subprocess.run([sys.executable, "-m", "semtrace.cli", "doctor", "--replay", "--db", str(db_path)],
                         capture_output=True, text=True)
    assert "replayed 1 spooled batch" in res.stdout, res.stderr
    assert _count(db_path) == 3
    semtrace.shutdown()
