"""Read tokens, model and finish reasons from whatever an LLM call returned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Span

from semtrace import semconv as sc

__all__ = ["record_llm_chunk", "record_llm_result"]


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _first_int(obj: Any, *keys: str) -> int | None:
    for key in keys:
        value = _get(obj, key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def record_llm_result(span: Span, result: Any) -> None:
    """Set GenAI usage attributes from an OpenAI- or Anthropic-shaped response (object or dict)."""
    usage = _get(result, "usage")
    if usage is not None:
        inp = _first_int(usage, "input_tokens", "prompt_tokens")
        out = _first_int(usage, "output_tokens", "completion_tokens")
        if inp is not None:
            span.set_attribute(sc.GEN_AI_USAGE_INPUT_TOKENS, inp)
        if out is not None:
            span.set_attribute(sc.GEN_AI_USAGE_OUTPUT_TOKENS, out)
    model = _get(result, "model")
    if isinstance(model, str) and model:
        span.set_attribute(sc.GEN_AI_RESPONSE_MODEL, model)
    reasons: list[str] = []
    choices = _get(result, "choices")
    if isinstance(choices, list | tuple):
        for choice in choices:
            reason = _get(choice, "finish_reason")
            if isinstance(reason, str):
                reasons.append(reason)
    stop_reason = _get(result, "stop_reason")
    if isinstance(stop_reason, str):
        reasons.append(stop_reason)
    if reasons:
        span.set_attribute(sc.GEN_AI_RESPONSE_FINISH_REASONS, reasons)
    response_id = _get(result, "id")
    if isinstance(response_id, str):
        span.set_attribute("gen_ai.response.id", response_id)


def record_llm_chunk(span: Span, chunk: Any) -> None:
    """For streamed calls: a chunk that carries usage (OpenAI's last chunk with
    ``stream_options={"include_usage": True}``, Anthropic's ``message_delta``) sets it."""
    if _get(chunk, "usage") is not None:
        record_llm_result(span, chunk)
        return
    message = _get(chunk, "message")  # Anthropic's message_start: input tokens, model, id
    if message is not None and _get(message, "usage") is not None:
        record_llm_result(span, message)
