"""OpenTelemetry SDK exporters by entry point: zero-code instrumentation into DuckDB.

``OTEL_TRACES_EXPORTER=semtrace OTEL_LOGS_EXPORTER=semtrace opentelemetry-instrument python
app.py`` makes the SDK's auto-configuration (``opentelemetry-distro``) build these exporters,
which write to the file named by ``SEMTRACE_DB`` (default ``semtrace.duckdb``), or to the
collector that owns that file. Everything else (service name, resource attributes,
sampler, batching) is the SDK's, from the usual ``OTEL_*`` variables.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from semtrace import semconv as sc
from semtrace._errors import handle_internal_errors
from semtrace.config import resolve_mode
from semtrace.store.database import resolve_path
from semtrace.store.model import LogRecord
from semtrace.tracer.convert import format_span_id, format_trace_id

__all__ = ["SemtraceLogExporter", "SemtraceSpanExporter", "log_record_to_domain"]

_log = logging.getLogger("semtrace.otel")


def _settings(db: str | os.PathLike[str] | None = None) -> Any:
    """Settings for a process the OTel SDK configured: the db and collector routing only.

    An exporter given its own ``db`` writes there (routed anew, no endpoint from the
    environment)."""
    from dataclasses import replace

    from semtrace.tracer import setup

    settings = setup._route(
        setup.Settings(
            service_name=os.environ.get("OTEL_SERVICE_NAME") or setup.DEFAULT_SERVICE,
            db=resolve_path(os.environ.get(setup.ENV_DB, setup.DEFAULT_DB)),
            endpoint=os.environ.get(setup.ENV_ENDPOINT) or None,
            mode=resolve_mode(None),  # SEMTRACE_MODE: through the file's owner by default
        )
    )
    if db is not None:
        settings = setup._route(replace(settings, db=resolve_path(db), endpoint=None))
    return settings


def _semtrace_writes(db: str) -> bool:
    """True when the app also called ``semtrace.configure()`` for the same file: semtrace's
    processor sits on the SDK's provider then, and exporting here too would store each span
    twice."""
    from semtrace.tracer.setup import STATE

    settings = STATE.settings
    return settings is not None and settings.db == db


class SemtraceSpanExporter(SpanExporter):
    """A span exporter the SDK builds by name (``semtrace``); writes where semtrace would."""

    def __init__(self, db: str | os.PathLike[str] | None = None) -> None:
        from semtrace.tracer import setup

        settings = _settings(db)
        self.settings = settings
        self._inner: SpanExporter = setup._span_factory_for(settings)(settings)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if _semtrace_writes(self.settings.db):
            return SpanExportResult.SUCCESS  # semtrace's own pipeline already has these
        return self._inner.export(spans)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._inner.shutdown()


_SEVERITY_BY_NUMBER = (
    (21, "CRITICAL"),
    (17, "ERROR"),
    (13, "WARNING"),
    (9, "INFO"),
    (5, "DEBUG"),
    (1, "TRACE"),
)


def _severity(number: int | None, text: str | None) -> str:
    if number:
        for floor, name in _SEVERITY_BY_NUMBER:
            if number >= floor:
                return name
    if text:
        upper = text.upper()
        return {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(upper, upper)
    return "INFO"


def log_record_to_domain(readable: ReadableLogRecord) -> LogRecord:
    """The store's record for one SDK log record (a ``logging`` call, a GenAI event ...)."""
    rec = readable.log_record
    attrs = dict(rec.attributes or {})
    number = rec.severity_number.value if rec.severity_number is not None else None
    body = rec.body
    message = body if isinstance(body, str) else ("" if body is None else str(body))
    if not message and rec.event_name:
        message = rec.event_name
    resource = readable.resource.attributes if readable.resource is not None else {}
    service = resource.get(sc.SERVICE_NAME)
    scope = readable.instrumentation_scope
    agent = attrs.get(sc.GEN_AI_AGENT_NAME) or attrs.get(sc.SEMTRACE_AGENT_NAME)
    return LogRecord(
        time_ns=rec.timestamp or rec.observed_timestamp or 0,
        message=message,
        severity=_severity(number, rec.severity_text),
        severity_number=number,
        trace_id=format_trace_id(rec.trace_id) if rec.trace_id else None,
        span_id=format_span_id(rec.span_id) if rec.span_id else None,
        service_name=str(service) if service is not None else None,
        logger_name=scope.name if scope is not None else None,
        event_name=rec.event_name,
        agent_name=str(agent) if agent is not None else None,
        attributes=attrs if isinstance(body, str) or body is None else {**attrs, "body": body},
    )


class SemtraceLogExporter(LogRecordExporter):
    """A log exporter the SDK builds by name (``semtrace``): log records into the logs table."""

    def __init__(self, db: str | os.PathLike[str] | None = None) -> None:
        from semtrace.tracer import setup

        settings = _settings(db)
        self.settings = settings
        self._flush: Callable[[Sequence[LogRecord]], None] = setup._log_factory_for(settings)(
            settings
        )
        self._shutdown = False

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if self._shutdown:
            return LogRecordExportResult.FAILURE
        if _semtrace_writes(self.settings.db):
            return LogRecordExportResult.SUCCESS
        result = LogRecordExportResult.FAILURE
        with handle_internal_errors("SemtraceLogExporter.export"):
            self._flush([log_record_to_domain(r) for r in batch])
            result = LogRecordExportResult.SUCCESS
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        # Batches are committed as they come, so nothing is left to write here.
        self._shutdown = True
