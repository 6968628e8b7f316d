"""Queries at scale: the questions users ask, on a database of millions of spans.

The database is seeded with real semtrace runs (decorated agents, tools, LLM calls, failures
and semantic logs written through the real tracer), then replicated in SQL with fresh trace
ids up to the target size, plus one trace of 100,000 spans. Each query is timed (median of
several runs) beside a full scan of the spans table in the same run (the baseline).
Targets: trace detail < 200 ms; the others < 1 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import duckdb

from bench._harness import Result

_SEED_SCRIPT = textwrap.dedent(
    """
    import sys, semtrace
    semtrace.configure(service_name="bench-agents", db=sys.argv[1], capture_logging=False, mode="embedded")
    log = semtrace.get_logger(agent="procurement") if hasattr(semtrace, "get_logger") else None

    @semtrace.tool("lookup_vendor")
    def lookup_vendor(i):
        if i % 17 == 0:
            if log is not None:
                log.failure(action="retrieve the vendor ID", cause="the Last-updated field was null",
                            impact="no valid match could be made", vendor=f"V{i}")
            raise LookupError(f"vendor V{i} has no Last-updated value")
        return i

    @semtrace.llm(model="gpt-4o-mini", provider="openai")
    def ask(i):
        return {"usage": {"prompt_tokens": 200 + i % 50, "completion_tokens": 40 + i % 9}}

    @semtrace.agent("procurement")
    def procurement(i):
        ask(i)
        try:
            lookup_vendor(i)
        except LookupError:
            pass
        if log is not None:
            log.info("matched invoice to purchase order", invoice=f"INV-{i}")

    @semtrace.agent("supervisor")
    def run(i):
        for _ in range(3):
            ask(i)
        procurement(i)

    for i in range(int(sys.argv[2])):
        run(i)
    semtrace.shutdown()
    """
)


def build(db: Path, total_spans: int, seed_runs: int) -> dict[str, float]:
    """Seed with the real tracer in a subprocess, then replicate to ``total_spans``."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", _SEED_SCRIPT, str(db), str(seed_runs)], check=True)
    seeded = time.perf_counter() - t0
    con = duckdb.connect(str(db))
    base = con.execute("select count(*) from spans").fetchone()[0]  # type: ignore[index]
    copies = max(0, total_spans // max(base, 1) - 1)
    t1 = time.perf_counter()
    shift = "lpad(to_hex(r.range), 8, '0') || substr(s.trace_id, 9)"
    if copies:
        con.execute(
            f"""INSERT INTO spans SELECT s.* REPLACE ({shift} AS trace_id,
                    start_time + to_microseconds(r.range * 1000000) AS start_time,
                    end_time + to_microseconds(r.range * 1000000) AS end_time,
                    start_time_ns + r.range * 1000000000 AS start_time_ns,
                    end_time_ns + r.range * 1000000000 AS end_time_ns)
                FROM spans s, range(1, {copies + 1}) r"""
        )
        con.execute(
            f"""INSERT INTO logs SELECT l.* REPLACE ({shift.replace('s.', 'l.')} AS trace_id,
                    l.log_id || to_hex(r.range) AS log_id,
                    time + to_microseconds(r.range * 1000000) AS time,
                    time_ns + r.range * 1000000000 AS time_ns)
                FROM logs l, range(1, {copies + 1}) r"""
        )
    # One trace of 100,000 spans: a root and a wide, two-level tree under it.
    con.execute(
        """INSERT INTO spans SELECT s.* REPLACE ('ffffffffffffffffffffffffffffffff' AS trace_id,
                lpad(to_hex(r.range + 1), 16, '0') AS span_id,
                CASE WHEN r.range = 0 THEN NULL
                     ELSE lpad(to_hex((r.range // 100) + 1), 16, '0') END AS parent_span_id,
                start_time_ns + r.range * 1000 AS start_time_ns,
                end_time_ns + r.range * 1000 AS end_time_ns)
           FROM (SELECT * FROM spans LIMIT 1) s, range(100000) r"""
    )
    con.execute("CHECKPOINT")
    replicated = time.perf_counter() - t1
    con.close()
    return {"seed_s": seeded, "replicate_s": replicated, "seed_spans": float(base)}


def _median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def run(quick: bool = False) -> list[Result]:
    from semtrace.store import queries
    from semtrace.store.database import connect_readonly

    total = 1_000_000 if quick else 10_000_000
    runs = 3 if quick else 5
    db = Path(tempfile.mkdtemp(prefix="semtrace-bench-")) / "scale.duckdb"
    info = build(db, total, seed_runs=300 if quick else 1000)
    con = connect_readonly(db)
    n_spans = con.execute("select count(*) from spans").fetchone()[0]  # type: ignore[index]
    scan_ms = _median_ms(lambda: con.execute("select count(*), sum(duration_ms) from spans").fetchall(), runs)
    big = "ffffffffffffffffffffffffffffffff"
    checks = [
        ("trace detail, 100k-span trace", 200,
         lambda: queries.trace_spans(con, big)),
        ("traces list, newest 200 (dashboard)", 1000,
         lambda: queries.recent_traces(con, limit=200)),
        ("traces list, filtered (ERROR, agent)", 1000,
         lambda: queries.recent_traces(con, limit=50, status="ERROR", agents=["procurement"])),
        ("traces list, text search", 1000,
         lambda: queries.recent_traces(con, limit=50, text="last-updated")),
        ("failures view, latest 100", 1000,
         lambda: queries.arrow(con, "select * from failures order by time desc limit 100")),
        ("agents view (latency percentiles)", 1000,
         lambda: queries.arrow(con, "select * from agents")),
        ("free-text search over log sentences", 1000,
         lambda: queries.arrow(con, "select time, agent_name, message from logs "
                                    "where message ilike '%last-updated%' order by time desc limit 100")),
    ]
    results = [
        Result("queries", "database size", float(n_spans), "spans",
               note=f"seeded {info['seed_spans']:.0f} spans with the real tracer in {info['seed_s']:.1f} s, "
                    f"replicated in {info['replicate_s']:.1f} s; {db.stat().st_size / 1e6:.0f} MB"),
    ]
    for label, target_ms, fn in checks:
        ms = _median_ms(fn, runs)
        results.append(Result(
            "queries", label, round(ms, 1), "ms",
            baseline="full scan of spans (count, sum)", baseline_value=round(scan_ms, 1),
            ratio=round(ms / scan_ms, 2) if scan_ms else None,
            target=f"< {target_ms} ms", met=ms < target_ms,
        ))
    con.close()
    return results
