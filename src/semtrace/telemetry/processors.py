"""structlog processors that make an event a semantic log record and store it.

Each is a plain callable ``(logger, method_name, event_dict) -> event_dict``. semtrace's own
logger runs them all; if you already configured structlog, add them to your chain (before
your renderer) and your events land in the ``logs`` table with trace context::

    import structlog
    from semtrace.telemetry import processors as sp

    structlog.configure(processors=[
        structlog.stdlib.add_log_level,
        *sp.SEMTRACE_PROCESSORS,          # context, sentence, redaction, span event, store
        structlog.dev.ConsoleRenderer(),
    ])
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from opentelemetry import trace
from opentelemetry.trace import format_span_id, format_trace_id

from semtrace import semconv as sc
from semtrace._errors import error_type, handle_internal_errors
from semtrace.redaction import get_redactor
from semtrace.store.model import LogRecord
from semtrace.telemetry.context import current_agent
from semtrace.telemetry.sentences import (
    MAX_MESSAGE_CHARS,
    MAX_VALUE_CHARS,
    json_safe,
    render_failure,
    render_message,
    safe_text,
    truncate,
)
from semtrace.telemetry.sink import LEVELS, SINK

__all__ = [
    "CONSOLE",
    "ENV_CONSOLE",
    "RESERVED_KEYS",
    "SEMTRACE_PROCESSORS",
    "ConsoleOrDrop",
    "add_exception_facts",
    "add_severity",
    "add_span_event",
    "add_trace_context",
    "drop_below_level",
    "emit_record",
    "emit_to_store",
    "make_facts_safe",
    "merge_bound_context",
    "print_to_console",
    "redact_event",
    "render_sentence",
    "to_log_record",
]

EventDict = MutableMapping[str, Any]
ENV_CONSOLE = "SEMTRACE_CONSOLE"  # "1" always print, "0" never, unset: only on a TTY

# Keys with a meaning of their own; every other key is a fact (the attributes JSON).
RESERVED_KEYS = frozenset(
    {
        "event",
        "template",
        "level",
        "trace_id",
        "span_id",
        "agent",
        "action",
        "cause",
        "impact",
        "logger",
        "logger_name",
        "event_name",
        "timestamp",
        "exc_info",
        "stack_info",
        "_time_ns",
        "_record",
        "_facts_safe",
    }
)
_NOT_REDACTED = frozenset(
    {"trace_id", "span_id", "level", "agent", "exc_info", "_time_ns", "_facts_safe"}
)

_LEVELS = {
    "debug": "debug",
    "info": "info",
    "msg": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "exception": "error",
    "failure": "error",
    "critical": "critical",
    "fatal": "critical",
}
_WARNING_AND_UP = frozenset({"warning", "error", "critical"})
_ERROR_AND_UP = frozenset({"error", "critical"})
_SEVERITY = {
    "notset": "TRACE",
    "trace": "TRACE",
    "debug": "DEBUG",
    "info": "INFO",
    "warning": "WARNING",
    "error": "ERROR",
    "critical": "CRITICAL",
}

# The level of each logging method, for the filter that runs before anything else.
METHOD_LEVELS = {method: LEVELS[level] for method, level in _LEVELS.items()}


def drop_below_level(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Drop the event (``DropEvent``) when its level is below the configured minimum."""
    level = event_dict.get("level") or method_name
    if METHOD_LEVELS.get(str(level), LEVELS["info"]) < SINK.level:
        raise structlog.DropEvent
    return event_dict


def merge_bound_context(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Add the facts bound in structlog's context variables (``with log.bind(...)`` binds
    there, so does ``structlog.contextvars.bind_contextvars``); the event's own keys win. A
    bound agent is only a fallback, applied by :func:`add_trace_context`: the span's agent
    is more exact."""
    for key, value in structlog.contextvars.get_contextvars().items():
        if key != "agent":
            event_dict.setdefault(key, value)
    return event_dict


def add_severity(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """``level`` from the method called (``failure`` and ``exception`` are errors)."""
    event_dict.setdefault("level", _LEVELS.get(method_name, "info"))
    return event_dict


def add_trace_context(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """``trace_id``/``span_id`` of the current span and the agent it runs in (else the agent
    of a logger bound with ``with log.bind(...)`` around this code)."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format_trace_id(ctx.trace_id))
        event_dict.setdefault("span_id", format_span_id(ctx.span_id))
    if event_dict.get("agent") is None:
        agent = current_agent() or structlog.contextvars.get_contextvars().get("agent")
        if agent is not None:
            event_dict["agent"] = agent
    return event_dict


