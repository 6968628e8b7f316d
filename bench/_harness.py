"""Small helpers shared by the benchmarks: results, medians, interleaved rounds, peak RSS."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Result", "interleaved", "median_rate", "timed"]


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


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes (GC disabled around it)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def interleaved(
    a: Callable[[], Any],
    b: Callable[[], Any],
    rounds: int,
    settle: Callable[[], Any] | None = None,
) -> tuple[float, float]:
    """Median seconds of ``a`` and of ``b``, run alternately so noise hits both alike;
    ``settle`` runs untimed before each (to drain background work one side left behind)."""
    ta: list[float] = []
    tb: list[float] = []

    def run(fn: Callable[[], Any]) -> float:
        if settle is not None:
            settle()
        return timed(fn)

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
