"""Fingerprints: failures that are the same problem share one id, and so one diagnosis.

Same agent, same target (tool, step or operation), same error type and the same message once
its values (numbers, ids, quoted strings, addresses, times) are masked: one fingerprint. The
runtime ``heal`` policy computes the same id from an exception, so both sides agree.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["fingerprint", "mask_values", "target_of"]

_MASKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I), "<url>"),
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<uuid>",
    ),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
        ),
        "<time>",
    ),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    (re.compile(r"\b[A-Za-z]*\d[\w-]*"), "<n>"),
]
_SPACE = re.compile(r"\s+")
MAX_TEMPLATE = 300


def mask_values(text: str | None) -> str:
    """``text`` with the values that vary between occurrences replaced by placeholders."""
    if not text:
        return ""
    out = text
    for pattern, repl in _MASKS:
        out = pattern.sub(repl, out)
    return _SPACE.sub(" ", out).strip()[:MAX_TEMPLATE]


def target_of(span_name: str | None, tool_name: str | None = None) -> str:
    """What a span ran: the tool name, else its name without the operation word."""
    if tool_name:
        return tool_name
    if not span_name:
        return ""
    parts = span_name.split(" ", 1)
    return parts[1] if len(parts) == 2 else parts[0]


def fingerprint(
    kind: str,
    agent: str | None,
    target: str | None,
    error_type: str | None,
    message: str | None,
) -> str:
    """A 16-hex-digit id shared by every occurrence of the same problem."""
    key = "\x1f".join([kind, agent or "", target or "", error_type or "", mask_values(message)])
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:16]
