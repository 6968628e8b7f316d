"""The domain model the store takes and returns: frozen records, no wire format, no SQL.

The tracer's exporter, the OTLP collector and the logger all turn what they receive into
these records; the writer turns batches of them into Arrow tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SEVERITY_NUMBERS",
    "LogRecord",
    "SpanEventRecord",
    "SpanLinkRecord",
    "SpanRecord",
]

# OTLP severity numbers for the names the logs table stores (the base of each range).
SEVERITY_NUMBERS: dict[str, int] = {
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "WARNING": 13,
    "ERROR": 17,
    "CRITICAL": 21,
}


@dataclass(frozen=True, slots=True)
class SpanEventRecord:
    """A timestamped event on a span (an exception, a warning sentence, a task state change)."""

    name: str
    time_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpanLinkRecord:
    """A link from a span to another span context (a message's creation context, say)."""

    trace_id: str
    span_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """A finished span; ids are lowercase hex as OpenTelemetry prints them."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str  # INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER
    start_ns: int
    end_ns: int
    status_code: str = "UNSET"  # UNSET, OK, ERROR
    status_message: str | None = None
    service_name: str | None = None
    scope_name: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    resource: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[SpanEventRecord, ...] = ()
    links: tuple[SpanLinkRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class LogRecord:
    """A log record: a rendered sentence plus the facts it was made from."""

    time_ns: int
    message: str
    severity: str = "INFO"  # TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL
    template: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    agent_name: str | None = None
    service_name: str | None = None
    logger_name: str | None = None
    event_name: str | None = None
    action: str | None = None
    cause: str | None = None
    impact: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    severity_number: int | None = None
    log_id: str | None = None

    def number(self) -> int:
        """The OTLP severity number, derived from the name when not given."""
        if self.severity_number is not None:
            return self.severity_number
        return SEVERITY_NUMBERS.get(self.severity, 0)
