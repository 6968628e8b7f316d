"""The tables of the SQL contract, the schema version, and the migrations between versions.

Table and column names here are what users write queries against: they only ever grow.
Views live in :mod:`semtrace.store.views` and are recreated whenever a writer opens a file.
"""

from __future__ import annotations

import duckdb

__all__ = [
    "DIAGNOSES",
    "FAILURE_FINGERPRINTS",
    "HEAL_ATTEMPTS",
    "LOGS",
    "MIGRATIONS",
    "SCHEMA_TABLE",
    "SCHEMA_VERSION",
    "SEMTRACE_STATS",
    "SPANS",
    "SPAN_EVENTS",
    "SPAN_LINKS",
    "TABLES",
    "migrate",
    "schema_version",
]

SPANS = "spans"
SPAN_EVENTS = "span_events"
SPAN_LINKS = "span_links"
LOGS = "logs"
DIAGNOSES = "diagnoses"
FAILURE_FINGERPRINTS = "failure_fingerprints"
HEAL_ATTEMPTS = "heal_attempts"
SEMTRACE_STATS = "semtrace_stats"
SCHEMA_TABLE = "semtrace_schema"

TABLES = (
    SPANS,
    SPAN_EVENTS,
    SPAN_LINKS,
    LOGS,
    DIAGNOSES,
    FAILURE_FINGERPRINTS,
    HEAL_ATTEMPTS,
    SEMTRACE_STATS,
)

_V1 = [
    f"""
    CREATE TABLE IF NOT EXISTS {SPANS} (
        trace_id VARCHAR NOT NULL,
        span_id VARCHAR NOT NULL,
        parent_span_id VARCHAR,
        name VARCHAR NOT NULL,
        kind VARCHAR,
        start_time TIMESTAMPTZ NOT NULL,
        end_time TIMESTAMPTZ NOT NULL,
        start_time_ns BIGINT NOT NULL,
        end_time_ns BIGINT NOT NULL,
        duration_ms DOUBLE NOT NULL,
        status_code VARCHAR NOT NULL,
        status_message VARCHAR,
        service_name VARCHAR,
        scope_name VARCHAR,
        agent_name VARCHAR,
        operation VARCHAR,
        tool_name VARCHAR,
        model VARCHAR,
        provider VARCHAR,
        input_tokens BIGINT,
        output_tokens BIGINT,
        cost_usd DOUBLE,
        session_id VARCHAR,
        task_id VARCHAR,
        error_type VARCHAR,
        attributes JSON,
        resource JSON
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {SPAN_EVENTS} (
        trace_id VARCHAR NOT NULL,
        span_id VARCHAR NOT NULL,
        time TIMESTAMPTZ NOT NULL,
        time_ns BIGINT NOT NULL,
        name VARCHAR NOT NULL,
        exception_type VARCHAR,
        exception_message VARCHAR,
        exception_stacktrace VARCHAR,
        attributes JSON
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {SPAN_LINKS} (
        trace_id VARCHAR NOT NULL,
        span_id VARCHAR NOT NULL,
        linked_trace_id VARCHAR NOT NULL,
        linked_span_id VARCHAR NOT NULL,
        attributes JSON
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {LOGS} (
        log_id VARCHAR NOT NULL,
        time TIMESTAMPTZ NOT NULL,
        time_ns BIGINT NOT NULL,
        trace_id VARCHAR,
        span_id VARCHAR,
        severity VARCHAR NOT NULL,
        severity_number INTEGER,
        service_name VARCHAR,
        agent_name VARCHAR,
        logger_name VARCHAR,
        event_name VARCHAR,
        message VARCHAR NOT NULL,
        template VARCHAR,
        action VARCHAR,
        cause VARCHAR,
        impact VARCHAR,
        attributes JSON
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {DIAGNOSES} (
        fingerprint VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        status VARCHAR NOT NULL,
        summary VARCHAR,
        root_cause VARCHAR,
        category VARCHAR,
        evidence JSON,
        remediations JSON,
        occurrences BIGINT,
        trace_count BIGINT,
        provider VARCHAR,
        model VARCHAR,
        input_tokens BIGINT,
        output_tokens BIGINT,
        cost_usd DOUBLE,
        latency_ms DOUBLE,
        error VARCHAR,
        context JSON
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {FAILURE_FINGERPRINTS} (
        fingerprint VARCHAR NOT NULL,
        trace_id VARCHAR,
        span_id VARCHAR,
        log_id VARCHAR,
        failure_kind VARCHAR,
        time TIMESTAMPTZ
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {HEAL_ATTEMPTS} (
        time TIMESTAMPTZ NOT NULL,
        trace_id VARCHAR,
        span_id VARCHAR,
        fingerprint VARCHAR,
        step VARCHAR,
        attempt INTEGER,
        action VARCHAR,
        parameters JSON,
        outcome VARCHAR,
        error VARCHAR,
        duration_ms DOUBLE
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {SEMTRACE_STATS} (
        time TIMESTAMPTZ NOT NULL,
        pid INTEGER,
        component VARCHAR,
        spans_written BIGINT,
        logs_written BIGINT,
        spans_dropped BIGINT,
        logs_dropped BIGINT,
        spooled BIGINT,
        retries BIGINT,
        export_errors BIGINT,
        export_latency_ms DOUBLE
    )
    """,
]

# Each entry moves a file from version i to i + 1. Append, never edit.
MIGRATIONS: list[list[str]] = [_V1]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The version a database file is at (0 for a new file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [SCHEMA_TABLE]
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute(f"SELECT max(version) FROM {SCHEMA_TABLE}").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring a writable database to :data:`SCHEMA_VERSION`; returns the version it was at."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} "
        "(version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    start = schema_version(con)
    for version in range(start, SCHEMA_VERSION):
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in MIGRATIONS[version]:
                con.execute(statement)
            con.execute(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES (?)", [version + 1])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return start
