"""Redaction for what diagnose sends out: the redaction rules (``semtrace.redaction``), then
coarser local patterns for the obvious secrets on top, so nothing is sent raw.
"""

from __future__ import annotations

import re
from typing import Any

from semtrace import redaction

__all__ = ["redact_text", "redact_value"]

_FALLBACK: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer [REDACTED]"),
    (re.compile(r"\b(?:sk|pk|rk|ak)-[A-Za-z0-9_-]{8,}"), "[REDACTED]"),
    (re.compile(r"\b(?:ghp|gho|xox[abp])[_-][A-Za-z0-9_-]{8,}"), "[REDACTED]"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "[REDACTED]"),
    (
        re.compile(
            r"(?i)\b(api[_-]?key|secret|token|password|passwd|authorization)\b(\s*[:=]\s*)"
            r"(['\"]?)[^\s'\",;]{4,}"
        ),
        r"\1\2\3[REDACTED]",
    ),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "[EMAIL]"),
    (re.compile(r"\b(?:\d[ -]?){13,19}\b"), "[CARD]"),
]
_SECRET_KEYS = re.compile(r"(?i)(api[_-]?key|secret|token|password|passwd|authorization|cookie)")


def _fallback_text(text: str) -> str:
    for pattern, repl in _FALLBACK:
        text = pattern.sub(repl, text)
    return text


def _fallback_value(value: Any) -> Any:
    if isinstance(value, str):
        return _fallback_text(value)
    if isinstance(value, dict):
        return {
            k: "[REDACTED]"
            if isinstance(k, str) and _SECRET_KEYS.search(k) and v
            else _fallback_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_fallback_value(v) for v in value]
    return value


def redact_text(text: str) -> str:
    """``text`` with secrets and personal data masked (the redaction rules, then the local ones)."""
    return _fallback_text(str(redaction.redact_text(text)))


def redact_value(value: Any) -> Any:
    """A JSON-like value with every string redacted and secret-named keys masked."""
    return _fallback_value(redaction.redact_value(value))
