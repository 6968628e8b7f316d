"""The long soak (`make soak`, not in `make test`): an agent traces for minutes while the
file's ownership keeps changing hands: its owner is stopped, killed with SIGKILL, or the file
is taken by another process for a while; each time the agent starts a new owner on demand.
At the end nothing accepted is missing or doubled. ``SEMTRACE_SOAK_SECONDS`` sets the length
(default 180)."""

from __future__ import annotations

import itertools
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from semtrace.store.database import Store, connect_readonly
from semtrace.store.ownership import pid_alive, read_announcement, stop_owner

SOAK_SECONDS = float(os.environ.get("SEMTRACE_SOAK_SECONDS", "180"))

AGENT = textwrap.dedent(
    """
    import sys, time, warnings, semtrace
    warnings.simplefilter("ignore")
    semtrace.configure(db=sys.argv[1], mode="owner", batch_interval_s=0.2)
    from semtrace.store.resilient import get_writer
    from semtrace.store.stats import STATS

    @semtrace.tool("work")
    def work(i):
        return i

    @semtrace.agent("soak")
    def run(batch):
        for i in range(100):
            work(batch * 100 + i)

    deadline = time.monotonic() + float(sys.argv[2])
    batch = 0
    while time.monotonic() < deadline:
        run(batch)
        batch += 1
        time.sleep(0.01)
    semtrace.force_flush()
    writer = get_writer(sys.argv[1])
    give_up = time.monotonic() + 120  # the file may still be held: wait for the spool to drain
    while writer.spool.pending_batches() and time.monotonic() < give_up:
        writer.retry_now()
        writer.flush_spool()
        time.sleep(0.5)
    print(batch, STATS.spans_dropped, writer.spool.pending_batches(), flush=True)
    semtrace.shutdown()
    """
)

# Another process that takes the file for writing when told to, as an embedded agent would.
HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        con = duckdb.connect(sys.argv[1])
    except duckdb.Error as exc:
        print("busy", str(exc).splitlines()[0], flush=True)
        sys.exit(0)
    print("holding", flush=True)
    sys.stdin.readline()
    con.close()
    print("released", flush=True)
    """
)


def _line(proc: subprocess.Popen[str], timeout_s: float = 30.0) -> str:
    """The next line the process prints, waiting at most ``timeout_s``."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, "the holder process said nothing"
    return proc.stdout.readline().strip()


def _hold_for(db: Path, seconds: float) -> bool:
    """Stop the owner and take the file for ``seconds``; whether the take succeeded (the
    agent may have started a new owner first)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None
    try:
        assert _line(holder) == "ready"  # started and duckdb imported: it connects in ms
        stop_owner(db)
        holder.stdin.write("\n")
        holder.stdin.flush()
        said = _line(holder)
        if said != "holding":
            assert said.startswith("busy"), said
            return False
        time.sleep(seconds)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert _line(holder) == "released"
        return True
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=30)


def _kill_owner(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    give_up = time.monotonic() + 30
    while pid_alive(pid) and time.monotonic() < give_up:
        time.sleep(0.05)
    assert not pid_alive(pid)


@pytest.mark.soak
def test_soak_with_owners_changing_hands(tmp_path: Path) -> None:
    """Minutes of tracing while the owner is stopped, killed and the file taken by another
    process in turn: ownership really changes hands (several owner processes, the file held
    by the other process at least once), and every span the agent made is in the file once
    at the end, or counted as dropped."""
    db = tmp_path / "soak.duckdb"
    Store(db).close()
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(db), str(SOAK_SECONDS)],
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "SEMTRACE_MODE": "owner"})
    owners: set[int] = set()
    done = {"stopped": 0, "killed": 0, "held": 0, "held_lost_race": 0}
    try:
        end = time.monotonic() + SOAK_SECONDS
        for action in itertools.cycle(("stop", "hold", "kill")):
            if time.monotonic() > end - 8:
                break
            time.sleep(3)
            ann = read_announcement(db)
            if ann is None:
                continue  # between owners: the agent starts one with its next batch
            owners.add(ann.pid)
            if action == "stop":
                stop_owner(db)
                done["stopped"] += 1
            elif action == "kill":
                _kill_owner(ann.pid)
                done["killed"] += 1
            elif _hold_for(db, 2.0):
                done["held"] += 1
            else:
                done["held_lost_race"] += 1
        out, _ = agent.communicate(timeout=SOAK_SECONDS + 180)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        stop_owner(db)
    batches, dropped, pending = (int(x) for x in out.split())
    con = connect_readonly(db)
    try:
        row = con.execute("select count(*), count(distinct span_id) from spans").fetchone()
    finally:
        con.close()
    assert row is not None
    stored, distinct = row
    assert len(owners) >= 3 and done["stopped"] and done["killed"] and done["held"], (owners, done)
    assert pending == 0
    assert stored == distinct  # a batch replayed after a lost acknowledgement is not doubled
    assert stored + dropped == batches * 101, (stored, dropped, batches * 101, done)
