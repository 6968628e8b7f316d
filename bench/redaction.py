"""Cost of redaction on the store's write path, 10,240 spans + 10,240 semantic logs, with
redaction on vs off: the Arrow build alone (where redaction runs), and the whole write into an
open DuckDB file (what an exporter pays per batch; opening and closing the file are outside the
timed region). Target for the whole write: <= 1.25x."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench._harness import Result, interleaved
from bench.export import agent_spans


def _logs(n: int) -> list:  # type: ignore[type-arg]
    from semtrace.store.model import LogRecord

    return [
        LogRecord(
            time_ns=1_764_300_000_000_000_000 + i,
            message=f"matched invoice INV-{i} to purchase order PO-{i % 97}",
            template="matched invoice {invoice} to purchase order {po}",
            agent_name="procurement",
            attributes={"invoice": f"INV-{i}", "po": f"PO-{i % 97}", "amount": 120.5 + i},
        )
        for i in range(n)
    ]


def run(quick: bool = False) -> list[Result]:
    from semtrace import redaction
    from semtrace.store._arrow import logs_table, spans_tables
    from semtrace.store.database import Store
    from semtrace.tracer.convert import span_to_record

    n = 10_240
    rounds = 5 if quick else 11
    cache: dict = {}  # type: ignore[type-arg]
    records = [span_to_record(s, cache) for s in agent_spans(n)]
    logs = _logs(n)
    on = redaction.get_redactor()
    off = redaction.Redactor(enabled=False)

    def build(r: redaction.Redactor) -> None:
        redaction.use_redactor(r)
        for i in range(0, n, 2_048):
            spans_tables(records[i : i + 2_048])
            logs_table(logs[i : i + 2_048])

    tmp = Path(tempfile.mkdtemp(prefix="semtrace-bench-redaction-"))
    counter = iter(range(1_000_000))
    stores: list[Store] = []

    def fresh_store() -> None:
        # Untimed: opening a file (schema, views) and closing the last one (its checkpoint)
        # are the same with redaction on or off, and no exporter pays them per batch.
        while stores:
            stores.pop().close()
        stores.append(Store(tmp / f"w-{next(counter)}.duckdb"))

    def write(r: redaction.Redactor) -> None:
        redaction.use_redactor(r)
        store = stores[0]
        for i in range(0, n, 2_048):
            store.write_spans(records[i : i + 2_048])
            store.write_logs(logs[i : i + 2_048])

    try:
        t_on, t_off = interleaved(lambda: build(on), lambda: build(off), rounds)
        w_on, w_off = interleaved(
            lambda: write(on), lambda: write(off), max(3, rounds // 2), fresh_store
        )
    finally:
        redaction.use_redactor(on)
        while stores:
            stores.pop().close()
    return [
        Result(
            "redaction",
            "write of 10,240 spans + 10,240 logs to DuckDB, redaction on",
            round(w_on * 1000, 1),
            "ms",
            baseline="the same with redaction off",
            baseline_value=round(w_off * 1000, 1),
            ratio=round(w_on / w_off, 2),
            target="<= 1.25x",
            met=w_on / w_off <= 1.25,
            note=f"{(w_on - w_off) / (2 * n) * 1e6:.2f} us per record",
        ),
        Result(
            "redaction",
            "Arrow build of 10,240 spans + 10,240 logs, redaction on",
            round(t_on * 1000, 1),
            "ms",
            baseline="the same with redaction off",
            baseline_value=round(t_off * 1000, 1),
            ratio=round(t_on / t_off, 2),
            note=f"{(t_on - t_off) / (2 * n) * 1e6:.2f} us per record (where redaction runs)",
        )
    ]
