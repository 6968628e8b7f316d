"""The Parquet lake: what the sink costs an owner, and the traces view over a big lake.

1. **Owner cost.** Two ``semtrace serve`` processes, one plain and one with ``--lake``
   (``--lake-settle 1``: a cycle a second, each publishing what is a second old), take the
   same OTLP requests (agent-shaped spans, 512 per request, 4 sender threads), alternately;
   the lake owner's CPU is counted until its sink has published every span. The benchmark
   learns that from the owner's state file in the lake, not from ``/health``: waiting then
   costs the owner nothing that the plain owner does not pay too. Reported: spans/s
   acknowledged, and the owner's CPU per span (its own process: on a shared machine the CPU
   a process gets varies, its CPU per span much less). Target: the lake owner's CPU per span
   at most 1.2x the plain owner's.
2. **Reading a big lake.** A database of real semtrace runs replicated to 10M spans (1M with
   ``--quick``, as ``bench.queries`` builds it) is published by a sink (rows/s reported), then
   the README's "slowest traces" query (the ``traces`` view over every span) and the
   dashboard's traces list run over the lake in DuckDB (target < 2 s), beside the same query
   on the DuckDB file; the same README query runs in Spark local mode (reported).
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._harness import Result, process_cpu_seconds
from bench.collector_ingest import SPANS_PER_REQUEST, _request, _send_all, make_request

TARGET_RATIO = 1.2
SETTLE_S = 1.0  # the lake owner's --lake-settle: a cycle every second
TARGET_TRACES_S = 2.0
SLOWEST = (
    "select trace_id, root_name, duration_ms, span_count, error_count "
    "from traces order by duration_ms desc limit 10"
)


class _Owner:
    """`semtrace serve` on a free port, optionally with a lake."""

    def __init__(self, db: Path, lake: Path | None) -> None:
        from semtrace.store.ownership import read_announcement

        extra = ["--lake", str(lake), "--lake-settle", str(SETTLE_S)] if lake else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "semtrace.cli", "serve", "--db", str(db), "--port", "0", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ann = read_announcement(db)
            if ann is not None and ann.pid == self.proc.pid:
                self.url = ann.url
                return
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode())  # type: ignore[union-attr]
            time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError("the owner did not start")

    def health(self) -> dict[str, Any]:
        import json

        return dict(json.loads(_request(self.url, "GET", "/health", b"", {})[1]))

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)


def _wait_published(state: Path, spans: int, timeout_s: float = 300.0) -> None:
    """Until the owner's state file in the lake says ``spans`` spans are published (read
    from disk by this process: the owner spends nothing on it)."""
    import json

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if json.loads(state.read_text())["watermarks"].get("spans", 0) >= spans:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the lake sink did not publish {spans} spans in {timeout_s:.0f} s")


def _owner_round(tmp: Path, k: int, bodies: list[bytes], lake: bool) -> tuple[float, float]:
    """One owner taking ``bodies``: (spans/s acknowledged, CPU microseconds per span), the
    lake owner's counted until its sink published every span."""
    from semtrace.lake.sink import state_dir

    name = f"{'lake' if lake else 'file'}-{k}"
    owner = _Owner(tmp / f"{name}.duckdb", tmp / "lake" if lake else None)
    try:
        _send_all(owner.url, bodies[:2], "application/x-protobuf", threads=2, rounds=1)
        health = owner.health()
        spans = health["spans_committed"]
        state = (
            state_dir(tmp / "lake") / "owners" / f"{health['lake']['owner']}.json" if lake else None
        )
        if state is not None:
            _wait_published(state, spans)
        cpu0 = owner.cpu_seconds()
        seconds, statuses = _send_all(owner.url, bodies, "application/x-protobuf", 4, 1)
        assert statuses.get(200) == len(bodies), statuses
        if state is not None:
            _wait_published(state, spans + len(bodies) * SPANS_PER_REQUEST)
        cpu = owner.cpu_seconds() - cpu0
    finally:
        owner.stop()
    n = len(bodies) * SPANS_PER_REQUEST
    return n / seconds, cpu / n * 1e6


def _owner_cost(tmp: Path, quick: bool) -> list[Result]:
    requests = 60 if quick else 240
    rounds = 2 if quick else 3
    file_rate, file_cpu, lake_rate, lake_cpu = [], [], [], []
    for k in range(rounds):
        bodies = [make_request(k * 10_000 + i).SerializeToString() for i in range(requests)]
        order = (False, True) if k % 2 == 0 else (True, False)
        for lake in order:
            rate, cpu = _owner_round(tmp, k, bodies, lake)
            (lake_rate if lake else file_rate).append(rate)
            (lake_cpu if lake else file_cpu).append(cpu)
    fr, lr = statistics.median(file_rate), statistics.median(lake_rate)
    fc, lc = statistics.median(file_cpu), statistics.median(lake_cpu)
    n = requests * SPANS_PER_REQUEST
    return [
        Result(
            "lake",
            "owner with --lake: CPU per span",
            round(lc, 1),
            "us/span",
            baseline="the same owner without a lake, same requests",
            baseline_value=round(fc, 1),
            ratio=round(lc / fc, 2),
            target=f"<= {TARGET_RATIO}x",
            met=lc / fc <= TARGET_RATIO,
            note=f"{n:,} spans per round, median of {rounds}; until published to the lake "
            f"(--lake-settle {SETTLE_S:g})",
        ),
        Result(
            "lake",
            "owner with --lake: spans/s acknowledged",
            round(lr),
            "spans/s",
            baseline="the same owner without a lake",
            baseline_value=round(fr),
            ratio=round(fr / lr, 2),
            target=f"<= {TARGET_RATIO}x slower",
            met=fr / lr <= TARGET_RATIO,
        ),
    ]


