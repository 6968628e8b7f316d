"""Owner mode: one process owns a file, started on demand; agents and readers go through it.

Every test runs real processes: agents with ``SEMTRACE_MODE=owner``, the detached ``semtrace
serve`` they start, ``semtrace sql``. Owners left behind are stopped after each test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from semtrace.dashboard import APP as DASHBOARD_APP
from semtrace.dashboard._launch import ENV_DB as DASHBOARD_DB
from semtrace.dashboard._launch import ENV_SERVER as DASHBOARD_SERVER
from semtrace.store.ownership import (
    announcement_path,
    ensure_owner,
    pid_alive,
    read_announcement,
    stop_owner,
)
from semtrace.store.spool import Spool, spool_dir_for

SEMTRACE = str(Path(sys.executable).with_name("semtrace"))

# An agent: N tool calls, each with a log record, `pause` seconds apart; prints its pid first.
AGENT = """
import os, sys, time
import semtrace
db, n, pause, tag = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
print(os.getpid(), flush=True)
semtrace.configure(service_name=tag, db=db, batch_interval_s=0.1)
log = semtrace.get_logger(agent=tag)

@semtrace.tool("step")
def step(i):
    log.info("step done", i=i)
    return i

for i in range(n):
    step(i)
    if pause:
        time.sleep(pause)
semtrace.shutdown()
print("done", flush=True)
"""


def owner_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"SEMTRACE_MODE": "owner", "SEMTRACE_OWNER_IDLE_TIMEOUT": "60"})
    env.update(extra)
    return env


def start_agent(db: Path, n: int, pause: float, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", AGENT, str(db), str(n), str(pause), tag],
        env=owner_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120, *, out: bool = False) -> str:
    """Wait for an agent; its stderr (or, with ``out``, what it printed last)."""
    stdout, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    if out:
        return stdout.strip().splitlines()[-1]
    assert "done" in stdout, err
    return err


# An agent that writes until a file appears, then prints how many steps it made.
UNTIL = """
import os, sys, time
import semtrace
db, stop, tag = sys.argv[1], sys.argv[2], sys.argv[3]
semtrace.configure(service_name=tag, db=db, batch_interval_s=0.1)
log = semtrace.get_logger(agent=tag)
n = 0
while not os.path.exists(stop):
    with semtrace.tool("step"):
        log.info("step done", i=n)
    n += 1
    time.sleep(0.005)
semtrace.shutdown()
print(n, flush=True)
"""


def start_until(db: Path, stop: Path, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", UNTIL, str(db), str(stop), tag],
        env=owner_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def owner_count(db: Path, table: str) -> int:
    """Rows in ``table`` as the file's current owner answers (0 while there is none)."""
    return owner_value(db, f"select count(*) from {table}")


