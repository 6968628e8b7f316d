"""Overload, crashes and semtrace's own bugs: the agent never pays for its telemetry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import semtrace
from semtrace.store.database import connect_readonly
from semtrace.store.stats import STATS
from semtrace.tracer.setup import STATE


class _StuckExporter(SpanExporter):
    """An exporter whose storage hangs until released (a stalled disk or network)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(30)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def test_stalled_storage_never_blocks_the_agent(db_path: Path) -> None:
    """With storage hung, 40,000 traced calls still complete; the queue stays bounded and what
    did not fit is counted as dropped."""
    stuck = _StuckExporter()
    STATS.reset()
    semtrace.configure(db=db_path, span_exporter_factory=lambda settings: stuck)
    try:

        @semtrace.tool("fast")
        def fast(i: int) -> int:
            return i

        total = sum(fast(i) for i in range(40_000))
        assert total == sum(range(40_000))
        processor = STATE.processor.inner  # type: ignore[union-attr]
        queued = processor.queue.pending  # type: ignore[union-attr]
        assert queued <= 16_384
        assert STATS.spans_dropped >= 40_000 - 16_384 - 2_048
    finally:
        stuck.release.set()
        semtrace.shutdown()
        STATE.settings = None
    assert stuck.exported + STATS.spans_dropped == 40_000


AGENT = textwrap.dedent(
    """
    import sys, time, semtrace
    semtrace.configure(db=sys.argv[1], batch_interval_s=0.05)

    @semtrace.tool("work")
    def work(i):
        return i

    i = 0
    deadline = time.monotonic() + 120  # killed long before; never outlives a stuck test
    while time.monotonic() < deadline:
        work(i)
        i += 1
        if i == 2000:
            semtrace.force_flush()
            print("flushed", flush=True)
    """
)


def test_kill_9_mid_export_keeps_the_file_usable(db_path: Path) -> None:
    """An agent killed with SIGKILL while exporting leaves a file that reopens, with every
    batch committed before the kill."""
    proc = subprocess.Popen([sys.executable, "-c", AGENT, str(db_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "flushed"
    time.sleep(0.3)  # let it be mid-way through later batches
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    con = connect_readonly(db_path)
    try:
        row = con.execute("select count(*), count(distinct span_id) from spans").fetchone()
    finally:
        con.close()
    assert row is not None
    assert row[0] >= 2000 and row[0] == row[1]


BUGGY = textwrap.dedent(
    """
    import sys, semtrace
    from semtrace._errors import internal_error_counts
    from semtrace.tracer._failures import FAILURE_HOOKS

    def broken_hook(span, call, exc, sentence):
        raise RuntimeError("renderer bug")

    FAILURE_HOOKS.append(broken_hook)
    semtrace.configure(db=sys.argv[1])

    @semtrace.tool("flaky")
    def flaky():
        raise ValueError("boom")

    try:
        flaky()
    except ValueError as exc:
        print("user saw:", exc)
    print("counted:", internal_error_counts())
    """
)


def test_internal_bug_is_swallowed_and_counted_in_production(db_path: Path) -> None:
    """A bug inside semtrace's own failure handling never replaces the user's exception in
    production: the user sees their error and the bug is counted."""
    env = {k: v for k, v in os.environ.items() if k != "SEMTRACE_RAISE_INTERNAL_ERRORS"}
    res = subprocess.run([sys.executable, "-c", BUGGY, str(db_path)], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert "user saw: boom" in res.stdout
    assert "failure hook: RuntimeError" in res.stdout


def test_internal_bug_is_raised_under_tests(db_path: Path) -> None:
    """With SEMTRACE_RAISE_INTERNAL_ERRORS=1 the same bug surfaces, so tests see it."""
    env = dict(os.environ, SEMTRACE_RAISE_INTERNAL_ERRORS="1")
    res = subprocess.run([sys.executable, "-c", BUGGY, str(db_path)], capture_output=True, text=True, env=env)
    assert "renderer bug" in res.stderr + res.stdout
    assert "user saw: boom" not in res.stdout
