"""``semtrace.wrap_anthropic(client)``: GenAI spans around an Anthropic SDK client.

Wraps ``client.messages.create`` (plain and ``stream=True``) and ``client.messages.stream``
of that one client, sync or async, in place, and returns it. Recent Anthropic SDKs emit a
call span of their own; on a wrapped client it is turned off, so one call is one LLM span
and tokens are not counted twice.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from semtrace import semconv as sc
from semtrace._errors import handle_internal_errors
from semtrace.integrations._genai import (
    LLMCall,
    Response,
    capture_content_enabled,
    get,
    server_attributes,
    start_safely,
    wrap_copies,
    wrap_create,
)

__all__ = ["wrap_anthropic"]

C = TypeVar("C")
_MARK = "_semtrace_wrapped"
PROVIDER = "anthropic"
_log = logging.getLogger("semtrace.integrations")

_REQUEST_PARAMS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
}
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_call",
    "refusal": "content_filter",
}


def _request_attributes(
    kwargs: dict[str, Any], base: dict[str, Any], stream: bool
) -> dict[str, Any]:
    attrs = dict(base)
    for arg, key in _REQUEST_PARAMS.items():
        value = kwargs.get(arg)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attrs[key] = value
    stops = kwargs.get("stop_sequences")
    if isinstance(stops, list | tuple):
        attrs["gen_ai.request.stop_sequences"] = [str(s) for s in stops]
    if stream:
        attrs["gen_ai.request.stream"] = True
    return attrs


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for block in content or []:
        kind = get(block, "type")
        if kind == "text":
            parts.append({"type": "text", "content": get(block, "text")})
        elif kind == "tool_use":
            parts.append(
                {
                    "type": "tool_call",
                    "id": get(block, "id"),
                    "name": get(block, "name"),
                    "arguments": get(block, "input"),
                }
            )
        elif kind == "tool_result":
            parts.append(
                {
                    "type": "tool_call_response",
                    "id": get(block, "tool_use_id"),
                    "response": get(block, "content"),
                }
            )
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": get(block, "thinking")})
        else:
            parts.append({"type": str(kind)})
    return parts


def _usage(r: Response, usage: Any) -> None:
    if usage is None:
        return
    base = get(usage, "input_tokens")
    read = get(usage, "cache_read_input_tokens")
    created = get(usage, "cache_creation_input_tokens")
    if isinstance(base, int):
        # Anthropic counts cache reads and writes apart; GenAI input tokens include them.
        r.input_tokens = base + (read or 0) + (created or 0)
    if isinstance(read, int):
        r.cache_read_tokens = read
    if isinstance(created, int):
        r.cache_creation_tokens = created
    out = get(usage, "output_tokens")
    if isinstance(out, int):
        r.output_tokens = out


def _message_response(message: Any) -> Response:
    r = Response(model=get(message, "model"), response_id=get(message, "id"))
    reason = get(message, "stop_reason")
    if isinstance(reason, str):
        r.finish_reasons = [reason]
    r.output_messages = [
        {
            "role": get(message, "role") or "assistant",
            "parts": _parts(get(message, "content")),
            "finish_reason": _FINISH.get(str(reason), reason),
        }
    ]
    _usage(r, get(message, "usage"))
    return r


class _Events:
    """Accumulates raw Messages-API stream events into one response."""

    def __init__(self) -> None:
        self.response = Response()
        self.text: list[str] = []
        self.reason: str | None = None
        self.usage: dict[str, Any] = {}

    def add(self, event: Any) -> None:
        kind = get(event, "type")
        if kind == "message_start":
            message = get(event, "message")
            self.response.model = get(message, "model")
            self.response.response_id = get(message, "id")
            self._merge(get(message, "usage"))
        elif kind == "content_block_delta":
            text = get(get(event, "delta"), "text")
            if isinstance(text, str):
                self.text.append(text)
        elif kind == "message_delta":
            reason = get(get(event, "delta"), "stop_reason")
            if isinstance(reason, str):
                self.reason = reason
            self._merge(get(event, "usage"))

    def _merge(self, usage: Any) -> None:
        for key in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ):
            value = get(usage, key)
            if isinstance(value, int):
                self.usage[key] = value

    def result(self) -> Response:
        r = self.response
        _usage(r, self.usage)
        if self.reason:
            r.finish_reasons = [self.reason]
        r.output_messages = [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "".join(self.text)}],
                "finish_reason": _FINISH.get(str(self.reason), self.reason),
            }
        ]
        return r


def _start(kwargs: dict[str, Any], base: dict[str, Any], capture: bool, stream: bool) -> LLMCall:
    model = kwargs.get("model")
    inputs: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    messages = kwargs.get("messages")
    if capture and isinstance(messages, list | tuple):  # never consume a one-shot iterable
        inputs = [{"role": get(m, "role"), "parts": _parts(get(m, "content"))} for m in messages]
    if capture:
        raw_system = kwargs.get("system")
        if isinstance(raw_system, str | list):
            system = _parts(raw_system)
    return LLMCall(
        provider=PROVIDER,
        operation=sc.OP_CHAT,
        model=str(model) if model else None,
        attributes=_request_attributes(kwargs, base, stream),
        capture_content=capture,
        input_messages=inputs,
        system_instructions=system,
    )


class _StreamManager:
    """Wraps ``messages.stream(...)``: the span covers the ``with`` block and takes the final
    message the SDK accumulated, however much of the stream the block read."""

    def __init__(self, inner: Any, call: LLMCall) -> None:
        self._inner = inner
        self._call = call
        self._stream: Any = None

    def _start(self, stream: Any) -> Any:
        self._stream = stream
        return stream

    def _finish(self, exc: BaseException | None) -> None:
        if exc is not None:
            self._call.fail(exc)
            return
        snapshot = None
        with handle_internal_errors("anthropic stream snapshot"):
            getter = getattr(self._stream, "_current_snapshot_or_none", None)
            snapshot = getter() if callable(getter) else None
        self._call.finish(
            lambda: _message_response(snapshot) if snapshot is not None else Response()
        )

    def __enter__(self) -> Any:
        try:
            with self._call.active():
                return self._start(self._inner.__enter__())
        except BaseException as exc:
            self._call.fail(exc)
            raise

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            self._inner.__exit__(exc_type, exc, tb)
        finally:
            self._finish(exc)

    async def __aenter__(self) -> Any:
        try:
            with self._call.active():
                return self._start(await self._inner.__aenter__())
        except BaseException as exc:
            self._call.fail(exc)
            raise

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            await self._inner.__aexit__(exc_type, exc, tb)
        finally:
            self._finish(exc)


def _wrap_stream(
    original: Callable[..., Any], base: dict[str, Any], capture: bool
) -> Callable[..., Any]:
    @functools.wraps(original)
    def stream(*args: Any, **kwargs: Any) -> Any:
        call = start_safely(lambda: _start(kwargs, base, capture, True))
        if call is None:
            return original(*args, **kwargs)
        try:
            manager = original(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        return _StreamManager(manager, call)

    return stream


def _is_async(client: Any) -> bool:
    try:
        import anthropic
    except ImportError:  # pragma: no cover
        return False
    return isinstance(client, anthropic.AsyncAnthropic)


def _disable_native_spans(client: Any) -> None:
    """Turn off the SDK's own call span on this client (ours replaces it)."""
    options = getattr(client, "open_telemetry", None)
    setter = getattr(client, "_set_open_telemetry", None)
    if not isinstance(options, dict) or not callable(setter):
        return
    traces = options.get("traces")
    if isinstance(traces, dict) and traces.get("enabled"):
        with handle_internal_errors("anthropic native spans"):
            setter({**options, "traces": {**traces, "enabled": False}})


def wrap_anthropic(client: C, *, capture_content: bool | None = None) -> C:
    """Record every Messages API call of ``client`` as a GenAI span (``chat {model}``, CLIENT).

    Model, tokens (cache reads and writes included in input tokens), ``cost_usd``, stop reason,
    and errors as sentences. Message content only when ``capture_content=True`` or
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``. Wrapping twice is a no-op.
    """
    if getattr(client, _MARK, False):
        return client
    capture = capture_content_enabled(capture_content)
    base = server_attributes(getattr(client, "base_url", None))
    is_async = _is_async(client)
    _disable_native_spans(client)
    messages = client.messages  # type: ignore[attr-defined]
    messages.create = wrap_create(
        messages.create,
        lambda kwargs: _start(kwargs, base, capture, kwargs.get("stream") is True),
        _message_response,
        _Events,
        is_async=is_async,
    )
    if hasattr(messages, "stream"):
        messages.stream = _wrap_stream(messages.stream, base, capture)
    wrap_copies(client, lambda copy: wrap_anthropic(copy, capture_content=capture_content))
    setattr(client, _MARK, True)
    return client