def add_exception_facts(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """For ``exc_info``: ``error.type``, ``exception.message`` and the traceback as facts."""
    info = event_dict.get("exc_info")
    if not info:
        return event_dict
    exc: BaseException | None = None
    if isinstance(info, BaseException):
        exc = info
    elif isinstance(info, tuple) and len(info) == 3:
        exc = info[1]
    else:
        exc = sys.exc_info()[1]
    if exc is not None:
        event_dict.setdefault(sc.ERROR_TYPE, error_type(exc))
        event_dict.setdefault(sc.EXCEPTION_MESSAGE, safe_text(exc))
        stack = "".join(traceback.format_exception(exc))
        event_dict.setdefault(sc.EXCEPTION_STACKTRACE, truncate(stack, 8_000))
    return event_dict


def render_sentence(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """``event`` becomes the rendered sentence and ``template`` its low-cardinality form
    (for failures and error sentences: the sentence as written with its values masked)."""
    agent = event_dict.get("agent")
    agent_name = str(agent) if agent is not None else None
    is_failure = method_name == "failure" or (
        event_dict.get("event") is None and "action" in event_dict
    )
    facts = {k: v for k, v in event_dict.items() if k not in RESERVED_KEYS}
    if is_failure:
        rendered = render_failure(
            agent_name,
            event_dict.get("action"),
            event_dict.get("cause"),
            event_dict.get("impact"),
            facts,
        )
        event_dict.setdefault("event_name", "failure")
        for key in ("action", "cause", "impact"):  # the columns hold what the sentence says
            value = event_dict.get(key)
            if isinstance(value, str) and "{" in value:
                event_dict[key] = render_message(value, facts).message
    else:
        level = event_dict.get("level")
        rendered = render_message(
            event_dict.get("event"), facts, agent_name, mask=level in _ERROR_AND_UP
        )
    event_dict["event"] = rendered.message
    event_dict.setdefault("template", rendered.template)
    return event_dict


def make_facts_safe(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Facts JSON cannot hold are kept by ``repr``; huge ones are truncated with a marker."""
    for key in list(event_dict):
        if key not in RESERVED_KEYS:
            event_dict[key] = json_safe(event_dict[key])
    event_dict["_facts_safe"] = True
    for key in ("action", "cause", "impact"):
        value = event_dict.get(key)
        if value is not None and not isinstance(value, str):
            event_dict[key] = (
                json_safe(value) if isinstance(value, int | float) else str(json_safe(value))
            )
    return event_dict


def redact_event(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Secrets in the message, the template and every fact are replaced (redaction.py)."""
    redactor = get_redactor()
    if not redactor.enabled:
        return event_dict
    for key in list(event_dict):
        if key not in _NOT_REDACTED:
            event_dict[key] = redactor.redact_value(event_dict[key], key)
    return event_dict


def add_span_event(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Warnings, errors and failures also become ``semtrace.log`` events on the current span."""
    if event_dict.get("level") not in _WARNING_AND_UP:
        return event_dict
    span = trace.get_current_span()
    if not span.is_recording():
        return event_dict
    attrs: dict[str, Any] = {
        sc.SEMTRACE_LOG_SEVERITY: _SEVERITY.get(str(event_dict.get("level")), "INFO"),
        sc.SEMTRACE_LOG_MESSAGE: str(event_dict.get("event", "")),
    }
    for key, attr in (
        ("template", sc.SEMTRACE_LOG_TEMPLATE),
        ("action", sc.SEMTRACE_LOG_ACTION),
        ("cause", sc.SEMTRACE_LOG_CAUSE),
        ("impact", sc.SEMTRACE_LOG_IMPACT),
    ):
        value = event_dict.get(key)
        if value is not None:
            attrs[attr] = str(value)
    for key, value in event_dict.items():
        if key not in RESERVED_KEYS and isinstance(value, str | bool | int | float):
            attrs.setdefault(key, value)
    span.add_event(sc.SEMTRACE_LOG_EVENT, attributes=attrs)
    return event_dict


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str and len(value) <= MAX_VALUE_CHARS:  # what truncate(str(v)) returns
        return value
    return truncate(str(value))


def to_log_record(event_dict: Mapping[str, Any], method_name: str = "info") -> LogRecord:
    """The store's record for a processed event."""
    level = str(event_dict.get("level") or _LEVELS.get(method_name, "info")).lower()
    if event_dict.get("_facts_safe"):
        facts = {k: v for k, v in event_dict.items() if k not in RESERVED_KEYS}
    else:
        facts = {k: json_safe(v) for k, v in event_dict.items() if k not in RESERVED_KEYS}
    time_ns = event_dict.get("_time_ns")
    message = event_dict.get("event")
    logger_name = event_dict.get("logger_name", event_dict.get("logger"))
    return LogRecord(
        time_ns=time_ns if isinstance(time_ns, int) else time.time_ns(),
        message=truncate(str(message) if message is not None else "", MAX_MESSAGE_CHARS),
        severity=_SEVERITY.get(level, "INFO"),
        template=_opt_str(event_dict.get("template")),
        trace_id=_opt_str(event_dict.get("trace_id")),
        span_id=_opt_str(event_dict.get("span_id")),
        agent_name=_opt_str(event_dict.get("agent")),
        service_name=SINK.service_name,
        logger_name=_opt_str(logger_name),
        event_name=_opt_str(event_dict.get("event_name")),
        action=_opt_str(event_dict.get("action")),
        cause=_opt_str(event_dict.get("cause")),
        impact=_opt_str(event_dict.get("impact")),
        attributes=facts,
    )


def emit_to_store(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Queue the event for the ``logs`` table (never blocks); passes it on for rendering."""
    try:
        SINK.emit(to_log_record(event_dict, method_name))
    except Exception:
        # Entered only on the error path: a context manager per record costs ~1 µs.
        with handle_internal_errors("emit log"):
            raise
    event_dict.pop("_facts_safe", None)  # our marker is nobody else's business
    return event_dict


SEMTRACE_PROCESSORS = (
    drop_below_level,
    merge_bound_context,
    add_severity,
    add_trace_context,
    add_exception_facts,
    render_sentence,
    make_facts_safe,
    redact_event,
    add_span_event,
    emit_to_store,
)

# Hidden on the console: the sentence already contains action, cause and impact.
_CONSOLE_HIDDEN = frozenset(
    {
        "template",
        "span_id",
        "_time_ns",
        "_facts_safe",
        "event_name",
        "logger_name",
        "action",
        "cause",
        "impact",
    }
)
_ORDER = ("debug", "info", "warning", "error", "critical")


def _forced_console() -> bool | None:
    """``SEMTRACE_CONSOLE``: True (always print), False (never) or None (only on a TTY)."""
    forced = os.environ.get(ENV_CONSOLE, "").strip().lower()
    if forced in {"1", "true", "yes", "on"}:
        return True
    if forced in {"0", "false", "no", "off"}:
        return False
    return None


class ConsoleOrDrop:
    """Final processor: structlog's ConsoleRenderer on a TTY, otherwise drop (stay quiet)."""

    def __init__(self, stream: TextIO | None = None, min_level: str = "info") -> None:
        self._stream = stream
        self._min = _ORDER.index(min_level) if min_level in _ORDER else 1
        self._renderer: Any = None
        self._tty_of: tuple[Any, bool] | None = None
        # Read once (and again by reload(), which configure() calls), not per record.
        self._forced = _forced_console()

    def reload(self) -> None:
        """Read ``SEMTRACE_CONSOLE`` again."""
        self._forced = _forced_console()

    def enabled(self) -> bool:
        """Whether records are printed: ``SEMTRACE_CONSOLE`` or, unset, a TTY."""
        if self._forced is not None:
            return self._forced
        stream = self._stream or sys.stderr
        # isatty() is a system call: ask once per stream (pytest swaps sys.stderr).
        if self._tty_of is not None and self._tty_of[0] is stream:
            return self._tty_of[1]
        try:
            tty = bool(stream.isatty())
        except (AttributeError, ValueError):
            tty = False
        self._tty_of = (stream, tty)
        return tty

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> Any:
        import structlog

        level = str(event_dict.get("level", "info"))
        if not self.enabled() or (level in _ORDER and _ORDER.index(level) < self._min):
            raise structlog.DropEvent
        if self._renderer is None:
            self._renderer = structlog.dev.ConsoleRenderer()
        if event_dict.get("event_name") == "exception":  # the sentence already says it all
            keep = ("event", "level", "agent", "trace_id", "exc_info")
            view = {k: event_dict[k] for k in keep if event_dict.get(k) is not None}
        else:
            view = {
                k: v for k, v in event_dict.items() if k not in _CONSOLE_HIDDEN and v is not None
            }
        if isinstance(view.get("trace_id"), str):
            view["trace_id"] = view["trace_id"][:8]
        return self._renderer(logger, method_name, view)


CONSOLE = ConsoleOrDrop()


def print_to_console(event_dict: Mapping[str, Any], method_name: str = "info") -> None:
    """Print a processed event the way the logger does (on a TTY only)."""
    import structlog

    try:
        line = CONSOLE(None, method_name, dict(event_dict))
    except structlog.DropEvent:
        return
    print(line, file=sys.stderr, flush=True)


def emit_record(event_dict: EventDict, method_name: str) -> None:
    """Store an event built elsewhere (an exception sentence of the tracer, say) the way the
    logger does, from the point where its sentence is already rendered: the bound facts are
    added, facts made safe and redacted, the record queued and (on a TTY) printed."""
    if METHOD_LEVELS.get(method_name, LEVELS["info"]) < SINK.level:
        return
    for proc in (merge_bound_context, make_facts_safe, redact_event):
        event_dict = proc(None, method_name, event_dict)
    SINK.emit(to_log_record(event_dict, method_name))
    event_dict.pop("_facts_safe", None)
    print_to_console(event_dict, method_name)
