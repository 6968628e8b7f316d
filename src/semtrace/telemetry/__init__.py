"""Semantic telemetry: logs written as sentences, on structlog, stored with trace context.

``get_logger`` (logger.py), the structlog processors (processors.py), sentence rendering
(sentences.py), the stdlib ``logging`` bridge (stdlib.py) and redaction (redaction.py).
Names load lazily so the store can import ``redaction`` without pulling in the tracer.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SemanticLogger", "get_logger", "redact_text", "redact_value"]


def __getattr__(name: str) -> Any:
    if name in {"SemanticLogger", "get_logger"}:
        from semtrace.telemetry import logger

        return getattr(logger, name)
    if name in {"redact_text", "redact_value"}:
        from semtrace.telemetry import redaction

        return getattr(redaction, name)
    raise AttributeError(f"module 'semtrace.telemetry' has no attribute {name!r}")
