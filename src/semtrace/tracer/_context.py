"""The context keys moved to :mod:`semtrace.telemetry.context` (logs read them, and telemetry
sits below the tracer); this name stays for code written against the old path."""

from __future__ import annotations

from semtrace.telemetry.context import AGENT_KEY, ATTEMPT_KEY, current_agent, current_attempt

__all__ = ["AGENT_KEY", "ATTEMPT_KEY", "current_agent", "current_attempt"]
