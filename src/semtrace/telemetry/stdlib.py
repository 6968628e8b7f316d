"""Python's ``logging`` captured into the ``logs`` table, with trace context.

``semtrace.configure(capture_logging=True)`` (the default) adds one :class:`SemtraceHandler`
to the root logger; records that reach it (the logger levels still decide which do, and the
handler's level is semtrace's ``log_level``, so records below it are never processed) are
stored like semantic log records: the ``%``-format string is the template, ``extra=`` fields
and facts bound with ``with log.bind(...)`` are facts, the current span and agent are attached.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from semtrace._errors import handle_internal_errors
from semtrace.telemetry import processors as p

__all__ = ["SemtraceHandler", "install", "installed_handler", "uninstall"]

# Attributes every logging.LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
# Our own threads and loggers are never captured: their records would feed back into the queue.
# (Not every semtrace thread: bus handler threads run user code and are captured.)
_SKIP_THREADS = (
    "semtrace-spans",
    "semtrace-logs",
    "semtrace-ingest",
    "semtrace-http",
    "semtrace-batch",
    "OtelBatch",
    "OtelPeriodic",
)
_CHAIN = (
    p.merge_bound_context,
    p.add_trace_context,
    p.add_exception_facts,
    p.make_facts_safe,
    p.redact_event,
    p.add_span_event,
    p.emit_to_store,
)


def _level(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


class SemtraceHandler(logging.Handler):
    """A logging handler that turns records into semantic log records in the store."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "semtrace" or record.name.startswith("semtrace."):
            return
        if threading.current_thread().name.startswith(_SKIP_THREADS):
            return
        if getattr(self._busy, "on", False):  # a record logged while storing a record
            return
        self._busy.on = True
        try:
            with handle_internal_errors("capture logging record"):
                self._store(record)
        finally:
            self._busy.on = False

    def _store(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string in user code: keep what we can
            message = f"{record.msg!r} % {record.args!r}"
        template = record.msg if isinstance(record.msg, str) else message
        event: dict[str, Any] = {
            k: v for k, v in record.__dict__.items() if k not in _STANDARD and k[:1] != "_"
        }
        event.update(
            event=message,
            template=template,
            level=_level(record.levelno),
            logger_name=record.name,
            _time_ns=int(record.created * 1e9),
        )
        if record.exc_info:
            event["exc_info"] = record.exc_info
        method = event["level"]
        for proc in _CHAIN:
            event = proc(None, method, event)  # type: ignore[assignment]


_handler: SemtraceHandler | None = None
_lock = threading.Lock()


def installed_handler() -> SemtraceHandler | None:
    """The handler semtrace added to the root logger, if any."""
    return _handler


def install(level: int = logging.NOTSET) -> SemtraceHandler:
    """Add the handler to the root logger (once, however often it is called); it handles
    records at ``level`` and up (logging checks that before calling it)."""
    global _handler
    with _lock:
        root = logging.getLogger()
        if _handler is None:
            _handler = SemtraceHandler()
        _handler.setLevel(level)
        if _handler not in root.handlers:
            root.addHandler(_handler)
        return _handler


def uninstall() -> None:
    """Remove the handler from the root logger."""
    global _handler
    with _lock:
        if _handler is not None:
            logging.getLogger().removeHandler(_handler)
            _handler = None
