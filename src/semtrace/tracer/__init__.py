"""Tracing: ``configure()``, the GenAI-shaped decorators, the DuckDB exporter."""

from __future__ import annotations

from semtrace.tracer._context import current_agent
from semtrace.tracer.decorators import Instrumentation, agent, llm, step, tool
from semtrace.tracer.exporter import DuckDBSpanExporter
from semtrace.tracer.setup import Settings, configure, emit_log, force_flush, shutdown

__all__ = [
    "DuckDBSpanExporter",
    "Instrumentation",
    "Settings",
    "agent",
    "configure",
    "current_agent",
    "emit_log",
    "force_flush",
    "llm",
    "shutdown",
    "step",
    "tool",
]
