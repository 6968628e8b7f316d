"""Connects telemetry to the tracer once: the failure hook, the input redactor and the
stdlib capture that follows ``configure(capture_logging=...)``."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.trace import Span, format_span_id, format_trace_id

from semtrace.telemetry import processors as p
from semtrace.telemetry import stdlib
from semtrace.telemetry.redaction import redact_text
from semtrace.tracer import _failures
from semtrace.tracer.setup import STATE, Settings, emit_log

__all__ = ["log_failure", "wire"]


def log_failure(span: Span, call: _failures.CallInfo, exc: BaseException, sentence: str) -> None:
    """FAILURE_HOOK: an exception in a traced step becomes an ERROR log linked to the span,
    with the same sentence as the span's status message."""
    described = _failures.describe_failure(call, exc)
    ctx = span.get_span_context()
    event: dict[str, Any] = {k: v for k, v in p.bound_context().items() if k not in p.RESERVED_KEYS}
    event.update(described.facts)
    event.update(
        event=sentence,
        template=described.template,
        level="error",
        event_name="exception",
        logger_name="semtrace.tracer",
        action=described.action,
        cause=described.cause,
        agent=call.agent or (call.name if call.role == "agent" else None),
        _time_ns=time.time_ns(),
    )
    if ctx.is_valid:
        event["trace_id"] = format_trace_id(ctx.trace_id)
        event["span_id"] = format_span_id(ctx.span_id)
    for proc in (p.make_facts_safe, p.redact_event):
        event = proc(None, "error", event)  # type: ignore[assignment]
    emit_log(p.to_log_record(event, "error"))
    p.print_to_console(event, "error")


def _on_configure(settings: Settings) -> None:
    if settings.capture_logging:
        stdlib.install()
    else:
        stdlib.uninstall()


def wire() -> None:
    """Install the hooks (idempotent)."""
    if log_failure not in _failures.FAILURE_HOOKS:
        _failures.FAILURE_HOOKS.append(log_failure)
    _failures.set_redactor(redact_text)
    if _on_configure not in STATE.on_configure:
        STATE.on_configure.append(_on_configure)
    if stdlib.uninstall not in STATE.on_shutdown:
        STATE.on_shutdown.append(stdlib.uninstall)
    if STATE.settings is not None:  # configured before telemetry was imported
        _on_configure(STATE.settings)
