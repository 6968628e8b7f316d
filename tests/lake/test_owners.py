"""Owners as real processes (`semtrace serve --lake`, the owner an agent starts): many
writers, one lake, kill -9.

The owners run with a short settle (``--lake-settle``), so their background cycles publish
while the test writes: what is checked is the lake as the cycles leave it, not only the
last flush of an owner that stops.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from semtrace.cli import app
from semtrace.store.database import connect_readonly
from semtrace.store.ownership import read_announcement, stop_owner
from tests.collector.conftest import get, post, span_request
from tests.collector.test_processes import _start_serve
from tests.store.test_owner import AGENT, finish, owner_env, wait_for

SETTLE = "0.3"
PHASES = 3  # each owner's rows go out in at least this many cycles before it stops
PER_PHASE = 5  # requests
PER_REQUEST = 200


def _send(url: str, owner: int, first: int, last: int, acked: list[int]) -> None:
    """Requests ``first`` to ``last`` of ``owner``, all to service ``svc`` (one partition)."""
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
            reply = post(url, "/v1/traces", span_request(spans, "svc").SerializeToString())
        except OSError:  # the owner was killed: an agent would spool this batch
            return
        assert reply.status == 200, reply.body
        acked.append(PER_REQUEST)


def _health(url: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply = get(url, "/health", headers)
    assert reply.status == 200, reply.body
    return dict(json.loads(reply.body))


def _published(url: str, token: str | None = None) -> dict[str, Any]:
    """/health once the owner's sink has published every span it committed (60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        health = _health(url, token)
        if health["lake"]["published"].get("spans", 0) == health["spans_committed"]:
            return health
        assert time.monotonic() < deadline, f"the sink did not catch up: {health}"
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, proc.stderr.read().decode()  # type: ignore[union-attr]


def _lake_sql(lake: Path, sql: str) -> list[str]:
    """`semtrace sql --lake` as CSV: the header line, then a line a row."""
    result = CliRunner().invoke(app, ["sql", "--lake", str(lake), "-f", "csv", sql])
    assert result.exit_code == 0, result.output
    return result.output.split()


def _lake_count(lake: Path) -> list[str]:
    return _lake_sql(
        lake,
        "select count(*) as spans, count(distinct span_id) as ids, "
        "count(distinct service_name) as services from spans",
    )


def test_two_owners_write_one_partition_at_once_and_every_span_counts_once(
    tmp_path: Path,
) -> None:
    """Two owners of two database files, on two ports, write the same service (one
    partition folder) at the same time, each publishing in several background cycles; the
    lake counts every span exactly once before they stop, and after."""
    lake = tmp_path / "lake"
    owners = [
        _start_serve(tmp_path / f"m{i}.duckdb", "--lake", str(lake), "--lake-settle", SETTLE)
        for i in range(2)
    ]
    acked: list[list[int]] = [[], []]
    healths: list[dict[str, Any]] = [{}, {}]
    errors: list[BaseException] = []

    def run(i: int, url: str) -> None:
        try:
            for phase in range(PHASES):
                _send(url, i, phase * PER_PHASE, (phase + 1) * PER_PHASE, acked[i])
                healths[i] = _published(url)
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [
            threading.Thread(target=run, args=(i, ann.url)) for i, (_, ann) in enumerate(owners)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        total = sum(map(sum, acked))
        assert total == 2 * PHASES * PER_PHASE * PER_REQUEST
        for health in healths:
            assert health["lake"]["cycles"] >= PHASES, health["lake"]
            assert health["lake"]["errors"] == 0 and health["lake"]["name_collisions"] == 0
        ids = {h["lake"]["owner"] for h in healths}
        assert len(ids) == 2
        (folder,) = (lake / "spans").glob("date=*/service_name=svc")
        writers = {f.name.removeprefix("part-").rsplit("-", 2)[0] for f in folder.glob("*.parquet")}
        assert writers == ids  # both owners' files, side by side in one partition
        assert _lake_count(lake) == ["spans,ids,services", f"{total},{total},1"]
    finally:
        for proc, _ in owners:
            _stop(proc)
    assert _lake_count(lake) == ["spans,ids,services", f"{total},{total},1"]


def test_an_owner_killed_after_it_published_leaves_nothing_missing_or_doubled(
    tmp_path: Path,
) -> None:
    """kill -9 of an owner whose cycles have published part of what it committed, while it
    still takes requests; the next owner of the file publishes what the lake lacks: the lake
    then holds exactly the database's spans."""
    db, lake = tmp_path / "m.duckdb", tmp_path / "lake"
    proc, ann = _start_serve(db, "--lake", str(lake), "--lake-settle", SETTLE)
    acked: list[int] = []
    sender = threading.Thread(target=_send, args=(ann.url, 1, 0, 10_000, acked))
    sender.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            lake_health = _health(ann.url)["lake"]
            if lake_health["cycles"] >= 2:
                break
            assert sender.is_alive() and time.monotonic() < deadline, lake_health
            time.sleep(0.05)
        assert sender.is_alive()  # the kill comes mid-sequence: requests still arriving
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        sender.join(60)  # its next request fails: the owner is gone (an agent would spool it)
    before_kill = lake_health["published"]["spans"]
    assert 0 < before_kill <= sum(acked)
    in_lake = int(_lake_count(lake)[1].split(",")[0])
    assert before_kill <= in_lake <= sum(acked) + PER_REQUEST  # a commit not yet acked
    proc, ann = _start_serve(db, "--lake", str(lake), "--lake-settle", SETTLE)
    rest: list[int] = []
    _send(ann.url, 2, 0, 3, rest)
    _stop(proc)
    con = connect_readonly(db)
    ((in_db,),) = con.execute("select count(*) from spans").fetchall()
    con.close()
    assert in_db >= sum(acked) + sum(rest)
    assert _lake_count(lake) == ["spans,ids,services", f"{in_db},{in_db},1"]


def test_the_owner_an_agent_starts_feeds_the_lake_named_in_its_environment(
    tmp_path: Path,
) -> None:
    """An agent in owner mode with SEMTRACE_LAKE (and SEMTRACE_LAKE_SETTLE) set starts an
    owner that publishes to that lake while it runs: `semtrace sql --lake` counts every span
    and log the agent wrote."""
    db, lake = tmp_path / "owned.duckdb", tmp_path / "lake"
    env = owner_env(SEMTRACE_LAKE=str(lake), SEMTRACE_LAKE_SETTLE=SETTLE)
    try:
        agent = subprocess.Popen(
            [sys.executable, "-c", AGENT, str(db), "40", "0", "lake-agent"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        finish(agent)
        ann = read_announcement(db)
        assert ann is not None, "the agent started no owner"
        health = _health(ann.url, ann.token)
        assert health["on_demand"] and health["lake"]["dir"] == str(lake.resolve())
        assert health["lake"]["settle_s"] == float(SETTLE)
        wait_for(
            lambda: _published(ann.url, ann.token)["lake"]["published"].get("logs", 0) == 40,
            what="the owner's sink to publish the agent's logs",
        )
        counts = _lake_sql(
            lake,
            "select (select count(*) from spans) as spans, "
            "(select count(distinct span_id) from spans) as ids, "
            "(select count(*) from logs) as logs, "
            "(select count(*) from tool_calls where tool_name = 'step') as steps",
        )
        assert counts == ["spans,ids,logs,steps", "40,40,40,40"]
    finally:
        stop_owner(db)
