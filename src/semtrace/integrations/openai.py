"""``semtrace.wrap_openai(client)``: GenAI spans around an OpenAI SDK client, no instrumentor needed.

Wraps ``client.chat.completions.create`` and ``client.responses.create`` (plain and
``stream=True``) and ``client.embeddings.create`` of that one client, sync or async, in place,
and returns it.
Streams record tokens when the server sends usage (``stream_options={"include_usage": True}``).
Works with any OpenAI-compatible server (vLLM, Ollama, llama.cpp) the client points at.
"""

from __future__ import annotations

from typing import Any, TypeVar

from semtrace import semconv as sc
from semtrace.integrations._genai import (
    LLMCall,
    Response,
    capture_content_enabled,
    get,
    server_attributes,
    wrap_copies,
    wrap_create,
)

__all__ = ["wrap_openai"]

C = TypeVar("C")
_MARK = "_semtrace_wrapped"
PROVIDER = "openai"

_REQUEST_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
}
_FINISH = {"tool_calls": "tool_call", "function_call": "tool_call"}


def _given(value: Any) -> bool:
    # The SDK's NOT_GIVEN / Omit sentinels are falsy objects, not None.
    return value is not None and type(value).__name__ not in {"NotGiven", "Omit"}


def _request_attributes(kwargs: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    attrs = dict(base)
    for arg, key in _REQUEST_PARAMS.items():
        value = kwargs.get(arg)
        if _given(value) and isinstance(value, int | float):
            attrs[key] = value
    max_tokens = kwargs.get("max_completion_tokens", kwargs.get("max_tokens"))
    if _given(max_tokens) and isinstance(max_tokens, int):
        attrs["gen_ai.request.max_tokens"] = max_tokens
    stop = kwargs.get("stop")
    if isinstance(stop, str):
        attrs["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, list | tuple):
        attrs["gen_ai.request.stop_sequences"] = [str(s) for s in stop]
    if kwargs.get("stream") is True:
        attrs["gen_ai.request.stream"] = True
    return attrs


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, list):
        for part in content:
            kind = get(part, "type")
            if kind == "text":
                parts.append({"type": "text", "content": get(part, "text")})
            elif kind == "image_url":
                url = get(get(part, "image_url"), "url")
                parts.append({"type": "uri", "modality": "image", "uri": str(url)[:200]})
            else:
                parts.append({"type": str(kind)})
    return parts


def _tool_call_parts(tool_calls: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for call in tool_calls or []:
        fn = get(call, "function")
        parts.append(
            {
                "type": "tool_call",
                "id": get(call, "id"),
                "name": get(fn, "name"),
                "arguments": get(fn, "arguments"),
            }
        )
    return parts


def _input_messages(
    messages: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """GenAI ``(input messages, system instructions)`` from OpenAI chat messages."""
    out: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    if not isinstance(messages, list | tuple):  # never consume the caller's one-shot iterable
        return out, system
    for msg in messages:
        role = get(msg, "role")
        content = get(msg, "content")
        if role in {"system", "developer"}:
            system.extend(_text_parts(content))
        elif role == "tool":
            out.append(
                {
                    "role": "tool",
                    "parts": [
                        {
                            "type": "tool_call_response",
                            "id": get(msg, "tool_call_id"),
                            "response": content,
                        }
                    ],
                }
            )
        else:
            parts = _text_parts(content) + _tool_call_parts(get(msg, "tool_calls"))
            out.append({"role": role, "parts": parts})
    return out, system


def _usage(r: Response, usage: Any, inp: str = "prompt", out: str = "completion") -> None:
    """Token counts; chat completions name them ``prompt``/``completion``, the Responses API
    ``input``/``output`` (``{inp}_tokens``, ``{inp}_tokens_details`` and so on)."""
    if usage is None:
        return
    r.input_tokens = get(usage, f"{inp}_tokens")
    r.output_tokens = get(usage, f"{out}_tokens")
    r.cache_read_tokens = get(get(usage, f"{inp}_tokens_details"), "cached_tokens")
    r.reasoning_tokens = get(get(usage, f"{out}_tokens_details"), "reasoning_tokens")


def _chat_response(result: Any) -> Response:
    r = Response(model=get(result, "model"), response_id=get(result, "id"))
    messages: list[dict[str, Any]] = []
    for choice in get(result, "choices") or []:
        reason = get(choice, "finish_reason")
        if isinstance(reason, str):
            r.finish_reasons.append(reason)
        msg = get(choice, "message")
        messages.append(
            {
                "role": get(msg, "role") or "assistant",
                "parts": _text_parts(get(msg, "content"))
                + _tool_call_parts(get(msg, "tool_calls")),
                "finish_reason": _FINISH.get(str(reason), reason),
            }
        )
    r.output_messages = messages
    _usage(r, get(result, "usage"))
    return r


class _ChatChunks:
    """Accumulates ``ChatCompletionChunk`` objects into one response."""

    def __init__(self) -> None:
        self.response = Response()
        self.text: dict[int, list[str]] = {}
        self.reasons: dict[int, str] = {}

    def add(self, chunk: Any) -> None:
        r = self.response
        r.model = r.model or get(chunk, "model")
        r.response_id = r.response_id or get(chunk, "id")
        for choice in get(chunk, "choices") or []:
            index = get(choice, "index", 0) or 0
            content = get(get(choice, "delta"), "content")
            if isinstance(content, str):
                self.text.setdefault(index, []).append(content)
            reason = get(choice, "finish_reason")
            if isinstance(reason, str):
                self.reasons[index] = reason
        _usage(r, get(chunk, "usage"))

    def result(self) -> Response:
        r = self.response
        r.finish_reasons = [self.reasons[i] for i in sorted(self.reasons)]
        indexes = sorted(set(self.text) | set(self.reasons))
        r.output_messages = [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "".join(self.text.get(i, []))}],
                "finish_reason": _FINISH.get(self.reasons.get(i, ""), self.reasons.get(i)),
            }
            for i in indexes
        ]
        return r


