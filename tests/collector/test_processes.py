"""`semtrace serve` as its own process: routing from other processes, signals, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import semtrace
from semtrace.collector.client import CollectorConnection
from semtrace.store.ownership import (
    Announcement,
    announcement_path,
    read_announcement,
    write_announcement,
)
from semtrace.tracer.setup import STATE
from tests.collector.conftest import post, rows_from_file, span_request

SEMTRACE = str(Path(sys.executable).parent / "semtrace")


def _start_serve(db: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Announcement]:
    proc = subprocess.Popen(
        [SEMTRACE, "serve", "--db", str(db), "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ann = read_announcement(db)
        if ann is not None and ann.pid == proc.pid:
            return proc, ann
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("serve did not announce itself")


@pytest.fixture
def served(db_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Announcement]]:
    proc, ann = _start_serve(db_path)
    yield proc, ann
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_another_process_exports_to_the_collector_and_sql_goes_through_it(
    served: tuple[subprocess.Popen[bytes], Announcement], db_path: Path
) -> None:
    """configure(db=same file) in another process routes to the collector; `semtrace sql`
    and semtrace.connect() query through it; SIGTERM exits 0 with everything committed."""
    proc, _ann = served
    agent = _run_python(
        f"""
        import time, semtrace
        from opentelemetry import trace
        from semtrace.store.model import LogRecord
        from semtrace.tracer.setup import emit_log
        from semtrace.store.remote import RemoteWriter
        from semtrace.store.resilient import get_writer
        semtrace.configure(db={str(db_path)!r}, service_name="worker")
        assert isinstance(get_writer({str(db_path)!r}), RemoteWriter)
        with trace.get_tracer("w").start_as_current_span("invoke_agent worker",
                attributes={{"gen_ai.agent.name": "worker"}}) as span:
            ctx = span.get_span_context()
            emit_log(LogRecord(time_ns=time.time_ns(), message="worker started",
                               trace_id=format(ctx.trace_id, "032x"), agent_name="worker"))
        semtrace.shutdown()
        """
    )
    assert agent.returncode == 0, agent.stderr
    sql = subprocess.run(
        [SEMTRACE, "sql", "--db", str(db_path), "--format", "json",
         "select s.name, s.agent_name, l.message from spans s join logs l using (trace_id)"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert sql.returncode == 0, sql.stderr
    assert json.loads(sql.stdout) == [
        {"name": "invoke_agent worker", "agent_name": "worker", "message": "worker started"}
    ]
    con = semtrace.connect(db_path)
    assert isinstance(con, CollectorConnection)
    assert con.sql("select count(*) from spans").fetchall() == [(1,)]

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not announcement_path(db_path).exists()
    assert rows_from_file(db_path, "select agent_name from spans") == [("worker",)]


def test_sigterm_commits_every_request_it_acknowledged(db_path: Path) -> None:
    """Requests racing a SIGTERM are either acknowledged and stored, or refused; exit is 0."""
    proc, ann = _start_serve(db_path)
    statuses: list[int] = []
    stop = threading.Event()

    def sender() -> None:
        while not stop.is_set():
            body = span_request([{"name": "racing"}] * 50).SerializeToString()
            try:
                statuses.append(post(ann.url, "/v1/traces", body).status)
            except OSError:
                return

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for t in threads:
        t.start()
    while len(statuses) < 5:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    stop.set()
    for t in threads:
        t.join()
    assert code == 0
    acknowledged = statuses.count(200) * 50
    assert set(statuses) <= {200, 503}
    assert rows_from_file(db_path, "select count(*) from spans") == [(acknowledged,)]


def test_kill_9_loses_no_acknowledged_span(db_path: Path) -> None:
    """After kill -9 and a restart, every span and log answered 200 is queryable."""
    proc, ann = _start_serve(db_path)
    sent = 0
    for i in range(20):
        body = span_request([{"name": f"req-{i}"}] * 100).SerializeToString()
        assert post(ann.url, "/v1/traces", body).status == 200
        sent += 100
    log_body = json.dumps(
        {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "last"}}]}]}]}
    ).encode()
    assert post(ann.url, "/v1/logs", log_body, "application/json").status == 200
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert announcement_path(db_path).exists()  # left behind, now stale

    proc2, ann2 = _start_serve(db_path)
    try:
        assert ann2.pid == proc2.pid != proc.pid
        con = CollectorConnection(ann2.url)
        assert con.sql("select count(*) from spans").fetchall() == [(sent,)]
        assert con.sql("select message from logs").fetchall() == [("last",)]
    finally:
        proc2.send_signal(signal.SIGTERM)
        assert proc2.wait(timeout=30) == 0


def test_a_stale_announcement_is_ignored_and_removed(db_path: Path) -> None:
    """An announcement naming a dead pid is removed; configure() then writes the file itself."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_announcement(Announcement(url="http://127.0.0.1:9", pid=dead.pid, db=str(db_path)))
    assert announcement_path(db_path).exists()
    settings = semtrace.configure(db=db_path, service_name="embedded")
    try:
        assert settings.endpoint is None
        assert not announcement_path(db_path).exists()
    finally:
        semtrace.shutdown()
        STATE.settings = None


def test_serve_refuses_a_file_another_collector_serves(
    served: tuple[subprocess.Popen[bytes], Announcement], db_path: Path
) -> None:
    """A second `semtrace serve` on the same file fails with the owner's URL, not a lock error."""
    _, ann = served
    second = subprocess.run(
        [SEMTRACE, "serve", "--db", str(db_path), "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert second.returncode == 1
    assert ann.url in second.stderr and "already served" in second.stderr


def test_binding_beyond_loopback_without_a_token_warns(db_path: Path) -> None:
    """`serve --host 0.0.0.0` without a token prints a warning naming --token."""
    proc, _ = _start_serve(db_path, "--host", "0.0.0.0")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    err = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert "warning" in err and "--token" in err
    assert os.path.exists(db_path)


def test_an_announcement_nobody_listens_at_is_stale(db_path: Path) -> None:
    """A live pid (a reused one, after a reboot) whose URL refuses connections is stale too."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    write_announcement(
        Announcement(url=f"http://127.0.0.1:{free_port}", pid=os.getpid(), db=str(db_path))
    )
    assert read_announcement(db_path) is None
    assert not announcement_path(db_path).exists()
