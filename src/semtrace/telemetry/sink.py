"""Where semantic log records go, and the lowest level worth keeping.

``configure()`` installs the sink (the tracer's log queue and the service name) and the
level; telemetry itself imports nothing from the tracer. A record below the level is dropped
before any work is done on it: no rendering, no redaction, no queueing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from semtrace.exceptions import ConfigurationError
from semtrace.store.model import LogRecord

__all__ = [
    "DEFAULT_LOG_LEVEL",
    "ENV_LOG_LEVEL",
    "LEVELS",
    "SINK",
    "LogSink",
    "log_level",
]

ENV_LOG_LEVEL = "SEMTRACE_LOG_LEVEL"
DEFAULT_LOG_LEVEL = "info"
# The stdlib's numbers, so a handler's level and ours compare directly.
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _unconfigured(record: LogRecord) -> bool:
    return False


def log_level(value: str | int | None = None) -> int:
    """The minimum level: the argument, else ``SEMTRACE_LOG_LEVEL``, else INFO (a number)."""
    source = "log_level"
    if value is None:
        value, source = os.environ.get(ENV_LOG_LEVEL) or DEFAULT_LOG_LEVEL, ENV_LOG_LEVEL
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    name = str(value).strip().lower()
    if name == "warn":
        name = "warning"
    if name not in LEVELS:
        raise ConfigurationError(
            f"{source}={value!r} is not a level; use one of {', '.join(LEVELS)}"
        )
    return LEVELS[name]


class LogSink:
    """What a finished record is handed to, the service it is stamped with, the level kept."""

    __slots__ = ("emit", "level", "service_name")

    def __init__(self) -> None:
        self.emit: Callable[[LogRecord], bool] = _unconfigured
        self.service_name: str | None = None
        self.level = logging.INFO

    def install(
        self, emit: Callable[[LogRecord], bool], *, service_name: str | None, level: int
    ) -> None:
        self.emit, self.service_name, self.level = emit, service_name, level

    def reset(self) -> None:
        """Back to dropping every record (after ``shutdown()``); the level is read again."""
        self.emit, self.service_name = _unconfigured, None
        self.level = _level_from_env()


def _level_from_env() -> int:
    # Importing semtrace must not fail on a bad variable: configure() reports it.
    try:
        return log_level()
    except ConfigurationError:
        return LEVELS[DEFAULT_LOG_LEVEL]


SINK = LogSink()
SINK.level = _level_from_env()
