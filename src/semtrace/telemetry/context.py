"""Keys semtrace keeps in the OpenTelemetry context, so they travel wherever context travels.

The tracer sets them (an agent's span names its agent, a heal attempt its number); semantic
logs read them to say which agent wrote a record.
"""

from __future__ import annotations

from opentelemetry import context as otel_context

__all__ = ["AGENT_KEY", "ATTEMPT_KEY", "current_agent", "current_attempt"]

AGENT_KEY = otel_context.create_key("semtrace-agent")
ATTEMPT_KEY = otel_context.create_key("semtrace-attempt")


def current_agent(ctx: otel_context.Context | None = None) -> str | None:
    """The name of the agent whose span encloses the current code, if any."""
    value = otel_context.get_value(AGENT_KEY, ctx)
    return value if isinstance(value, str) else None


def current_attempt(ctx: otel_context.Context | None = None) -> int | None:
    """The attempt number a heal policy is running the current code under, if any."""
    value = otel_context.get_value(ATTEMPT_KEY, ctx)
    return value if isinstance(value, int) else None
