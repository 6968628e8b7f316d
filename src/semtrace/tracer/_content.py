"""Inputs and outputs on the decorators' spans: arguments and return values, and for LLM
calls the request messages and the response, redacted and truncated.

Recorded once each, under the GenAI conventions' names where they have one (a tool's
``gen_ai.tool.call.arguments``/``result``, an LLM call's ``gen_ai.input.messages``/
``output.messages``) and OpenInference's ``input.value``/``output.value`` otherwise; the
store's ``input``/``output`` columns read them all.
``configure(capture_content=False)``, ``SEMTRACE_CAPTURE_CONTENT=false`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false`` turn all of it off.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import orjson
from opentelemetry.trace import Span

from semtrace import semconv as sc
from semtrace.redaction import redact_text, redact_value
from semtrace.tracer.setup import STATE

__all__ = [
    "DEFAULT_MAX_CONTENT_CHARS",
    "content_limit",
    "input_attribute",
    "parameter_names",
    "record_output",
    "summarise_items",
]

DEFAULT_MAX_CONTENT_CHARS = 4_096
_SKIP = frozenset({"self", "cls"})


def content_limit() -> int:
    """The size content is cut at, 0 when capture is off."""
    settings = STATE.settings
    if settings is None:
        return DEFAULT_MAX_CONTENT_CHARS
    return settings.max_content_chars if settings.capture_content else 0


def _jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: pydantic models and dataclasses by their fields,
    anything else unknown by ``repr``."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json")
        except Exception:
            return repr(value)
    return repr(value)


_SMALL_INT = 10**12  # shorter than a card number: nothing in it to redact


def _text(value: Any, limit: int) -> tuple[str, bool]:
    """(text, is_json) for a value: strings as they are, the rest as JSON, a value under a
    sensitive key (an argument named ``token`` or ``password``) replaced whole whatever it
    looks like. The secret patterns run where every attribute is redacted anyway, the
    store's write path (in this process, before a batch leaves it), except on a text too long
    to keep whole: that is redacted here before it is cut, so no secret is cut in half."""
    vtype = type(value)
    if vtype is str:
        text, is_json = value, False
    elif (
        value is None
        or vtype is bool
        or vtype is float
        or (vtype is int and -_SMALL_INT < value < _SMALL_INT)
    ):
        return orjson.dumps(value).decode(), True  # short, and nothing in it to redact
    else:
        try:
            text = orjson.dumps(
                redact_value(value, strings=False),
                default=_jsonable,
                option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY,
            ).decode()
        except (TypeError, ValueError):
            text = repr(value)
        is_json = True
    if len(text) > limit:
        text = redact_text(text)
        if len(text) > limit:
            text = f"{text[:limit]}…[truncated {len(text) - limit} chars]"
    return text, is_json


def parameter_names(signature: inspect.Signature | None) -> tuple[str, ...] | None:
    """The names positional arguments bind to (``self``/``cls`` included), or None when the
    signature takes ``*args`` or is unknown: worked out once per decorated function."""
    if signature is None:
        return None
    names = []
    for p in signature.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            return None
    return tuple(names)


def _arguments(
    names: tuple[str, ...] | None, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    if names is not None and len(args) <= len(names):
        bound = dict(zip(names, args))  # noqa: B905 (fewer args than names binds a prefix)
    else:
        bound = {f"arg{i}": v for i, v in enumerate(args)}
    if kwargs:
        bound.update(kwargs)
    if "self" in bound or "cls" in bound:
        for skip in _SKIP:
            bound.pop(skip, None)
    return bound


def _messages(arguments: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """Chat messages in the GenAI shape (role and text parts) from a ``messages`` or
    ``prompt`` argument, as OpenAI- and Anthropic-style calls take them."""
    raw = arguments.get("messages")
    if raw is None and isinstance(arguments.get("prompt"), str):
        raw = [{"role": "user", "content": arguments["prompt"]}]
    if not isinstance(raw, list | tuple):
        return None
    out = []
    for m in raw:
        role = m.get("role") if isinstance(m, Mapping) else getattr(m, "role", None)
        content = m.get("content") if isinstance(m, Mapping) else getattr(m, "content", m)
        parts = (
            [{"type": "text", "content": content}]
            if isinstance(content, str)
            else [{"type": "generic", "content": content}]
        )
        out.append({"role": str(role or "user"), "parts": parts})
    return out


def _response_text(result: Any) -> str | None:
    """The text of an OpenAI- or Anthropic-shaped response (object or dict), if any."""

    def get(obj: Any, key: str) -> Any:
        return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)

    choices = get(result, "choices")
    if isinstance(choices, list | tuple) and choices:
        message = get(choices[0], "message")
        text = get(message, "content") if message is not None else get(choices[0], "text")
        if isinstance(text, str):
            return text
    content = get(result, "content")
    if isinstance(content, list | tuple):
        texts = [get(c, "text") for c in content]
        joined = "".join(t for t in texts if isinstance(t, str))
        return joined or None
    if isinstance(content, str):
        return content
    return result if isinstance(result, str) else None


def input_attribute(
    role: str,
    names: tuple[str, ...] | None,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> tuple[str, str] | None:
    """The span's input as (attribute, text): the call's arguments (``self`` left out); a
    tool's under the GenAI name, an LLM call's messages as GenAI input messages, the rest as
    ``input.value``. None when capture is off or there is nothing to record. Worked out
    before the span starts, so it goes in with the start attributes."""
    limit = content_limit()
    if limit <= 0:
        return None
    arguments = _arguments(names, args, kwargs)
    if not arguments:
        return None
    if role == "tool":
        return sc.GEN_AI_TOOL_CALL_ARGUMENTS, _text(arguments, limit)[0]
    if role == "llm":
        messages = _messages(arguments)
        if messages is not None:
            return sc.GEN_AI_INPUT_MESSAGES, _text(messages, limit)[0]
    return sc.OI_INPUT_VALUE, _text(arguments, limit)[0]


def record_output(span: Span, role: str, result: Any) -> None:
    """Set the span's output: the return value (an LLM call's response as a GenAI output
    message when it has text)."""
    limit = content_limit()
    if limit <= 0 or result is None or not span.is_recording():
        return
    if role == "tool":
        span.set_attribute(sc.GEN_AI_TOOL_CALL_RESULT, _text(result, limit)[0])
        return
    if role == "llm":
        reply = _response_text(result)
        if reply is not None:
            message = [{"role": "assistant", "parts": [{"type": "text", "content": reply}]}]
            span.set_attribute(sc.GEN_AI_OUTPUT_MESSAGES, _text(message, limit)[0])
            return
    span.set_attribute(sc.OI_OUTPUT_VALUE, _text(result, limit)[0])


def summarise_items(span: Span, role: str, items: int, first: list[Any]) -> None:
    """The output of a generator: how many items it yielded and the first few."""
    if content_limit() <= 0:
        return
    record_output(span, role, {"items": items, "first": first})
