"""The one small exception hierarchy semtrace raises for programmer errors."""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DatabaseLockedError",
    "NotADatabaseError",
    "QueryError",
    "SemtraceError",
    "SemtraceWarning",
]


class SemtraceError(Exception):
    """Base class of every error semtrace raises on purpose."""


class ConfigurationError(SemtraceError, ValueError):
    """A setting or argument is wrong; the message says which and how to fix it."""


class NotADatabaseError(SemtraceError):
    """The path given as a database is not a DuckDB file."""


class DatabaseLockedError(SemtraceError):
    """Another process owns the database file for writing."""

    def __init__(self, message: str, *, pid: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.pid = pid
        self.url = url


class QueryError(SemtraceError):
    """A SQL query failed; the message is DuckDB's, plus what tables exist."""


class SemtraceWarning(UserWarning):
    """Something the user should fix, while telemetry keeps running (a locked database, say)."""
