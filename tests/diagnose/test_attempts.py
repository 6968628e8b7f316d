"""heal_attempts rows are queued and written off the healing step's thread, through the
resilient writer: a locked database neither slows nor breaks the step, and nothing is lost."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from semtrace.store.database import Store, connect_readonly

HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.readline()
con.close()
"""

AGENT = """
import logging, sys, warnings, semtrace
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
semtrace.configure(db=sys.argv[1], batch_interval_s=0.1)
calls = []

@semtrace.heal(allow=["retry_with_backoff"], backoff_s=0.001, max_attempts=4)
def fetch():
    calls.append(1)
    if len(calls) < 3:
        raise ConnectionRefusedError("vendor API refused the connection")
    return "ok"

print(fetch(), len(calls), flush=True)
semtrace.force_flush()
sys.stdin.readline()
from semtrace.store.resilient import get_writer
w = get_writer(sys.argv[1]); w.retry_now()
print("replayed", w.flush_spool(), flush=True)
semtrace.shutdown()
"""


@pytest.fixture
def holder(db_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the database open for writing until told to let go."""
    Store(db_path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _say(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()


def test_heal_attempts_spool_while_locked_and_arrive_later(
    db_path: Path, holder: subprocess.Popen[str]
) -> None:
    """A healed step recovers while its database is locked; its attempt rows are spooled by
    the resilient writer and reach the file once the other process lets go."""
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert agent.stdout is not None
    line = agent.stdout.readline().strip()
    assert line == "ok 3", agent.stderr.read() if agent.stderr else ""
    _say(holder)
    holder.wait(timeout=10)
    _say(agent)
    out, err = agent.communicate(timeout=60)
    assert "replayed" in out
    assert agent.returncode == 0, err
    con = connect_readonly(db_path)
    try:
        rows = con.execute(
            "SELECT attempt, action, outcome FROM heal_attempts ORDER BY attempt"
        ).fetchall()
    finally:
        con.close()
    assert rows == [(2, "retry_with_backoff", "failed"), (3, "retry_with_backoff", "recovered")]
