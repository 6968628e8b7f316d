"""The span of one LLM SDK call in the OTel GenAI shape, shared by the OpenAI and Anthropic wrappers.

A call starts its CLIENT span with the request (operation, provider, model, parameters, server),
and ends it with a response, with a stream once the stream is read to the end or closed, or
with an error. Message content is recorded only when the user opted in (argument, else
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``), as the GenAI conventions require.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from semtrace import pricing
from semtrace import semconv as sc
from semtrace._errors import handle_internal_errors
from semtrace.tracer import _failures
from semtrace.tracer._context import current_agent
from semtrace.tracer._lifecycle import start_span

__all__ = [
    "ENV_CAPTURE_CONTENT",
    "AsyncStreamProxy",
    "LLMCall",
    "Response",
    "StreamProxy",
    "capture_content_enabled",
    "get",
    "server_attributes",
    "start_safely",
    "wrap_copies",
    "wrap_create",
]

ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
TRACER_NAME = "semtrace.integrations"
_TRACER = trace.get_tracer(TRACER_NAME)  # a proxy until a provider is installed

_USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
_USAGE_CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
_USAGE_REASONING = "gen_ai.usage.reasoning.output_tokens"
_RESPONSE_ID = "gen_ai.response.id"
_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
_SERVER_ADDRESS = "server.address"
_SERVER_PORT = "server.port"


def capture_content_enabled(explicit: bool | None) -> bool:
    """The argument when given, else the GenAI opt-in environment variable (off by default)."""
    if explicit is not None:
        return explicit
    return os.environ.get(ENV_CAPTURE_CONTENT, "").strip().lower() in {"1", "true", "yes", "on"}


def get(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` for SDK models; ``default`` when absent."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def server_attributes(base_url: Any) -> dict[str, Any]:
    """``server.address`` / ``server.port`` from an SDK client's ``base_url``."""
    attrs: dict[str, Any] = {}
    host = get(base_url, "host")
    port = get(base_url, "port")
    if isinstance(host, str) and host:
        attrs[_SERVER_ADDRESS] = host
    if isinstance(port, int):
        attrs[_SERVER_PORT] = port
    return attrs


def start_safely(start: Callable[[], LLMCall]) -> LLMCall | None:
    """The call's span, or ``None`` when telemetry could not start one (the SDK call runs
    untraced rather than failing)."""
    with handle_internal_errors("start LLM span"):
        return start()
    return None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


@dataclass
class Response:
    """What a call returned, in provider-neutral terms."""

    model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    input_tokens: int | None = None  # includes cached tokens, per the GenAI conventions
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    output_messages: list[dict[str, Any]] | None = None