def owner_value(db: Path, query: str) -> int:
    """The integer ``query`` answers, asked of the file's current owner (0 while none)."""
    ann = read_announcement(db)
    if ann is None:
        return 0
    request = urllib.request.Request(
        ann.url + "/v1/query",
        data=json.dumps({"sql": query}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ann.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(json.loads(response.read())["rows"][0][0])
    except OSError:
        return 0


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``semtrace ARGS`` in owner mode (``env`` added), as a second terminal would."""
    return subprocess.run(
        [SEMTRACE, *args],
        env=owner_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sql(db: Path, query: str) -> list[dict[str, object]]:
    res = cli("sql", "--db", str(db), "--format", "json", query)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert isinstance(rows, list)
    return rows


def wait_for(predicate: object, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    """A database path; whatever owner serves it is stopped after the test."""
    path = tmp_path / "owned.duckdb"
    yield path
    stop_owner(path)


def test_an_agent_starts_an_owner_and_sql_sees_counts_grow_while_it_writes(db: Path) -> None:
    """While an agent writes for several seconds, `semtrace sql` in another process answers
    (no lock error) with counts that grow: a count above zero, then a larger one, both read
    while the agent was still running; at the end every span is there exactly once."""
    agent = start_agent(db, 200, 0.04, "grower")
    wait_for(lambda: read_announcement(db) is not None, what="the owner")
    live: list[int] = []  # counts above zero, answered while the agent was still running
    deadline = time.monotonic() + 120
    while agent.poll() is None and not (live and live[-1] > live[0]):
        assert time.monotonic() < deadline, live
        n = int(sql(db, "select count(*) as n from spans")[0]["n"])  # type: ignore[call-overload]
        if n > 0 and agent.poll() is None:
            live.append(n)
    err = finish(agent)
    assert "locked" not in err
    assert len(live) >= 2 and live[-1] > live[0] > 0, live  # it grew while the agent wrote
    assert live == sorted(live) and live[-1] < 200, live
    final = int(sql(db, "select count(*) as n from spans")[0]["n"])  # type: ignore[call-overload]
    assert final == 200
    assert sql(db, "select count(*) as n from logs") == [{"n": 200}]


def _page_texts(at: AppTest) -> str:
    """Everything a dashboard page said, errors and warnings included."""
    kinds = ("title", "markdown", "caption", "info", "error", "success", "warning", "exception")
    return "\n".join(str(e.value) for kind in kinds for e in getattr(at, kind))


def test_four_agents_and_a_reader_share_one_file(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four agents writing one file at once, while `semtrace sql` and the dashboard (its
    Traces page, run by Streamlit's AppTest in this process) read it: every span arrives
    exactly once, one owner (the same pid in every sample of the announcement) served them
    all, the dashboard showed their runs while they wrote, and no process, page or log says
    the file is locked."""
    monkeypatch.setenv(DASHBOARD_DB, str(db))
    monkeypatch.delenv(DASHBOARD_SERVER, raising=False)
    stop = tmp_path / "stop"
    agents = [start_until(db, stop, f"agent-{i}") for i in range(4)]
    wait_for(lambda: read_announcement(db) is not None, what="the owner")
    owners: set[int] = set()
    readings: list[int] = []
    pages: list[str] = []
    shown_while_writing = 0
    deadline = time.monotonic() + 120
    while shown_while_writing < 2 or len(readings) < 3:  # the agents write until told to stop
        assert time.monotonic() < deadline, (readings, shown_while_writing)
        assert all(a.poll() is None for a in agents), "an agent stopped before it was told to"
        if (ann := read_announcement(db)) is not None:
            owners.add(ann.pid)
        readings.append(int(sql(db, "select count(*) as n from spans")[0]["n"]))  # type: ignore[call-overload]
        at = AppTest.from_file(str(DASHBOARD_APP), default_timeout=60).run()
        assert not at.exception, at.exception
        pages.append(_page_texts(at))
        if at.dataframe and len(at.dataframe[0].value) > 0:
            shown_while_writing += 1
    stop.touch()
    outputs = [a.communicate(timeout=120) for a in agents]
    assert [a.returncode for a in agents] == [0] * 4, [err for _, err in outputs]
    written = {f"agent-{i}": int(out.split()[-1]) for i, (out, _) in enumerate(outputs)}
    if (ann := read_announcement(db)) is not None:
        owners.add(ann.pid)
    assert len(owners) == 1, owners  # one owner served every agent and every reader
    assert readings == sorted(readings) and readings[-1] > readings[0] > 0, readings
    got = sql(
        db,
        "select service_name, count(*) as n, count(distinct span_id) as d "
        "from spans group by 1 order by 1",
    )
    assert got == [{"service_name": s, "n": n, "d": n} for s, n in sorted(written.items())]
    agent_pids = sql(
        db, "select count(distinct pid) as n from semtrace_stats where component = 'agent'"
    )
    assert agent_pids == [{"n": 4}]
    said = [*(err for _, err in outputs), *pages, Path(f"{db}.owner.log").read_text()]
    assert not [text for text in said if "locked" in text.lower()], said


def test_kill_9_of_the_owner_loses_nothing(db: Path, tmp_path: Path) -> None:
    """The owner is killed (-9) while two agents write: they go on, what was in flight is
    spooled, a new owner starts and the spool is replayed to it, the final count is exact, and
    each agent's stats say what happened (a failed send, a resend, rows spooled and replayed)."""
    stop = tmp_path / "stop"
    agents = [start_until(db, stop, f"survivor-{i}") for i in range(2)]
    wait_for(lambda: owner_count(db, "spans") > 100, what="spans before the kill")
    first = read_announcement(db)
    assert first is not None
    killed_at_ns = time.time_ns()
    os.kill(first.pid, signal.SIGKILL)
    # The agents keep writing: the next batch finds the owner gone and starts another.
    wait_for(
        lambda: (ann := read_announcement(db)) is not None and ann.pid != first.pid,
        what="a new owner",
    )
    after_kill = f"select count(distinct service_name) from spans where start_time_ns > {killed_at_ns}"
    wait_for(lambda: owner_value(db, after_kill) == 2, what="both agents' spans after the kill")
    stop.touch()
    written = sum(int(finish(a, out=True)) for a in agents)
    wait_for(lambda: Spool(spool_dir_for(str(db))).pending_batches() == 0, what="the spool")
    got = sql(db, "select count(*) as n, count(distinct span_id) as d from spans")
    assert got == [{"n": written, "d": written}]
    assert sql(db, "select count(*) as n from logs") == [{"n": written}]
    # Each agent's last stats row (written at its shutdown, through the new owner).
    stats = sql(
        db,
        "select arg_max(export_errors, time) as errors, arg_max(retries, time) as retries, "
        "arg_max(spooled, time) as spooled, arg_max(replayed, time) as replayed "
        "from semtrace_stats where component = 'agent' group by pid",
    )
    assert len(stats) == 2, stats
    for row in stats:  # each had its kept-alive connection break: a resend, then a failure
        assert row["errors"] >= 1 and row["retries"] >= 1, stats  # type: ignore[operator]
    # What was spooled was replayed (by either agent: they share the spool), none is left.
    assert sum(row["spooled"] for row in stats) == 0, stats  # type: ignore[misc]
    assert sum(row["replayed"] for row in stats) > 0, stats  # type: ignore[misc]


def test_traces_show_and_connect_results_work_while_an_agent_writes(
    db: Path, tmp_path: Path
) -> None:
    """While an agent writes through its owner, `semtrace traces`, `semtrace show` and
    ``connect()`` read the file through that owner, and the results convert as DuckDB's do:
    ``.df()``/``.fetchdf()``/``.fetch_df()`` (pandas), ``.pl()`` (polars), ``.arrow()``/
    ``.to_arrow_table()`` (pyarrow)."""
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    import semtrace
    from semtrace.collector.client import CollectorConnection

    stop = tmp_path / "stop"
    agent = start_until(db, stop, "watched")
    try:
        wait_for(lambda: owner_count(db, "spans") > 0, what="the first spans")
        traces = cli("traces", "--db", str(db), "--format", "json", "--limit", "5")
        assert traces.returncode == 0, traces.stderr
        listed = json.loads(traces.stdout)
        assert listed and {t["root_name"] for t in listed} == {"execute_tool step"}, listed
        shown = cli("show", "--db", str(db), listed[0]["trace_id"], COLUMNS="200")
        assert shown.returncode == 0, shown.stderr
        assert "execute_tool step" in shown.stdout and "step done" in shown.stdout

        con = semtrace.connect(db)
        assert isinstance(con, CollectorConnection)  # through the owner, not the file
        query = "select name, service_name from spans where service_name = 'watched'"
        frames = [con.sql(query).df(), con.sql(query).fetchdf(), con.sql(query).fetch_df()]
        assert all(isinstance(f, pd.DataFrame) and len(f) > 0 for f in frames)
        polars = con.sql(query).pl()
        assert isinstance(polars, pl.DataFrame) and polars.columns == ["name", "service_name"]
        for table in (con.sql(query).arrow(), con.sql(query).to_arrow_table()):
            assert isinstance(table, pa.Table) and table.num_rows > 0
            assert set(table.column("name").to_pylist()) == {"execute_tool step"}
        assert agent.poll() is None  # all of it read while the agent was still writing
    finally:
        stop.touch()
    written = int(finish(agent, out=True))
    assert sql(db, "select count(*) as n from spans") == [{"n": written}]


def test_eight_racing_starters_end_up_with_one_owner(db: Path) -> None:
    """Eight processes that need the file at the same moment all get the same owner."""
    code = textwrap.dedent(
        """
        import sys, time
        from semtrace.store.ownership import ensure_owner
        go = float(sys.argv[2])
        time.sleep(max(0.0, go - time.time()))
        ann = ensure_owner(sys.argv[1], idle_timeout_s=30)
        print(ann.pid, ann.url)
        """
    )
    go = str(time.time() + 2.0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(db), go],
            env=owner_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    answers = set()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        answers.add(out.strip())
    assert len(answers) == 1, answers
    pid = int(answers.pop().split()[0])
    assert pid_alive(pid)
    ps = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    serving = [line for line in ps.stdout.splitlines() if "--on-demand" in line and str(db) in line]
    assert len(serving) == 1, serving


def test_the_owner_wants_its_token_and_binds_loopback(db: Path) -> None:
    """An owner started on demand listens on 127.0.0.1, its announcement is readable by its
    user only, and a request without its token gets 401."""
    ann = ensure_owner(db, idle_timeout_s=30)
    assert ann.url.startswith("http://127.0.0.1:")
    assert ann.token and len(ann.token) >= 32
    assert announcement_path(db).stat().st_mode & 0o777 == 0o600
    for path, data in (("/health", None), ("/v1/query", b'{"sql": "select 1"}')):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(ann.url + path, data=data), timeout=10)
        assert refused.value.code == 401
    ok = urllib.request.Request(
        ann.url + "/health", headers={"Authorization": f"Bearer {ann.token}"}
    )
    with urllib.request.urlopen(ok, timeout=10) as response:
        assert json.loads(response.read())["db"] == str(db)


def test_an_idle_owner_checkpoints_and_exits(db: Path) -> None:
    """With nobody connected and nothing pending, the owner exits after its idle timeout,
    removing its announcement and leaving a checkpointed file (no WAL to replay)."""
    code = AGENT.replace(
        'print("done", flush=True)',
        'from semtrace.store.ownership import read_announcement\n'
        'print("done", read_announcement(db).pid, flush=True)',
    ).replace("semtrace.shutdown()\n", "semtrace.force_flush()\n", 1)
    agent = subprocess.run(
        [sys.executable, "-c", code, str(db), "20", "0", "idler"],
        env=owner_env(SEMTRACE_OWNER_IDLE_TIMEOUT="1"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert agent.returncode == 0, agent.stderr
    pid = int(agent.stdout.split()[-1])
    wait_for(lambda: not pid_alive(pid), timeout=30, what="the idle exit")
    assert not announcement_path(db).exists()
    assert not Path(f"{db}.wal").exists()
    log = Path(f"{db}.owner.log").read_text()
    assert "20 spans and 20 logs committed" in " ".join(log.split())


def test_status_and_stop(db: Path) -> None:
    """`semtrace serve --status FILE` names the owner's pid, port, uptime, writers and queue;
    `semtrace serve --stop FILE` stops it cleanly; then --status says nothing owns it."""
    ann = ensure_owner(db, idle_timeout_s=30)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return cli("serve", *args, str(db), COLUMNS="200")

    status = run("--status")
    assert status.returncode == 0, status.stderr
    assert f"pid:         {ann.pid}" in status.stdout
    assert f"port:        {ann.url.rsplit(':', 1)[1]}" in status.stdout
    for label in ("uptime:", "writers:", "queue:"):
        assert label in status.stdout
    stopped = run("--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"pid {ann.pid}" in stopped.stdout
    assert not pid_alive(ann.pid) and not announcement_path(db).exists()
    again = run("--status")
    assert again.returncode == 1 and "no owner" in again.stdout


def test_status_and_doctor_show_the_owner_of_a_running_agent(db: Path, tmp_path: Path) -> None:
    """While an agent writes, `semtrace serve --status FILE` and `semtrace doctor` (its owner
    row) name the owner's pid and port, an uptime consistent with its start, the agent as a
    connected writer, the queue's depth and what was committed."""
    import re

    stop = tmp_path / "stop"
    agent = start_until(db, stop, "observed")
    try:
        wait_for(lambda: owner_count(db, "spans") > 0, what="the first spans")
        ann = read_announcement(db)
        assert ann is not None
        before = time.time()
        status = cli("serve", "--status", str(db), COLUMNS="200")
        after = time.time()
        doctor = cli("doctor", "--db", str(db), COLUMNS="1000")
        assert agent.poll() is None  # both read while the agent was writing
    finally:
        stop.touch()
    finish(agent, out=True)
    assert status.returncode == 0, status.stderr
    lines = dict(
        (name.strip(), value.strip())
        for name, value in (line.split(":", 1) for line in status.stdout.splitlines())
    )
    assert lines["pid"] == str(ann.pid) and lines["port"] == ann.url.rsplit(":", 1)[1]
    uptime = int(lines["uptime"].removesuffix(" s"))
    # What the owner says it has been up, within the time the request took (rounded).
    assert before - ann.started_at - 1 <= uptime <= after - ann.started_at + 1, lines
    writers = re.fullmatch(r"(\d+) connected \((\d+) client connections\)", lines["writers"])
    assert writers is not None and int(writers[1]) == 1, lines  # the agent
    queue = re.fullmatch(r"(\d+) records \((\d+) bytes\) waiting for a commit", lines["queue"])
    assert queue is not None, lines
    committed = re.fullmatch(r"(\d+) spans, (\d+) logs in (\d+) commits", lines["committed"])
    assert committed is not None and int(committed[1]) > 0 and int(committed[3]) > 0, lines
    assert lines["idle exit"] == "after 60 s idle"
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    [row] = [line for line in doctor.stdout.splitlines() if line.startswith("│ owner ")]
    assert "│ ok " in row, row
    for part in (f"pid {ann.pid}", f"port {ann.url.rsplit(':', 1)[1]}", "writers 1 connected"):
        assert part in row, row
    assert re.search(r"queue \d+ records", row) and re.search(r"uptime \d+ s", row), row


def test_a_long_lived_owner_rotates_its_log(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An owner started on demand keeps its log (beside the file) under the size limit while
    it runs, not only at start: past the limit the log moves to ``.1`` and what the owner
    writes next (here the thread stacks ``kill -USR1`` dumps) goes to a new log."""
    monkeypatch.setenv("SEMTRACE_OWNER_LOG_MAX_BYTES", "4096")
    ann = ensure_owner(db, idle_timeout_s=60)
    log = Path(f"{db}.owner.log")
    rotated = log.with_name(log.name + ".1")
    assert not rotated.exists() and "semtrace collector on" in log.read_text()

    def dump_until(done: object, what: str) -> None:
        deadline = time.monotonic() + 60
        while not done():  # type: ignore[operator]
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            os.kill(ann.pid, signal.SIGUSR1)  # a few KB of stacks into its log
            time.sleep(0.2)

    dump_until(rotated.exists, "the log to rotate")
    first = rotated.read_text()
    assert "semtrace collector on" in first and "most recent call first" in first
    dump_until(lambda: "most recent call first" in log.read_text(), "stacks in the new log")
    assert "semtrace collector on" not in log.read_text()
    dump_until(lambda: rotated.read_text() != first, "a second rotation")
    assert log.stat().st_size < 4096 + 64 * 1024  # bounded: one check's worth past the limit
    again = read_announcement(db)
    assert again is not None and again.pid == ann.pid  # the same owner, still serving
    assert owner_count(db, "spans") == 0


def test_a_collector_down_for_ten_seconds_loses_nothing(tmp_path: Path) -> None:
    """An agent sending to a collector (endpoint=) that stops for 10 s mid-run and comes
    back: every span and log arrives exactly once, and the agent's stats row says what failed
    and how much was spooled and replayed."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "remote.duckdb"
    url = f"http://127.0.0.1:{port}"

    def serve() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [SEMTRACE, "serve", "--db", str(db), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: read_announcement(db) is not None, what="the collector")
        return proc

    stop = tmp_path / "stop"
    # Writes until told to stop, so it is still running when the collector comes back.
    agent_code = textwrap.dedent(
        f"""
        import os, time, semtrace
        semtrace.configure(service_name="steady", db={str(db) + ".local"!r},
                           batch_interval_s=0.1, endpoint={url!r})
        log = semtrace.get_logger(agent="steady")
        n = 0
        while not os.path.exists({str(stop)!r}):
            with semtrace.tool("step"):
                log.info("step done", i=n)
            n += 1
            time.sleep(0.02)
        semtrace.shutdown()
        print(n, flush=True)
        """
    )
    collector = serve()
    agent = subprocess.Popen(
        [sys.executable, "-c", agent_code],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: _collector_rows(url, "select count(*) as n from spans")[0]["n"], what="spans")
        collector.send_signal(signal.SIGTERM)
        assert collector.wait(timeout=60) == 0
        time.sleep(10)
        collector = serve()
        time.sleep(2)  # new spans go to it, and what was spooled is replayed
        stop.touch()
        out, err = agent.communicate(timeout=120)
        assert agent.returncode == 0, err
        n = int(out.strip())
        rows = _collector_rows(
            url,
            "select (select count(*) from spans) as spans, "
            "(select count(distinct span_id) from spans) as distinct_spans, "
            "(select count(*) from logs) as logs",
        )
        assert rows == [{"spans": n, "distinct_spans": n, "logs": n}]
        [stats] = _collector_rows(
            url,
            "select export_errors, retries, spooled, replayed from semtrace_stats "
            "where component = 'agent' order by time desc limit 1",
        )
        assert stats["export_errors"] >= 1 and stats["spooled"] == 0
        # Tried again after its backoff while the collector was down, and once it was back.
        assert stats["retries"] >= 2, stats  # type: ignore[operator]
        assert stats["replayed"] > 0
    finally:
        if agent.poll() is None:
            agent.kill()
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=60)


def _collector_rows(url: str, query: str) -> list[dict[str, object]]:
    request = urllib.request.Request(
        url + "/v1/query",
        data=json.dumps({"sql": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        doc = json.loads(response.read())
    return [dict(zip(doc["columns"], row, strict=True)) for row in doc["rows"]]


def test_the_readme_quick_start_in_owner_mode_is_readable_from_a_second_terminal(
    tmp_path: Path,
) -> None:
    """The README's quick start, run as printed with no mode set (owner mode), leaves its
    spans readable by `semtrace sql` from another process, through the owner it started."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    quick_start = re.findall(r"```python\n(.*?)```", readme, flags=re.S)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SEMTRACE_"))}
    env["SEMTRACE_OWNER_IDLE_TIMEOUT"] = "60"
    db = tmp_path / "semtrace.duckdb"
    try:
        run = subprocess.run(
            [sys.executable, "-c", quick_start],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert read_announcement(db) is not None  # the quick start's process started it
        second = subprocess.run(
            [SEMTRACE, "sql", "--format", "json", "select name from spans order by name"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode == 0, second.stderr
        assert {"name": "invoke_agent supervisor"} in json.loads(second.stdout)
    finally:
        stop_owner(db)
