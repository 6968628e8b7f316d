"""Turning semantic logging on and off; ``semtrace.configure()`` and ``shutdown()`` call these.

The tracer hands in where records go (its log queue) and the settings; telemetry keeps them
on :data:`~semtrace.telemetry.sink.SINK` and never imports the tracer back.
"""

from __future__ import annotations

from collections.abc import Callable

from semtrace.store.model import LogRecord
from semtrace.telemetry import stdlib
from semtrace.telemetry.processors import CONSOLE
from semtrace.telemetry.sink import SINK, log_level

__all__ = ["configure_logging", "shutdown_logging"]


def configure_logging(
    emit: Callable[[LogRecord], bool],
    *,
    service_name: str | None,
    level: str | int | None = None,
    capture_logging: bool = True,
) -> int:
    """Send records to ``emit``, keep those at ``level`` and up (argument, else
    ``SEMTRACE_LOG_LEVEL``, else INFO), capture stdlib ``logging`` or not. Returns the level."""
    number = log_level(level)
    SINK.install(emit, service_name=service_name, level=number)
    CONSOLE.reload()
    if capture_logging:
        stdlib.install(number)
    else:
        stdlib.uninstall()
    return number


def shutdown_logging() -> None:
    """Stop capturing stdlib logging and drop records until configured again."""
    stdlib.uninstall()
    SINK.reset()