def _embeddings_response(result: Any) -> Response:
    r = Response(model=get(result, "model"))
    r.input_tokens = get(get(result, "usage"), "prompt_tokens")
    return r


def _responses_response(result: Any) -> Response:
    """A Responses API ``Response``: its status stands in for the finish reason."""
    r = Response(model=get(result, "model"), response_id=get(result, "id"))
    status = get(result, "status")
    incomplete = get(get(result, "incomplete_details"), "reason")
    reason = incomplete if isinstance(incomplete, str) else status
    if isinstance(reason, str):
        r.finish_reasons = [reason]
    parts: list[dict[str, Any]] = []
    for item in get(result, "output") or []:
        kind = get(item, "type")
        if kind == "message":
            for block in get(item, "content") or []:
                if get(block, "type") == "output_text":
                    parts.append({"type": "text", "content": get(block, "text")})
        elif kind == "function_call":
            parts.append(
                {
                    "type": "tool_call",
                    "id": get(item, "call_id"),
                    "name": get(item, "name"),
                    "arguments": get(item, "arguments"),
                }
            )
    finish = "tool_call" if any(p["type"] == "tool_call" for p in parts) else "stop"
    if incomplete == "max_output_tokens":
        finish = "length"
    r.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": finish}]
    _usage(r, get(result, "usage"), "input", "output")
    return r


class _ResponseEvents:
    """Accumulates Responses API stream events; the final event carries the whole response."""

    def __init__(self) -> None:
        self.final: Any = None
        self.started: Any = None

    def add(self, event: Any) -> None:
        kind = get(event, "type")
        if kind == "response.created":
            self.started = get(event, "response")
        elif kind in {"response.completed", "response.incomplete", "response.failed"}:
            self.final = get(event, "response")

    def result(self) -> Response:
        source = self.final if self.final is not None else self.started
        return _responses_response(source) if source is not None else Response()


def _start_responses(kwargs: dict[str, Any], base: dict[str, Any], capture: bool) -> LLMCall:
    model = kwargs.get("model")
    inputs: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    if capture:
        raw = kwargs.get("input")
        if isinstance(raw, str):
            inputs = [{"role": "user", "parts": _text_parts(raw)}]
        else:
            inputs, system = _input_messages(raw)
        instructions = kwargs.get("instructions")
        if isinstance(instructions, str):
            system = _text_parts(instructions) + system
    attrs = _request_attributes(kwargs, base)
    max_out = kwargs.get("max_output_tokens")
    if isinstance(max_out, int):
        attrs["gen_ai.request.max_tokens"] = max_out
    return LLMCall(
        provider=PROVIDER,
        operation=sc.OP_CHAT,
        model=str(model) if model else None,
        attributes=attrs,
        capture_content=capture,
        input_messages=inputs,
        system_instructions=system,
    )


def _start_chat(kwargs: dict[str, Any], base: dict[str, Any], capture: bool) -> LLMCall:
    model = kwargs.get("model")
    inputs, system = _input_messages(kwargs.get("messages")) if capture else ([], [])
    return LLMCall(
        provider=PROVIDER,
        operation=sc.OP_CHAT,
        model=str(model) if model else None,
        attributes=_request_attributes(kwargs, base),
        capture_content=capture,
        input_messages=inputs,
        system_instructions=system,
    )


def _start_embeddings(kwargs: dict[str, Any], base: dict[str, Any], capture: bool) -> LLMCall:
    model = kwargs.get("model")
    return LLMCall(
        provider=PROVIDER,
        operation=sc.OP_EMBEDDINGS,
        model=str(model) if model else None,
        attributes=base,
        capture_content=False,
    )


def _is_async(client: Any) -> bool:
    try:
        import openai
    except ImportError:  # pragma: no cover - a client exists, so the SDK does
        return False
    return isinstance(client, openai.AsyncOpenAI)


def wrap_openai(client: C, *, capture_content: bool | None = None) -> C:
    """Record every chat completion, Responses API and embedding call of ``client`` as a span.

    The span (``chat {model}``, CLIENT) has the model, tokens, ``cost_usd``, finish reasons,
    and errors as sentences. Message content is recorded only when ``capture_content=True`` or
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``. Wrapping twice is a no-op.
    """
    if getattr(client, _MARK, False):
        return client
    capture = capture_content_enabled(capture_content)
    base = server_attributes(getattr(client, "base_url", None))
    is_async = _is_async(client)
    completions = client.chat.completions  # type: ignore[attr-defined]
    completions.create = wrap_create(
        completions.create,
        lambda kwargs: _start_chat(kwargs, base, capture),
        _chat_response,
        _ChatChunks,
        is_async=is_async,
    )
    embeddings = getattr(client, "embeddings", None)
    if embeddings is not None:
        embeddings.create = wrap_create(
            embeddings.create,
            lambda kwargs: _start_embeddings(kwargs, base, capture),
            _embeddings_response,
            _ChatChunks,
            is_async=is_async,
        )
    responses = getattr(client, "responses", None)
    if responses is not None and hasattr(responses, "create"):
        responses.create = wrap_create(
            responses.create,
            lambda kwargs: _start_responses(kwargs, base, capture),
            _responses_response,
            _ResponseEvents,
            is_async=is_async,
        )
    wrap_copies(client, lambda copy: wrap_openai(copy, capture_content=capture_content))
    setattr(client, _MARK, True)
    return client
