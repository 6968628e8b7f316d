"""Decode OTLP bodies in worker processes, so ingest is not limited to one core's GIL.

Decoding a span and turning it into Arrow rows (normalisation, redaction) is pure Python and
costs most of a span's time in the collector. With ``decode_workers=N`` each request body is
decoded by one of N worker processes, which send back ready Arrow tables; the collector's
writer only appends them (one group commit, as before).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import pyarrow as pa

from semtrace import redaction
from semtrace.collector import otlp_decode
from semtrace.store import logs_table, schema, spans_tables

__all__ = ["DecodePool", "DecodedTables", "PoolBroken", "decode_to_tables"]

_DECODERS: dict[
    tuple[str, str],
    Callable[
        [bytes],
        otlp_decode.DecodedSpanRows | otlp_decode.DecodedSpans | otlp_decode.DecodedLogs,
    ],
] = {
    ("traces", "application/x-protobuf"): otlp_decode.decode_spans_protobuf_rows,
    ("traces", "application/json"): otlp_decode.decode_spans_json,
    ("logs", "application/x-protobuf"): otlp_decode.decode_logs_protobuf,
    ("logs", "application/json"): otlp_decode.decode_logs_json,
}


class PoolBroken(Exception):
    """A worker process died; the pool is being restarted (the request may be retried)."""


@dataclass
class DecodedTables:
    """One request's records as Arrow tables for the store, plus what was rejected."""

    tables: list[tuple[str, pa.Table]] = field(default_factory=list)
    records: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def decode_to_tables(signal: str, content_type: str, body: bytes) -> DecodedTables:
    """Decode one OTLP body into the store's Arrow tables (runs in a worker process)."""
    decoded = _DECODERS[(signal, content_type)](body)
    out = DecodedTables(rejected=decoded.rejected, errors=decoded.errors)
    if isinstance(decoded, otlp_decode.DecodedSpanRows):
        if decoded.rows:
            spans_t, events_t, links_t = spans_tables(otlp_decode.SpanRows(decoded.rows))
            out.tables = [
                (schema.SPANS, spans_t),
                (schema.SPAN_EVENTS, events_t),
                (schema.SPAN_LINKS, links_t),
            ]
            out.records = len(decoded.rows)
    elif isinstance(decoded, otlp_decode.DecodedSpans):
        if decoded.spans:
            spans_t, events_t, links_t = spans_tables(decoded.spans)
            out.tables = [
                (schema.SPANS, spans_t),
                (schema.SPAN_EVENTS, events_t),
                (schema.SPAN_LINKS, links_t),
            ]
            out.records = len(decoded.spans)
    elif decoded.logs:
        out.tables = [(schema.LOGS, logs_table(decoded.logs))]
        out.records = len(decoded.logs)
    return out


def _warm() -> int:
    return 0


class DecodePool:
    """N worker processes decoding request bodies; restarted if one dies."""

    def __init__(self, workers: int, db: str | None = None) -> None:
        self.workers = workers
        self.db = db  # workers redact with this database's key
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn: the collector has threads, and forking a threaded process can deadlock.
        pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=redaction.use_database,
            initargs=(self.db,),
        )
        for f in [pool.submit(_warm) for _ in range(self.workers)]:
            f.result()  # import everything now, not on the first request
        return pool

    def decode(self, signal: str, content_type: str, body: bytes) -> DecodedTables:
        """Decode in a worker; DecodeError for a bad body, PoolBroken if a worker died."""
        pool = self._pool
        try:
            return pool.submit(decode_to_tables, signal, content_type, body).result()
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = self._start()
            raise PoolBroken("a decode worker died; retry the request") from None

    @staticmethod
    def worker_pids() -> list[int]:
        """The worker processes' ids (the collector starts no other multiprocessing child)."""
        return [p.pid for p in multiprocessing.active_children() if p.pid is not None]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def group_tables(tables: Sequence[tuple[str, pa.Table]]) -> list[tuple[str, pa.Table]]:
    """One table per name (concatenated), so a group commit runs one INSERT per table."""
    by_name: dict[str, list[pa.Table]] = {}
    for name, table in tables:
        if table.num_rows:
            by_name.setdefault(name, []).append(table)
    return [(name, pa.concat_tables(ts)) for name, ts in by_name.items()]
