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

from semtrace._connect import connect
from semtrace.exceptions import (
    ConfigurationError,
    DatabaseLockedError,
    NotADatabaseError,
    QueryError,
    SemtraceError,
)
from semtrace.pricing import set_prices
from semtrace.telemetry.logger import get_logger
from semtrace.tracer import agent, configure, force_flush, llm, shutdown, step, tool

__all__ = [
    "ConfigurationError",
    "DatabaseLockedError",
    "NotADatabaseError",
    "QueryError",
    "SemtraceError",
    "__version__",
    "agent",
    "configure",
    "connect",
    "force_flush",
    "get_logger",
    "llm",
    "set_prices",
    "shutdown",
    "step",
    "tool",
]

__version__ = "0.1.0"
