"""What a span took in and gave back, from whichever convention recorded it.

semtrace's decorators, the GenAI conventions, OpenInference and OpenLLMetry each name a
span's input and output differently; the store may also carry normalised ``input`` and
``output`` columns. The first one present wins, in the order below.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from semtrace import semconv as sc

__all__ = ["INPUT_KEYS", "OUTPUT_KEYS", "as_text", "span_input", "span_output"]

INPUT_KEYS = (
    sc.SEMTRACE_INPUT,
    sc.GEN_AI_INPUT_MESSAGES,
    sc.GEN_AI_TOOL_CALL_ARGUMENTS,
    sc.OI_INPUT_VALUE,
    sc.TRACELOOP_ENTITY_INPUT,
)
OUTPUT_KEYS = (
    sc.SEMTRACE_OUTPUT,
    sc.GEN_AI_OUTPUT_MESSAGES,
    sc.GEN_AI_TOOL_CALL_RESULT,
    sc.OI_OUTPUT_VALUE,
    sc.TRACELOOP_ENTITY_OUTPUT,
)


def _first(span: Mapping[str, Any], column: str, keys: tuple[str, ...]) -> Any:
    value = span.get(column)
    if value is None:
        attributes = span.get("attributes") or {}
        if isinstance(attributes, str):
            attributes = _parse(attributes)
        if isinstance(attributes, Mapping):
            value = next((attributes[k] for k in keys if attributes.get(k) is not None), None)
    return _parse(value)


def _parse(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def span_input(span: Mapping[str, Any]) -> Any:
    """The span's input (arguments, prompt messages, the message consumed), parsed when it
    is JSON; None when nothing recorded it."""
    return _first(span, "input", INPUT_KEYS)


def span_output(span: Mapping[str, Any]) -> Any:
    """The span's output (return value, response messages), parsed when it is JSON."""
    return _first(span, "output", OUTPUT_KEYS)


def as_text(value: Any, *, limit: int = 400) -> str:
    """A short one-paragraph rendering of an input or output, for tables and chat bubbles:
    the text of chat messages when it is a list of them, else compact JSON."""
    if value is None:
        return ""
    if isinstance(value, list) and value and all(isinstance(m, Mapping) for m in value):
        texts = [_message_text(m) for m in value]
        text = "\n".join(t for t in texts if t)
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message_text(message: Mapping[str, Any]) -> str:
    parts = message.get("parts")
    if isinstance(parts, list):
        return " ".join(
            str(p.get("content") or p.get("response") or p.get("name") or "")
            for p in parts
            if isinstance(p, Mapping)
        ).strip()
    content = message.get("content")
    return content if isinstance(content, str) else json.dumps(content, default=str)
