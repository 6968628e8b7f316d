"""The SDK span exporter semtrace installs: spans to the process's writer of a file.

That writer is this process itself (embedded mode) or the file's owner (owner mode, see
:mod:`semtrace.store.remote`); either way the spans become the same Arrow tables, and what
cannot be stored now is spooled and counted in ``semtrace_stats``, never raised.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pyarrow as pa
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from semtrace._errors import handle_internal_errors
from semtrace.store.database import resolve_path
from semtrace.store.resilient import get_writer
from semtrace.tracer.convert import SpanBatch

__all__ = ["DuckDBSpanExporter"]

_ARROW_POOL = pa.default_memory_pool()


class DuckDBSpanExporter(SpanExporter):
    """Writes finished spans to a DuckDB file (directly or through its owner); never raises."""

    def __init__(self, db: str | os.PathLike[str]) -> None:
        self.path = resolve_path(db)
        self._shutdown = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        with handle_internal_errors("DuckDBSpanExporter.export"):
            # The writer reads rows straight from the SDK spans (no records, no copies).
            # Spooled batches count as exported: they reach the file when it is back.
            get_writer(self.path).write(spans=SpanBatch(spans))
            # Arrow's allocator keeps what a batch's tables freed for the next one; inside an
            # agent that is tens of MB held for good (bench/memory.py): hand it back.
            _ARROW_POOL.release_unused()
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        self._shutdown = True
