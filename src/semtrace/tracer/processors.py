"""Span processors semtrace adds to the tracer provider."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from semtrace import semconv as sc
from semtrace._errors import handle_internal_errors
from semtrace.store.batching import MAX_BATCH_RECORDS, MAX_QUEUED_RECORDS, BatchQueue
from semtrace.store.stats import STATS
from semtrace.tracer._context import current_agent

__all__ = ["SEMTRACE_SCOPE", "AgentContextProcessor", "QueueSpanProcessor", "SwappableProcessor"]

SEMTRACE_SCOPE = "semtrace"  # the instrumentation scope of spans semtrace's decorators make


class AgentContextProcessor(SpanProcessor):
    """Stamps every span with the agent it runs inside (``semtrace.agent.name``).

    Tool and LLM spans made inside an agent (by semtrace or any other instrumentation) thus
    carry the agent's name, so ``group by agent_name`` works on every span.
    """

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        scope = span.instrumentation_scope
        if scope is not None and scope.name == SEMTRACE_SCOPE:
            return  # semtrace's own spans carry the agent already (cheaper than looking)
        with handle_internal_errors("AgentContextProcessor.on_start"):
            agent = current_agent(parent_context)
            if agent is not None and sc.SEMTRACE_AGENT_NAME not in (span.attributes or {}):
                span.set_attribute(sc.SEMTRACE_AGENT_NAME, agent)

    def on_end(self, span: ReadableSpan) -> None:
        pass


class SwappableProcessor(SpanProcessor):
    """The one processor semtrace adds to a provider; ``configure()`` again swaps what is
    inside instead of stacking a second exporter on the provider."""

    def __init__(self, inner: SpanProcessor | None = None) -> None:
        self.inner = inner
        self.agent = AgentContextProcessor()

    def swap(self, inner: SpanProcessor | None) -> SpanProcessor | None:
        old, self.inner = self.inner, inner
        return old

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        self.agent.on_start(span, parent_context)
        inner = self.inner
        if inner is not None:
            inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        inner = self.inner
        if inner is not None:
            inner.on_end(span)

    def shutdown(self) -> None:
        inner = self.inner
        if inner is not None:
            inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        inner = self.inner
        return inner.force_flush(timeout_millis) if inner is not None else True


class QueueSpanProcessor(SpanProcessor):
    """Hands finished spans to an exporter from a bounded queue and a daemon thread.

    Like the SDK's BatchSpanProcessor, but what it drops when the queue is full is counted
    (``semtrace_stats.spans_dropped``) and the agent thread never waits on the exporter. The
    exporter's result is honoured: a batch it reports as failed is counted as dropped (with an
    export error), whatever exporter it is (semtrace's own spools instead of failing).
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue: int = MAX_QUEUED_RECORDS,
        max_batch: int = MAX_BATCH_RECORDS,
        interval_s: float = 1.0,
    ) -> None:
        self.exporter = exporter
        self.queue: BatchQueue[ReadableSpan] = BatchQueue(
            self._export,
            name="semtrace-spans",
            max_queue=max_queue,
            max_batch=max_batch,
            interval_s=interval_s,
            on_drop=lambda n: STATS.add(spans_dropped=n),
        )

    def _export(self, spans: Sequence[ReadableSpan]) -> None:
        if self.exporter.export(spans) is not SpanExportResult.SUCCESS:
            STATS.add(spans_dropped=len(spans), export_errors=1)

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is not None and ctx.trace_flags.sampled:
            self.queue.put(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.queue.flush(timeout_millis / 1000)
        return True

    def shutdown(self) -> None:
        self.queue.shutdown()
        self.exporter.shutdown()
