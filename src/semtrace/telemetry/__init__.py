"""Semantic telemetry: logs written as sentences, on structlog, stored with trace context.

``get_logger`` (logger.py), the structlog processors (processors.py), sentence rendering
(sentences.py) and the stdlib ``logging`` bridge (stdlib.py); redaction lives below every
layer, in ``semtrace.redaction``, and its two main functions are re-exported here.
"""

from __future__ import annotations

from typing import Any

from semtrace.redaction import redact_text, redact_value

__all__ = ["SemanticLogger", "get_logger", "redact_text", "redact_value"]


def __getattr__(name: str) -> Any:
    if name in {"SemanticLogger", "get_logger"}:
        from semtrace.telemetry import logger

        return getattr(logger, name)
    raise AttributeError(f"module 'semtrace.telemetry' has no attribute {name!r}")
