"""Tracing: ``configure()``, the GenAI-shaped decorators, the DuckDB exporter, and the
helpers that carry context across threads, generators, message buses and tasks."""

from __future__ import annotations

from semtrace.tracer._context import current_agent
from semtrace.tracer.decorators import Instrumentation, agent, llm, step, tool
from semtrace.tracer.executors import bind_context, context_executor
from semtrace.tracer.exporter import DuckDBSpanExporter
from semtrace.tracer.propagation import consumer_span, extract, inject, producer_span
from semtrace.tracer.setup import Settings, configure, emit_log, force_flush, shutdown

__all__ = [
    "DuckDBSpanExporter",
    "Instrumentation",
    "Settings",
    "agent",
    "bind_context",
    "configure",
    "consumer_span",
    "context_executor",
    "current_agent",
    "emit_log",
    "extract",
    "force_flush",
    "inject",
    "llm",
    "producer_span",
    "shutdown",
    "step",
    "tool",
]
