"""Healing that learns: heal ranks the actions its policy allows by what worked before for
the same failure, across runs (processes), read through semtrace.connect()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import semtrace
from tests.diagnose.test_collector_owned import _serve

# One run: a process that configures semtrace, heals one failing call, and exits. The
# tool's retry never works (its backend refuses every connection); its fallback always does.
# Within a run the order chosen at the start stands, so a run led by retry spends its attempts
# on retries; the fallback is reached only once history puts it first.
RUN = textwrap.dedent(
    """
    import sys
    import semtrace

    semtrace.configure(db=sys.argv[1], service_name="learning", capture_logging=False)

    def backup_rates(currency: str) -> float:
        return 1.08

    @semtrace.heal(allow=["retry", "fallback_tool"], fallbacks={"tool": backup_rates},
                   max_attempts=3, budget_s=30)
    @semtrace.tool
    def fetch_rates(currency: str) -> float:
        raise ConnectionRefusedError(111, "Connection refused")

    with semtrace.agent("treasury"):
        try:
            fetch_rates("EUR")
        except ConnectionRefusedError:
            pass  # no history: the diagnosis' retry spends every attempt
    semtrace.shutdown()
    """
)


def _runs(db: Path, n: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMTRACE_DB")}
    for _ in range(n):
        done = subprocess.run(
            [sys.executable, "-c", RUN, str(db)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr


def _first_attempts(db: Path) -> list[dict[str, Any]]:
    """The first heal attempt of each run, in order."""
    con = semtrace.connect(db)
    try:
        rows = (
            con.sql(
                """SELECT json_extract_string(parameters, '$.run_id') AS run_id,
                      arg_min(action, time) AS action,
                      arg_min(parameters, time) AS parameters
               FROM heal_attempts WHERE outcome IN ('recovered', 'failed')
               GROUP BY 1 ORDER BY min(time)"""
            )
            .to_arrow_table()
            .to_pylist()
        )
    finally:
        con.close()
    for r in rows:
        r["parameters"] = json.loads(r["parameters"])
    return rows


def test_from_the_third_run_on_the_fallback_is_tried_first(db_path: Path) -> None:
    """Run 1 follows the diagnosis (retry, which never works); from then on, and so from the
    third run on, the fallback that recovered is tried first, and the attempt says why. The
    recoveries view shows the learning run by run."""
    _runs(db_path, 4)
    firsts = _first_attempts(db_path)
    assert len(firsts) == 4
    assert firsts[0]["action"] == "retry"  # no history: the diagnosis' order
    assert firsts[0]["parameters"]["chosen_by"] == "diagnosis"
    assert [f["action"] for f in firsts[1:]] == ["fallback_tool"] * 3
    third = firsts[2]["parameters"]
    assert third["chosen_by"] == "history"
    assert "fallback_tool recovered 1 of 1 earlier tries" in third["reason"]
    assert "retry recovered 0 of 2 earlier tries" in third["reason"]
    con = semtrace.connect(db_path)
    try:
        (row,) = con.sql("SELECT episodes, recovered, runs FROM recoveries").fetchall()
    finally:
        con.close()
    episodes, recovered, runs = row
    assert (episodes, recovered) == (4, 3)
    assert [r["first_action"] for r in runs] == [f["action"] for f in firsts]
    assert [r["recovered"] for r in runs] == [0, 1, 1, 1]
    assert runs[0]["attempts"] == 2 and runs[3]["attempts"] == 1  # the retries are skipped
    assert runs[0]["recovery_ms"] is None
    assert all(r["recovery_ms"] is not None for r in runs[1:])


def test_history_is_read_through_the_process_that_owns_the_file(db_path: Path) -> None:
    """With a collector owning the file, runs send their attempts to it and read the history
    back through it: the learning is the same."""
    semtrace.configure(db=db_path)  # create the file, then hand it over
    semtrace.shutdown()
    with _serve(db_path):
        _runs(db_path, 3)
        firsts = _first_attempts(db_path)
    assert [f["action"] for f in firsts] == ["retry", "fallback_tool", "fallback_tool"]
    assert firsts[2]["parameters"]["chosen_by"] == "history"
