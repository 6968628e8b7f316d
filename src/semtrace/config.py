"""Settings and the names of every setting: a leaf module that imports nothing of semtrace's.

``configure()`` (the tracer), the collector client, the owner launcher and the CLI all read
their settings from here, so none of them imports another to learn a setting's name. Each
setting is read once, in this order: the argument, then the environment variable, then the
default.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_IDLE_TIMEOUT_S",
    "DEFAULT_MODE",
    "DEFAULT_OWNER_LOG_MAX_BYTES",
    "DEFAULT_SERVICE",
    "ENV_CAPTURE_CONTENT",
    "ENV_CAPTURE_INPUTS",
    "ENV_DB",
    "ENV_ENDPOINT",
    "ENV_IDLE_TIMEOUT",
    "ENV_MODE",
    "ENV_OTEL_GENAI_CAPTURE_CONTENT",
    "ENV_OTEL_RESOURCE_ATTRIBUTES",
    "ENV_OTEL_SERVICE_NAME",
    "ENV_OWNER_LOG_MAX_BYTES",
    "ENV_TOKEN",
    "MODES",
    "Mode",
    "Settings",
    "capture_content_default",
    "env_bool",
    "resolve_mode",
]

ENV_DB = "SEMTRACE_DB"
ENV_ENDPOINT = "SEMTRACE_ENDPOINT"
ENV_CAPTURE_INPUTS = "SEMTRACE_CAPTURE_INPUTS"
ENV_CAPTURE_CONTENT = "SEMTRACE_CAPTURE_CONTENT"
ENV_OTEL_GENAI_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_MODE = "SEMTRACE_MODE"
ENV_TOKEN = "SEMTRACE_TOKEN"
ENV_IDLE_TIMEOUT = "SEMTRACE_OWNER_IDLE_TIMEOUT"
ENV_OWNER_LOG_MAX_BYTES = "SEMTRACE_OWNER_LOG_MAX_BYTES"
ENV_OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
ENV_OTEL_RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"

DEFAULT_DB = "semtrace.duckdb"
DEFAULT_SERVICE = "semtrace-app"

Mode = Literal["owner", "embedded"]
MODES: tuple[Mode, ...] = ("owner", "embedded")
# One process owns a file and every other routes through it (design.md, "one-writer rule").
DEFAULT_MODE: Mode = "owner"
# An owner started on demand exits after this long with no writer, no reader, nothing pending.
DEFAULT_IDLE_TIMEOUT_S = 300.0
# An owner's log (beside the database) is moved to ``.1`` once it passes this size.
DEFAULT_OWNER_LOG_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """What ``configure()`` settled on, after arguments, environment and defaults."""

    service_name: str
    db: str
    endpoint: str | None = None  # set when spans go to a collector instead of the file
    capture_logging: bool = True
    capture_inputs: bool = True
    max_input_chars: int = 500
    capture_content: bool = True  # inputs and outputs on every span (tracer/_content.py)
    max_content_chars: int = 4_096
    batch_interval_s: float = 1.0
    resource_attributes: Mapping[str, Any] = field(default_factory=dict)
    log_level: int = logging.INFO  # records below it are dropped before any work
    mode: Mode = DEFAULT_MODE
    owner_idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S  # an on-demand owner exits this idle


def env_bool(name: str, default: bool) -> bool:
    """A yes/no environment variable (1/true/yes/on), ``default`` when unset."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def capture_content_default() -> bool:
    """Whether spans record inputs and outputs when ``configure()`` is not told:
    ``SEMTRACE_CAPTURE_CONTENT``, else the GenAI conventions' switch
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``, else on."""
    if os.environ.get(ENV_CAPTURE_CONTENT) is not None:
        return env_bool(ENV_CAPTURE_CONTENT, True)
    return env_bool(ENV_OTEL_GENAI_CAPTURE_CONTENT, True)


def resolve_mode(mode: str | None) -> Mode:
    """The mode in force: the argument, else ``SEMTRACE_MODE``, else ``owner``.

    Raises ``ValueError`` naming the valid modes (``configure()`` turns it into a
    ``ConfigurationError``)."""
    value = mode if mode is not None else os.environ.get(ENV_MODE) or DEFAULT_MODE
    value = value.strip().lower()
    for known in MODES:
        if value == known:
            return known
    source = "mode=" if mode is not None else f"{ENV_MODE}="
    raise ValueError(
        f"{source}{value!r} is not a mode; use 'owner' (one process owns the file, every "
        "process routes through it) or 'embedded' (this process writes the file itself)"
    )
