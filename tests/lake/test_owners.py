"""Owners as real `semtrace serve --lake` processes: many writers, one lake, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

from typer.testing import CliRunner

from semtrace.cli import app
from semtrace.store.database import connect_readonly
from tests.collector.conftest import post, span_request
from tests.collector.test_processes import _start_serve

REQUESTS = 15
PER_REQUEST = 200


def _send(url: str, owner: int, first: int, last: int, acked: list[int]) -> None:
    for r in range(first, last):
        spans = [
            {
                "trace_id": bytes.fromhex(f"{owner + 1:08x}{r + 1:08x}{'f' * 16}"),
                "span_id": os.urandom(8),
                "name": f"invoke_agent a{i % 5}",
                "attributes": {"gen_ai.operation.name": "invoke_agent"},
            }
            for i in range(PER_REQUEST)
        ]
        try:
            reply = post(url, "/v1/traces", span_request(spans, f"svc-{owner}").SerializeToString())
        except OSError:  # the owner was killed: an agent would spool this batch
            return
        assert reply.status == 200, reply.body
        acked.append(PER_REQUEST)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, proc.stderr.read().decode()  # type: ignore[union-attr]


def _lake_count(lake: Path) -> list[str]:
    result = CliRunner().invoke(
        app,
        [
            "sql",
            "--lake",
            str(lake),
            "-f",
            "csv",
            "select count(*) as spans, count(distinct span_id) as ids, "
            "count(distinct service_name) as services from spans",
        ],
    )
    assert result.exit_code == 0, result.output
    return result.output.split()


def test_two_owners_write_one_lake_and_every_span_counts_once(tmp_path: Path) -> None:
    """Two owners of two database files, on two ports, feed the same lake at the same time;
    after they stop, `semtrace sql --lake` counts every span exactly once."""
    lake = tmp_path / "lake"
    owners = [_start_serve(tmp_path / f"m{i}.duckdb", "--lake", str(lake)) for i in range(2)]
    acked: list[list[int]] = [[], []]
    try:
        threads = [
            threading.Thread(target=_send, args=(ann.url, i, 0, REQUESTS, acked[i]))
            for i, (_, ann) in enumerate(owners)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for proc, _ in owners:
            _stop(proc)
    total = sum(map(sum, acked))
    assert total == 2 * REQUESTS * PER_REQUEST
    assert _lake_count(lake) == ["spans,ids,services", f"{total},{total},2"]


def test_an_owner_killed_mid_run_leaves_nothing_missing_or_doubled(tmp_path: Path) -> None:
    """kill -9 of an owner while it commits and publishes; the next owner of the file
    publishes what the lake lacks: the lake then holds exactly the database's spans."""
    db, lake = tmp_path / "m.duckdb", tmp_path / "lake"
    proc, ann = _start_serve(db, "--lake", str(lake))
    acked: list[int] = []
    sender = threading.Thread(target=_send, args=(ann.url, 1, 0, REQUESTS, acked))
    sender.start()
    while sum(acked) < 5 * PER_REQUEST:
        sender.join(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    sender.join()  # its last requests fail: the owner is gone (an agent would spool them)
    proc, ann = _start_serve(db, "--lake", str(lake))
    rest: list[int] = []
    _send(ann.url, 2, 0, 3, rest)
    _stop(proc)
    con = connect_readonly(db)
    ((in_db,),) = con.execute("select count(*) from spans").fetchall()
    con.close()
    assert in_db >= sum(acked) + sum(rest)
    assert _lake_count(lake) == ["spans,ids,services", f"{in_db},{in_db},2"]