def _median_s(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _spark_seconds(lake: Path, runs: int) -> tuple[float | None, str]:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return None, "pyspark is not installed (pip install 'semtrace[spark]')"
    import semtrace.spark

    start = time.perf_counter()
    spark = semtrace.spark.local_session(cores=2, memory="4g", name="semtrace-bench")
    started = time.perf_counter() - start
    try:
        semtrace.spark.register(spark, lake)
        seconds = _median_s(lambda: spark.sql(SLOWEST).collect(), runs)
    finally:
        spark.stop()
    return seconds, f"local[2], session started in {started:.0f} s (not counted)"


def _big_lake(tmp: Path, quick: bool) -> list[Result]:
    from bench.queries import build
    from semtrace.lake import LakeSink, connect_lake
    from semtrace.store import queries
    from semtrace.store.database import Store, connect_readonly

    total = 1_000_000 if quick else 10_000_000
    runs = 3
    db = tmp / "big.duckdb"
    # The seed runs in a child process: embedded, so no on-demand owner keeps the file.
    mode = os.environ.get("SEMTRACE_MODE")
    os.environ["SEMTRACE_MODE"] = "embedded"
    try:
        build(db, total, seed_runs=300 if quick else 1000)
    finally:
        if mode is None:
            os.environ.pop("SEMTRACE_MODE", None)
        else:
            os.environ["SEMTRACE_MODE"] = mode
    store = Store(db)
    ((spans,),) = store.cursor().execute("select count(*) from spans").fetchall()
    start = time.perf_counter()
    sink = LakeSink(store, tmp / "big-lake")
    sink.flush()
    publish_s = time.perf_counter() - start
    store.close()
    lake_bytes = sum(p.stat().st_size for p in (tmp / "big-lake").rglob("*.parquet"))
    file_con = connect_readonly(db)
    file_s = _median_s(lambda: file_con.execute(SLOWEST).fetchall(), runs)
    file_con.close()
    con = connect_lake(tmp / "big-lake")
    lake_s = _median_s(lambda: con.execute(SLOWEST).fetchall(), runs)
    list_s = _median_s(lambda: queries.recent_traces(con, limit=200), runs)
    open_s = _median_s(lambda: connect_lake(tmp / "big-lake").close(), runs)
    con.close()
    spark_s, spark_note = _spark_seconds(tmp / "big-lake", 2)
    size = f"{spans / 1e6:.0f}M spans"
    results = [
        Result(
            "lake",
            f"sink publishing a {size} file",
            round(spans / publish_s),
            "spans/s",
            note=f"{publish_s:.0f} s, {sink.stats.files} files, {lake_bytes / 1e6:.0f} MB "
            "(all tables, zstd)",
        ),
        Result(
            "lake",
            f"traces view, slowest 10, {size} lake, DuckDB",
            round(lake_s, 2),
            "s",
            baseline="the same query on the DuckDB file",
            baseline_value=round(file_s, 2),
            ratio=round(lake_s / file_s, 2),
            target=f"< {TARGET_TRACES_S} s",
            met=lake_s < TARGET_TRACES_S,
        ),
        Result(
            "lake",
            f"dashboard traces list (newest 200), {size} lake, DuckDB",
            round(list_s, 2),
            "s",
            target=f"< {TARGET_TRACES_S} s",
            met=list_s < TARGET_TRACES_S,
        ),
        Result(
            "lake",
            f"connect(lake=) on the {size} lake",
            round(open_s, 2),
            "s",
            note="list files, read footers, create the views",
        ),
    ]
    if spark_s is not None:
        results.append(
            Result(
                "lake",
                f"traces view, slowest 10, {size} lake, Spark",
                round(spark_s, 2),
                "s",
                baseline="DuckDB over the same lake",
                baseline_value=round(lake_s, 2),
                ratio=round(spark_s / lake_s, 2),
                note=spark_note,
            )
        )
    else:
        results.append(
            Result("lake", f"traces view, {size} lake, Spark", 0.0, "s", note=spark_note)
        )
    return results


def run(quick: bool = False) -> list[Result]:
    tmp = Path(tempfile.mkdtemp(prefix="semtrace-bench-lake-"))
    try:
        return [*_owner_cost(tmp, quick), *_big_lake(tmp, quick)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    for result in run(quick="--quick" in sys.argv):
        print(result)
