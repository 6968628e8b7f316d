"""The remote writer (the owner transport's sender) against real servers on 127.0.0.1.

A scripted HTTP server answers 429/503 with ``Retry-After`` (seconds, and an HTTP date): the
writer waits what it was told (on an injected clock, not in real time), sends the same batch
again and counts the retry. A real owner killed -9: the batch in flight goes to the spool, a
new owner is started off the sender's thread, and the spool is replayed to it.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from semtrace.collector.client import CollectorConnection
from semtrace.store.model import SpanRecord
from semtrace.store.ownership import ensure_owner, pid_alive, read_announcement, stop_owner
from semtrace.store.remote import (
    BATCH_HEADER,
    MAX_REQUEST_RECORDS,
    REPLAY_HEADER,
    SENDERS,
    RemoteWriter,
    Target,
)
from semtrace.store.schema import SPANS
from semtrace.store.spool import decode_tables
from semtrace.store.stats import Stats

NOW = 1_900_000_000.0  # the writer's wall clock, so an HTTP date is a known number of seconds


def spans(n: int, first: int = 0) -> list[SpanRecord]:
    return [
        SpanRecord(f"{i:032x}", f"{i:016x}", None, f"step {i}", "INTERNAL", i, i + 10)
        for i in range(first, first + n)
    ]


class FakeClock:
    """A monotonic clock that moves only when the writer sleeps; the sleeps are recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Scripted(ThreadingHTTPServer):
    """Answers ``POST /v1/batches`` with the next (status, headers) of its script, then 200;
    records each request's batch id and replay header."""

    daemon_threads = True

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.script = list(script)
        self.seen: list[tuple[str | None, str | None]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Scripted

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.seen.append(
                (self.headers.get(BATCH_HEADER), self.headers.get(REPLAY_HEADER))
            )
            status, headers = self.server.script.pop(0) if self.server.script else (200, {})
        body = json.dumps({"status": status}).encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[list[Scripted]]:
    started: list[Scripted] = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


def serve(started: list[Scripted], script: list[tuple[int, dict[str, str]]]) -> Scripted:
    server = Scripted(script)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started.append(server)
    return server


def scripted_writer(
    tmp_path: Path, server: Scripted, clock: FakeClock, stats: Stats, **options: Any
) -> RemoteWriter:
    """A writer to ``server`` on ``clock`` (its sleeps recorded), its wall clock at NOW."""
    return RemoteWriter(
        str(tmp_path / "r.duckdb"),
        lambda: Target(server.url),
        stats=stats,
        clock=clock,
        sleep=clock.sleep,
        wall_clock=lambda: NOW,
        pipeline=False,
        **options,
    )


@pytest.mark.parametrize(
    ("status", "retry_after", "waited"),
    [
        (429, "3", 3.0),  # seconds
        (503, formatdate(NOW + 7, usegmt=True), 7.0),  # an HTTP date, 7 s after "now"
    ],
)
def test_retry_after_is_honoured_and_the_retry_counted(
    tmp_path: Path, scripted: list[Scripted], status: int, retry_after: str, waited: float
) -> None:
    server = serve(scripted, [(status, {"Retry-After": retry_after})])
    clock, stats = FakeClock(), Stats()
    writer = scripted_writer(tmp_path, server, clock, stats)
    assert writer.write(spans(5))
    assert clock.sleeps == [waited]  # waited as told before the second attempt
    [(first_id, _), (second_id, _)] = server.seen
    assert first_id == second_id  # the same batch, sent again
    snap = stats.snapshot()
    assert snap["retries"] == 1 and snap["spans_written"] == 5
    assert snap["export_errors"] == 0 and snap["spooled"] == 0
    writer.close()


def test_retry_after_beyond_the_budget_spools_the_batch(
    tmp_path: Path, scripted: list[Scripted]
) -> None:
    """Told to wait past the retry budget: it waits the budget once, then the batch is
    spooled (counted) and replayed once the server takes it."""
    server = serve(scripted, [(503, {"Retry-After": "120"})] * 2)
    clock, stats = FakeClock(), Stats()
    writer = scripted_writer(tmp_path, server, clock, stats, max_retry_s=10.0)
    assert writer.write(spans(4)) is False
    assert clock.sleeps == [10.0]  # capped at the budget once, then no more
    snap = stats.snapshot()
    assert snap["retries"] == 1 and snap["export_errors"] == 1 and snap["spooled"] == 4
    assert writer.spool.pending_batches() == 1
    writer.retry_now()
    assert writer.flush_spool() == 1  # the script is spent: 200, the spool drains
    assert server.seen[-1][1] == "1"  # sent as a replay
    assert stats.snapshot()["replayed"] == 4 and stats.snapshot()["spooled"] == 0


@pytest.fixture
def owned(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "owned.duckdb"
    yield path
    stop_owner(path)


def _wait(predicate: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def test_an_owner_killed_9_spools_the_batch_and_a_new_owner_gets_the_replay(owned: Path) -> None:
    """The owner dies between two batches: the next batch is resent once on a new connection
    (counted), then spooled (counted) while a new owner starts on another thread; the batch
    after that goes to the new owner, and the spool is replayed to it. Nothing is lost or
    stored twice."""

    def resolve() -> Target:
        ann = ensure_owner(owned, idle_timeout_s=60)
        return Target(ann.url, ann.token)

    stats = Stats()
    writer = RemoteWriter(str(owned), resolve, stats=stats, pipeline=False)
    assert writer.write(spans(10))
    first = read_announcement(owned)
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)
    _wait(lambda: not pid_alive(first.pid), "the owner's death")

    assert writer.write(spans(20, first=10)) is False  # spooled, not lost
    snap = stats.snapshot()
    assert snap["retries"] == 1  # sent again on a new connection once the kept-alive one broke
    assert snap["export_errors"] == 1 and snap["spooled"] == 20
    assert writer.spool.pending_batches() == 1
    assert writer.backing_off  # later batches are spooled without waiting for the new owner

    _wait(lambda: not writer.finding_owner, "the new owner")
    second = read_announcement(owned)
    assert second is not None and second.pid != first.pid
    assert writer.write(spans(5, first=30))  # to the new owner, and the spool replayed to it
    snap = stats.snapshot()
    assert snap["spans_written"] == 15 and snap["replayed"] == 20 and snap["spooled"] == 0
    assert writer.spool.pending_batches() == 0
    writer.close()

    con = CollectorConnection(second.url, token=second.token)
    assert con.sql("select count(*), count(distinct span_id) from spans").fetchall() == [(35, 35)]


class Gated(ThreadingHTTPServer):
    """Holds each ``POST /v1/batches`` until ``gate`` is set, then answers 200; records the
    tables of each request body."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _GatedHandler)
        self.gate = threading.Event()
        self.cond = threading.Condition()
        self.bodies: list[list[tuple[str, int]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def held(self, n: int) -> bool:
        """Wait until ``n`` requests arrived (and are held)."""
        with self.cond:
            return self.cond.wait_for(lambda: len(self.bodies) >= n, 10)


class _GatedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Gated

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.cond:
            self.server.bodies.append([(name, t.num_rows) for name, t in decode_tables(body)])
            self.server.cond.notify_all()
        self.server.gate.wait(30)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gated() -> Iterator[Gated]:
    server = Gated()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.gate.set()
    server.shutdown()
    server.server_close()


def span_rows(body: list[tuple[str, int]]) -> list[int]:
    return [rows for name, rows in body if name == SPANS]


def test_batches_handed_over_while_requests_are_out_go_together(
    tmp_path: Path, gated: Gated
) -> None:
    """The owner commits per request: batches that queued up behind slow requests go out
    as one request (all their spans, each once), not one round trip each; and SENDERS
    requests are out at once (the owner decodes one while it commits another)."""
    stats = Stats()
    writer = RemoteWriter(str(tmp_path / "r.duckdb"), lambda: Target(gated.url), stats=stats)
    for k in range(SENDERS):
        assert writer.write(spans(3, first=1000 * k))
        assert gated.held(k + 1)  # one more sender has a request out, held by the server
    for k in range(5):
        assert writer.write(spans(4, first=100 + 10 * k))
    assert not writer.flush(timeout_s=0.2)  # not delivered while the server holds them
    gated.gate.set()
    assert writer.flush(timeout_s=30)
    assert [span_rows(b) for b in gated.bodies] == [[3]] * SENDERS + [[4] * 5]
    assert stats.snapshot()["spans_written"] == 3 * SENDERS + 20
    writer.close()


def test_handing_over_waits_when_a_request_worth_of_batches_is_waiting(
    tmp_path: Path, gated: Gated
) -> None:
    """Memory stays bounded: past MAX_REQUEST_RECORDS waiting, the caller waits for a
    sender rather than queueing more (the exporter's own queue drops and counts beyond)."""
    writer = RemoteWriter(str(tmp_path / "r.duckdb"), lambda: Target(gated.url), stats=Stats())
    half = MAX_REQUEST_RECORDS // 2 + 1
    for k in range(SENDERS):
        assert writer.write(spans(1, first=k))
        assert gated.held(k + 1)
    assert writer.write(spans(half, first=10))  # waits for a sender: fits
    done = threading.Event()
    third = threading.Thread(
        target=lambda: (writer.write(spans(half, first=10 + half)), done.set()), daemon=True
    )
    third.start()
    assert not done.wait(0.3)  # would pass the bound: the caller waits
    gated.gate.set()
    assert done.wait(30)  # a sender took the waiting batch: room again
    assert writer.flush(timeout_s=30)
    assert sorted(sum(span_rows(b)) for b in gated.bodies) == [1] * SENDERS + [half, half]
    writer.close()
