"""The lifecycle of a span around traced work, written once: start it, run the work in its
context, record a failure, restore the context, end it.

``start_span(...)`` returns an :class:`ActiveSpan`; ``with`` (or ``async with``) it, the block
runs with the span current, and leaving the block records an exception as a failure (event,
``error.type``, ERROR status and a sentence), restores the context and ends the span, as the
SDK's ``start_as_current_span`` does. Work whose span outlives one block (generators resumed
by their consumer, tasks, streamed LLM responses, a span entered in one call and left in
another) uses the same steps one by one: :meth:`ActiveSpan.attach` / :meth:`~ActiveSpan.detach`
around each piece of work, :meth:`~ActiveSpan.fail`, :meth:`~ActiveSpan.end`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Tracer

from semtrace._async_with import AsyncWithFromSync
from semtrace.tracer import _failures
from semtrace.tracer._context import AGENT_KEY
from semtrace.tracer.processors import SEMTRACE_SCOPE

__all__ = ["TRACER", "ActiveSpan", "start_span"]

# A proxy until a provider is installed, then the provider's tracer: fetched once, because
# get_tracer() per call costs as much as the span itself.
TRACER: Tracer = trace.get_tracer(SEMTRACE_SCOPE)

FailureHook = Callable[[Span, BaseException], None]


class ActiveSpan(AsyncWithFromSync):
    """A started span, the context its work runs in, and what a failure in that work is."""

    __slots__ = ("_tokens", "call", "context", "on_failure", "span")

    def __init__(
        self,
        span: Span,
        context: otel_context.Context,
        call: _failures.CallInfo,
        on_failure: FailureHook | None = None,
    ) -> None:
        self.span = span
        self.context = context
        self.call = call
        self.on_failure = on_failure  # after the failure is recorded (extra attributes)
        self._tokens: list[Token[otel_context.Context]] = []

    def attach(self) -> None:
        """Make the span's context current (undo with :meth:`detach`; calls may nest)."""
        self._tokens.append(otel_context.attach(self.context))

    def detach(self) -> None:
        """Restore the context that was current before the matching :meth:`attach` (if any)."""
        if self._tokens:
            otel_context.detach(self._tokens.pop())

    @contextmanager
    def activated(self) -> Iterator[Span]:
        """Run a block in the span's context without ending the span afterwards."""
        self.attach()
        try:
            yield self.span
        finally:
            self.detach()

    def fail(self, exc: BaseException) -> None:
        """Record ``exc`` on the span as the failure of the call (the span stays open)."""
        _failures.record_failure(self.span, self.call, exc)
        if self.on_failure is not None:
            self.on_failure(self.span, exc)

    def end(self, end_time: int | None = None) -> None:
        """End the span; an agent's held failure logs get their impact now."""
        _failures.settle(self.call)
        self.span.end(end_time=end_time)

    def __enter__(self) -> Span:
        self.attach()
        return self.span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None:
                self.fail(exc)
        finally:
            self.detach()
            self.end()


def start_span(
    name: str,
    call: _failures.CallInfo,
    *,
    parent: otel_context.Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    links: Sequence[Link] | None = None,
    agent: str | None = None,
    on_failure: FailureHook | None = None,
    tracer: Tracer = TRACER,
) -> ActiveSpan:
    """Start ``name`` under ``parent`` (the current context when ``None``); its context names
    ``agent`` as the enclosing agent when one is given. Nothing is attached yet."""
    span = tracer.start_span(name, context=parent, kind=kind, attributes=attributes, links=links)
    ctx = trace.set_span_in_context(span, parent)
    if agent is not None:
        ctx = otel_context.set_value(AGENT_KEY, agent, ctx)
    ctx = _failures.agent_context(ctx, call)  # failures below an agent's work say what it cost
    return ActiveSpan(span, ctx, call, on_failure)