class LLMCall:
    """The span of one SDK call; every method is safe to call from the user's thread."""

    def __init__(
        self,
        *,
        provider: str,
        operation: str,
        model: str | None,
        attributes: Mapping[str, Any],
        capture_content: bool,
        input_messages: list[dict[str, Any]] | None = None,
        system_instructions: list[dict[str, Any]] | None = None,
    ) -> None:
        self.capture_content = capture_content
        self.started = time.perf_counter()
        self.first_chunk_at: float | None = None
        self.ended = False
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: operation,
            sc.GEN_AI_PROVIDER_NAME: provider,
        }
        if model:
            attrs[sc.GEN_AI_REQUEST_MODEL] = model
        attrs.update({k: v for k, v in attributes.items() if v is not None})
        if capture_content:
            if input_messages:
                attrs[sc.GEN_AI_INPUT_MESSAGES] = self._redact(_json(input_messages))
            if system_instructions:
                attrs[_SYSTEM_INSTRUCTIONS] = self._redact(_json(system_instructions))
        name = f"{operation} {model}" if model else operation
        self._active = start_span(
            name,
            _failures.CallInfo(role="llm", name=model or provider, agent=current_agent()),
            kind=SpanKind.CLIENT,
            attributes=attrs,
            tracer=_TRACER,
        )
        self.span: Span = self._active.span

    @staticmethod
    def _redact(text: str) -> str:
        return _failures._redactor(text)

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make the span current while the SDK sends the request (HTTP spans nest under it)."""
        with self._active.activated():
            yield

    def chunk_seen(self) -> None:
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()

    def finish(self, build: Callable[[], Response]) -> None:
        """Record the response ``build()`` reads and end the span (once; later calls do
        nothing). A response telemetry cannot read still ends the span, never the caller."""
        if self.ended:
            return
        try:
            with handle_internal_errors("LLMCall.finish"):
                self._record(build())
        finally:
            self._end()

    def fail(self, exc: BaseException) -> None:
        """Record the error (event, ``error.type``, ERROR status with a sentence) and end."""
        if self.ended:
            return
        self._active.fail(exc)
        self._end()

    def _end(self) -> None:
        self.ended = True
        self._active.end()

    def _record(self, r: Response) -> None:
        span = self.span
        if r.model:
            span.set_attribute(sc.GEN_AI_RESPONSE_MODEL, r.model)
        if r.response_id:
            span.set_attribute(_RESPONSE_ID, r.response_id)
        if r.finish_reasons:
            span.set_attribute(sc.GEN_AI_RESPONSE_FINISH_REASONS, r.finish_reasons)
        for key, value in (
            (sc.GEN_AI_USAGE_INPUT_TOKENS, r.input_tokens),
            (sc.GEN_AI_USAGE_OUTPUT_TOKENS, r.output_tokens),
            (_USAGE_CACHE_READ, r.cache_read_tokens),
            (_USAGE_CACHE_CREATION, r.cache_creation_tokens),
            (_USAGE_REASONING, r.reasoning_tokens),
        ):
            if value is not None:
                span.set_attribute(key, int(value))
        model = r.model or self._active.call.name
        cost = pricing.cost_usd(model, r.input_tokens, r.output_tokens)
        if cost is not None:
            span.set_attribute(sc.SEMTRACE_COST_USD, cost)
        if self.first_chunk_at is not None:
            span.set_attribute(_TIME_TO_FIRST_CHUNK, self.first_chunk_at - self.started)
        if self.capture_content and r.output_messages:
            span.set_attribute(sc.GEN_AI_OUTPUT_MESSAGES, self._redact(_json(r.output_messages)))
        span.set_status(Status(StatusCode.OK))


class _Proxy:
    """What the sync and async stream proxies share: the wrapped stream, the call, the
    accumulator, attribute pass-through and ending the span of a stream dropped half-read."""

    def __init__(self, inner: Any, call: LLMCall, accumulator: Any) -> None:
        self._inner = inner
        self._call = call
        self._acc = accumulator

    def _seen(self, item: Any) -> Any:
        self._call.chunk_seen()
        with handle_internal_errors("stream accumulate"):
            self._acc.add(item)
        return item

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __del__(self) -> None:  # a stream dropped half-read still gets its span ended
        call = self.__dict__.get("_call")
        if call is not None and not call.ended:
            with suppress(Exception):
                call.finish(self._acc.result)


class StreamProxy(_Proxy):
    """A sync stream that records each chunk and ends the call when read out or closed.

    Everything else (``response``, ``close()``, ``with``) passes through to the SDK's stream.
    """

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        try:
            item = next(self._inner)
        except StopIteration:
            self._call.finish(self._acc.result)
            raise
        except BaseException as exc:
            self._call.fail(exc)
            raise
        return self._seen(item)

    def __enter__(self) -> StreamProxy:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._call.finish(self._acc.result)


class AsyncStreamProxy(_Proxy):
    """The async twin of :class:`StreamProxy`."""

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self._inner.__anext__()
        except StopAsyncIteration:
            self._call.finish(self._acc.result)
            raise
        except BaseException as exc:
            self._call.fail(exc)
            raise
        return self._seen(item)

    async def __aenter__(self) -> AsyncStreamProxy:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await self._inner.close()
        finally:
            self._call.finish(self._acc.result)


def wrap_create(
    original: Callable[..., Any],
    start: Callable[[dict[str, Any]], LLMCall],
    parse: Callable[[Any], Response],
    accumulator: Callable[[], Any],
    *,
    is_async: bool,
) -> Callable[..., Any]:
    """Wrap an SDK ``create`` method so each call has its span.

    ``start(kwargs)`` opens the span; the result is ``parse``d into the response, or with
    ``stream=True`` handed back behind a proxy that feeds each chunk to ``accumulator()``.
    """
    if is_async:

        @functools.wraps(original)
        async def acreate(*args: Any, **kwargs: Any) -> Any:
            call = start_safely(lambda: start(kwargs))
            if call is None:
                return await original(*args, **kwargs)
            try:
                with call.active():
                    result = await original(*args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            if kwargs.get("stream") is True:
                return AsyncStreamProxy(result, call, accumulator())
            call.finish(lambda: parse(result))
            return result

        return acreate

    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        call = start_safely(lambda: start(kwargs))
        if call is None:
            return original(*args, **kwargs)
        try:
            with call.active():
                result = original(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        if kwargs.get("stream") is True:
            return StreamProxy(result, call, accumulator())
        call.finish(lambda: parse(result))
        return result

    return create


def wrap_copies(client: Any, rewrap: Callable[[Any], Any]) -> None:
    """``client.with_options(...)`` / ``client.copy(...)`` return clients passed through ``rewrap``."""
    original = getattr(client, "copy", None)
    if not callable(original):
        return

    @functools.wraps(original)
    def copy(*args: Any, **kwargs: Any) -> Any:
        return rewrap(original(*args, **kwargs))

    client.copy = copy
    client.with_options = copy
