"""The long soak (`make soak`, not in `make test`): an agent traces for minutes while other
processes keep trying to take its database; at the end nothing accepted is missing.
``SEMTRACE_SOAK_SECONDS`` sets the length (default 180)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from semtrace.store.database import Store, connect_readonly

SOAK_SECONDS = float(os.environ.get("SEMTRACE_SOAK_SECONDS", "180"))

AGENT = textwrap.dedent(
    """
    import sys, time, warnings, semtrace
    warnings.simplefilter("ignore")
    semtrace.configure(db=sys.argv[1], batch_interval_s=0.2)
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
    from semtrace.store.resilient import get_writer
    w = get_writer(sys.argv[1])
    for _ in range(120):  # the holder may still own the file: wait for the spool to drain
        w.retry_now()
        w.flush_spool()
        if w.spool.pending_batches() == 0:
            break
        time.sleep(0.5)
    print(batch, STATS.spans_dropped, flush=True)
    semtrace.shutdown()
    """
)

HOLDER = "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); time.sleep(float(sys.argv[2])); c.close()"


@pytest.mark.soak
def test_soak_with_a_flapping_lock(tmp_path: Path) -> None:
    """Minutes of tracing while other processes keep trying to open the file for writing:
    every span the agent made is in the file at the end, or counted as dropped."""
    db = tmp_path / "soak.duckdb"
    Store(db).close()
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(db), str(SOAK_SECONDS)],
                             stdout=subprocess.PIPE, text=True)
    end = time.monotonic() + SOAK_SECONDS
    while time.monotonic() < end - 5:
        time.sleep(3)
        # The agent holds the file while it writes; a holder gets in only when it can.
        subprocess.run([sys.executable, "-c", HOLDER, str(db), "2"], capture_output=True)
    out, _ = agent.communicate(timeout=SOAK_SECONDS + 120)
    batches, dropped = (int(x) for x in out.split())
    con = connect_readonly(db)
    (stored,) = con.execute("select count(*) from spans").fetchone()  # type: ignore[misc]
    con.close()
    assert stored + dropped == batches * 101
