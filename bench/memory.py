"""Memory: peak RSS of an agent process emitting many spans through the embedded exporter.

Bounded means the peak does not grow with the number of spans: the benchmark runs the same
agent for N and for 2 x N spans in fresh processes and reports the ratio of their peaks
(target ~1.0), beside the peak of the same program with semtrace not configured.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from bench._harness import Result

_SCRIPT = textwrap.dedent(
    """
    import sys, semtrace
    n, db, on = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
    if on:
        semtrace.configure(service_name="mem", db=db, capture_logging=False)

    @semtrace.tool("lookup", attributes={"gen_ai.provider.name": "openai"})
    def lookup(i):
        return i

    @semtrace.agent("worker")
    def work(start, count):
        for i in range(start, start + count):
            lookup(i)

    for start in range(0, n, 1000):
        work(start, 1000)
    if on:
        semtrace.shutdown()
    # VmHWM (peak RSS of this address space) and not ru_maxrss, which Linux carries over
    # from the parent across exec (the bench process itself is large).
    print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))
    """
)


def _peak_mb(n: int, db: Path, on: bool) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(n), str(db), "1" if on else "0"],
        check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    return int(out) / 1024  # VmHWM is in KiB


def run(quick: bool = False) -> list[Result]:
    # Past the warm-up (the span queue and DuckDB's capped cache filling, ~300k spans) the
    # peak must stay flat: compare 1M with 2M spans (quick: 100k with 200k, still warming).
    small = 100_000 if quick else 1_000_000
    large = small * 2
    tmp = Path(tempfile.mkdtemp(prefix="semtrace-bench-"))
    off = _peak_mb(small, tmp / "off.duckdb", on=False)
    peak_small = _peak_mb(small, tmp / "small.duckdb", on=True)
    peak_large = _peak_mb(large, tmp / "large.duckdb", on=True)
    return [
        Result(
            "memory", f"agent peak RSS, {large:,} spans", round(peak_large, 1), "MB",
            baseline=f"same agent, {small:,} spans", baseline_value=round(peak_small, 1),
            ratio=round(peak_large / peak_small, 2), target="ratio <= 1.2 (bounded)",
            met=peak_large / peak_small <= 1.2,
            note=f"without semtrace: {off:.0f} MB",
        )
    ]
