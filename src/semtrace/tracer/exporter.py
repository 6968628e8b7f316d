"""The in-process DuckDB span exporter (embedded mode)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from semtrace._errors import handle_internal_errors
from semtrace.store.database import resolve_path
from semtrace.store.resilient import get_writer
from semtrace.tracer.convert import SpanBatch

__all__ = ["DuckDBSpanExporter"]

_log = logging.getLogger("semtrace.exporter")


class DuckDBSpanExporter(SpanExporter):
    """Writes finished spans to a DuckDB file; never raises, counts what it could not write."""

    def __init__(self, db: str | os.PathLike[str]) -> None:
        self.path = resolve_path(db)
        self._shutdown = False
        self.spans_written = 0
        self.spans_failed = 0
        self.export_calls = 0
        self.last_export_ms = 0.0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        started = time.perf_counter()
        self.export_calls += 1
        result = SpanExportResult.FAILURE
        with handle_internal_errors("DuckDBSpanExporter.export"):
            try:
                # The writer reads rows straight from the SDK spans (no records, no copies).
                # Spooled batches count as exported: they reach the file when it is back.
                get_writer(self.path).write(spans=SpanBatch(spans))
                self.spans_written += len(spans)
                result = SpanExportResult.SUCCESS
            except Exception:
                self.spans_failed += len(spans)
                raise
        self.last_export_ms = (time.perf_counter() - started) * 1000
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        self._shutdown = True
