"""semtrace: semantic telemetry for AI agents.

OpenTelemetry traces plus natural-language logs in DuckDB, queryable with plain SQL::

    import semtrace
    semtrace.configure(service_name="travel", db="semtrace.duckdb")

    @semtrace.agent("supervisor")
    def plan_trip(request): ...

    con = semtrace.connect()
    con.sql("select * from traces").df()
"""

from __future__ import annotations

from semtrace import bus, diagnose
from semtrace._connect import connect
from semtrace.diagnose.heal import heal
from semtrace.exceptions import (
    ConfigurationError,
    DatabaseLockedError,
    NotADatabaseError,
    QueryError,
    SemtraceError,
    SemtraceWarning,
)
from semtrace.inbox import answer_task, cancel_task
from semtrace.integrations import instrument, query, trace, wrap_anthropic, wrap_openai
from semtrace.pricing import set_prices
from semtrace.telemetry.logger import get_logger
from semtrace.tracer import agent, configure, force_flush, llm, shutdown, step, tool
from semtrace.tracer.executors import context_executor
from semtrace.tracer.propagation import extract, inject
from semtrace.tracer.tasks import current_task, resume_task, start_task
from semtrace.tracer.wrap import wrap

__all__ = [
    "ConfigurationError",
    "DatabaseLockedError",
    "NotADatabaseError",
    "QueryError",
    "SemtraceError",
    "SemtraceWarning",
    "__version__",
    "agent",
    "answer_task",
    "bus",
    "cancel_task",
    "configure",
    "connect",
    "context_executor",
    "current_task",
    "diagnose",
    "extract",
    "force_flush",
    "get_logger",
    "heal",
    "inject",
    "instrument",
    "llm",
    "query",
    "resume_task",
    "set_prices",
    "shutdown",
    "start_task",
    "step",
    "tool",
    "trace",
    "wrap",
    "wrap_anthropic",
    "wrap_openai",
]

__version__ = "0.1.0"
