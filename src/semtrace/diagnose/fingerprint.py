"""Fingerprints: failures that are the same problem share one id, and so one diagnosis.

Same agent, same target (tool, step or operation), same error type and the same message once
its values (numbers, ids, quoted strings, addresses, times) are masked: one fingerprint. The
runtime ``heal`` policy computes the same id from an exception, so both sides agree.
"""

from __future__ import annotations

import hashlib

from semtrace.telemetry.templates import mask_values

__all__ = ["fingerprint", "mask_values", "target_of"]


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
