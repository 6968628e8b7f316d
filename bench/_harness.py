"""Small helpers shared by the benchmarks: results, medians, interleaved rounds, peak RSS."""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Result", "interleaved", "median_rate", "process_cpu_seconds", "timed"]


@dataclass
class Result:
    """One line of the results table."""

    benchmark: str
    metric: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def timed(fn: Callable[[], Any], clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds one call of ``fn`` takes on ``clock`` (wall time by default; pass
    ``time.process_time`` for the CPU of every thread of the process), GC disabled around it."""
    gc.collect()
    gc.disable()
    try:
        start = clock()
        fn()
        return clock() - start
    finally:
        gc.enable()


def interleaved(
    a: Callable[[], Any],
    b: Callable[[], Any],
    rounds: int,
    settle: Callable[[], Any] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float]:
    """Median seconds of ``a`` and of ``b`` on ``clock``, run alternately so noise hits both
    alike; ``settle`` runs untimed before each (to drain background work one side left behind,
    or to prepare what the next run needs)."""
    ta: list[float] = []
    tb: list[float] = []

    def run(fn: Callable[[], Any]) -> float:
        if settle is not None:
            settle()
        return timed(fn, clock)

    for i in range(rounds):
        if i % 2 == 0:
            ta.append(run(a))
            tb.append(run(b))
        else:
            tb.append(run(b))
            ta.append(run(a))
    return statistics.median(ta), statistics.median(tb)


def median_rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` and its child processes used so far (Linux
    /proc; e.g. a collector or an owner process and its decode workers)."""
    pids = [pid]
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")
