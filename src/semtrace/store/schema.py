"""The tables of the SQL contract, each declared once, and what is derived from them.

A :class:`Table` lists its :class:`Column` s with their DuckDB type, Arrow type and
nullability; the DuckDB DDL (:meth:`Table.ddl`) and the Arrow schema writers build batches in
(:attr:`Table.arrow`) both come from that one declaration.

Opening a file for writing (:func:`migrate`) creates the tables it lacks and adds the columns
it lacks, so a new column or table is just a new declaration: two changes that each add a
column never collide on a hand-numbered migration. Table and column names are what users
write queries against: they only ever grow (append new columns at the end of a table).
A read-only connection to a file that predates a column sees it as NULL through
:func:`shadow_missing`. Views live in :mod:`semtrace.store.views`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import duckdb
import pyarrow as pa

__all__ = [
    "BATCHES_TABLE",
    "BIGINT",
    "BOOLEAN",
    "DECLARED",
    "DIAGNOSES",
    "DIAGNOSES_TABLE",
    "DOUBLE",
    "FAILURE_FINGERPRINTS",
    "FINGERPRINTS_TABLE",
    "HEAL_ATTEMPTS",
    "HEAL_ATTEMPTS_TABLE",
    "INTEGER",
    "JSON",
    "LOGS",
    "LOGS_TABLE",
    "SCHEMA_TABLE",
    "SCHEMA_VERSION",
    "SEMTRACE_BATCHES",
    "SEMTRACE_STATS",
    "SPANS",
    "SPANS_TABLE",
    "SPAN_EVENTS",
    "SPAN_EVENTS_TABLE",
    "SPAN_LINKS",
    "SPAN_LINKS_TABLE",
    "STATS_TABLE",
    "TABLES",
    "TASK_ANSWERS",
    "TASK_ANSWERS_TABLE",
    "TIMESTAMPTZ",
    "VARCHAR",
    "Column",
    "ColumnType",
    "Table",
    "migrate",
    "missing",
    "schema_version",
    "shadow_missing",
    "table",
]


@dataclass(frozen=True, slots=True)
class ColumnType:
    """A column type as DuckDB declares it and as Arrow batches carry it."""

    sql: str
    arrow: pa.DataType


VARCHAR = ColumnType("VARCHAR", pa.string())
JSON = ColumnType("JSON", pa.string())  # JSON text in Arrow; DuckDB parses it on insert
BIGINT = ColumnType("BIGINT", pa.int64())
INTEGER = ColumnType("INTEGER", pa.int32())
DOUBLE = ColumnType("DOUBLE", pa.float64())
BOOLEAN = ColumnType("BOOLEAN", pa.bool_())
TIMESTAMPTZ = ColumnType("TIMESTAMPTZ", pa.timestamp("us", tz="UTC"))


@dataclass(frozen=True, slots=True)
class Column:
    """One column. ``backfill`` is a SQL expression over the table's other columns that fills
    the rows already stored when the column is added to an existing file."""

    name: str
    type: ColumnType
    nullable: bool = True
    default: str | None = None
    backfill: str | None = None

    def ddl(self) -> str:
        text = f"{self.name} {self.type.sql}"
        if not self.nullable:
            text += " NOT NULL"
        if self.default is not None:
            text += f" DEFAULT {self.default}"
        return text


@dataclass(frozen=True)
class Table:
    """A table of the contract: its name and its columns, in order."""

    name: str
    columns: tuple[Column, ...]
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {c.name: c for c in self.columns}
        if len(by_name) != len(self.columns):
            raise ValueError(f"table {self.name} declares a column twice")
        object.__setattr__(self, "_by_name", by_name)

    def ddl(self) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for this table."""
        body = ",\n    ".join(c.ddl() for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n    {body}\n)"

    @cached_property
    def arrow(self) -> pa.Schema:
        """The Arrow schema of a batch for this table (every column, in declaration order)."""
        return pa.schema(
            [pa.field(c.name, c.type.arrow, nullable=c.nullable) for c in self.columns]
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return self._by_name[name]


def _cols(*columns: Column) -> tuple[Column, ...]:
    return columns


def _c(name: str, type_: ColumnType, *, null: bool = True, **kw: str) -> Column:
    return Column(name, type_, nullable=null, **kw)


SPANS = "spans"
SPAN_EVENTS = "span_events"
SPAN_LINKS = "span_links"
LOGS = "logs"
DIAGNOSES = "diagnoses"
FAILURE_FINGERPRINTS = "failure_fingerprints"
HEAL_ATTEMPTS = "heal_attempts"
SEMTRACE_STATS = "semtrace_stats"
TASK_ANSWERS = "task_answers"
SEMTRACE_BATCHES = "semtrace_batches"
SCHEMA_TABLE = "semtrace_schema"

SPANS_TABLE = Table(
    SPANS,
    _cols(
        _c("trace_id", VARCHAR, null=False),
        _c("span_id", VARCHAR, null=False),
        _c("parent_span_id", VARCHAR),
        _c("name", VARCHAR, null=False),
        _c("kind", VARCHAR),
        _c("start_time", TIMESTAMPTZ, null=False),
        _c("end_time", TIMESTAMPTZ, null=False),
        _c("start_time_ns", BIGINT, null=False),
        _c("end_time_ns", BIGINT, null=False),
        _c("duration_ms", DOUBLE, null=False),
        _c("status_code", VARCHAR, null=False),
        _c("status_message", VARCHAR),
        _c("service_name", VARCHAR),
        _c("scope_name", VARCHAR),
        _c("agent_name", VARCHAR),
        _c("operation", VARCHAR),
        _c("tool_name", VARCHAR),
        _c("model", VARCHAR),
        _c("provider", VARCHAR),
        _c("input_tokens", BIGINT),
        _c("output_tokens", BIGINT),
        _c("cost_usd", DOUBLE),
        _c("session_id", VARCHAR),
        _c("task_id", VARCHAR),
        _c("error_type", VARCHAR),
        _c("attributes", JSON),
        _c("resource", JSON),
        # Whether agent_name was on the span itself ('explicit') or taken from its nearest
        # ancestor that has one ('inherited').
        _c(
            "agent_source", VARCHAR, backfill="CASE WHEN agent_name IS NOT NULL THEN 'explicit' END"
        ),
        # The span is one call of its agent (where the agent's work starts: invoke_agent,
        # a message handler, a root), counted once by the agents view.
        _c(
            "agent_call",
            BOOLEAN,
            backfill="agent_name IS NOT NULL AND (operation = 'invoke_agent' "
            "OR kind IN ('CONSUMER', 'SERVER') OR parent_span_id IS NULL)",
        ),
        # On an ERROR span: the span_id of the failure it belongs to (its own id where the
        # failure started; an ancestor that errored because of it points at it).
        _c("error_origin", VARCHAR, backfill="CASE WHEN status_code = 'ERROR' THEN span_id END"),
        # What the span was given and gave back, from whichever convention carried it.
        _c("input", VARCHAR),
        _c("output", VARCHAR),
        # On a span that did not error: the error_origin of the failure among its
        # descendants that it caught (the earliest). An error log it wrote after that
        # failure is the failure's impact sentence, not a failure of its own.
        _c("caught_failure", VARCHAR),
    ),
)

SPAN_EVENTS_TABLE = Table(
    SPAN_EVENTS,
    _cols(
        _c("trace_id", VARCHAR, null=False),
        _c("span_id", VARCHAR, null=False),
        _c("time", TIMESTAMPTZ, null=False),
        _c("time_ns", BIGINT, null=False),
        _c("name", VARCHAR, null=False),
        _c("exception_type", VARCHAR),
        _c("exception_message", VARCHAR),
        _c("exception_stacktrace", VARCHAR),
        _c("attributes", JSON),
    ),
)

SPAN_LINKS_TABLE = Table(
    SPAN_LINKS,
    _cols(
        _c("trace_id", VARCHAR, null=False),
        _c("span_id", VARCHAR, null=False),
        _c("linked_trace_id", VARCHAR, null=False),
        _c("linked_span_id", VARCHAR, null=False),
        _c("attributes", JSON),
    ),
)

LOGS_TABLE = Table(
    LOGS,
    _cols(
        _c("log_id", VARCHAR, null=False),
        _c("time", TIMESTAMPTZ, null=False),
        _c("time_ns", BIGINT, null=False),
        _c("trace_id", VARCHAR),
        _c("span_id", VARCHAR),
        _c("severity", VARCHAR, null=False),
        _c("severity_number", INTEGER),
        _c("service_name", VARCHAR),
        _c("agent_name", VARCHAR),
        _c("logger_name", VARCHAR),
        _c("event_name", VARCHAR),
        _c("message", VARCHAR, null=False),
        _c("template", VARCHAR),
        _c("action", VARCHAR),
        _c("cause", VARCHAR),
        _c("impact", VARCHAR),
        _c("attributes", JSON),
    ),
)

DIAGNOSES_TABLE = Table(
    DIAGNOSES,
    _cols(
        _c("fingerprint", VARCHAR, null=False),
        _c("created_at", TIMESTAMPTZ, null=False),
        _c("status", VARCHAR, null=False),
        _c("summary", VARCHAR),
        _c("root_cause", VARCHAR),
        _c("category", VARCHAR),
        _c("evidence", JSON),
        _c("remediations", JSON),
        _c("occurrences", BIGINT),
        _c("trace_count", BIGINT),
        _c("provider", VARCHAR),
        _c("model", VARCHAR),
        _c("input_tokens", BIGINT),
        _c("output_tokens", BIGINT),
        _c("cost_usd", DOUBLE),
        _c("latency_ms", DOUBLE),
        _c("error", VARCHAR),
        _c("context", JSON),
    ),
)

FINGERPRINTS_TABLE = Table(
    FAILURE_FINGERPRINTS,
    _cols(
        _c("fingerprint", VARCHAR, null=False),
        _c("trace_id", VARCHAR),
        _c("span_id", VARCHAR),
        _c("log_id", VARCHAR),
        _c("failure_kind", VARCHAR),
        _c("time", TIMESTAMPTZ),
    ),
)

HEAL_ATTEMPTS_TABLE = Table(
    HEAL_ATTEMPTS,
    _cols(
        _c("time", TIMESTAMPTZ, null=False),
        _c("trace_id", VARCHAR),
        _c("span_id", VARCHAR),
        _c("fingerprint", VARCHAR),
        _c("step", VARCHAR),
        _c("attempt", INTEGER),
        _c("action", VARCHAR),
        _c("parameters", JSON),
        _c("outcome", VARCHAR),
        _c("error", VARCHAR),
        _c("duration_ms", DOUBLE),
    ),
)

STATS_TABLE = Table(
    SEMTRACE_STATS,
    _cols(
        _c("time", TIMESTAMPTZ, null=False),
        _c("pid", INTEGER),
        _c("component", VARCHAR),
        _c("spans_written", BIGINT),
        _c("logs_written", BIGINT),
        _c("spans_dropped", BIGINT),
        _c("logs_dropped", BIGINT),
        _c("spooled", BIGINT),
        _c("retries", BIGINT),
        _c("export_errors", BIGINT),
        _c("export_latency_ms", DOUBLE),
        _c("replayed", BIGINT),  # rows replayed from the spool (spooled is what still waits)
    ),
)

# Batches an owner committed, by the id the sender gave them: a batch replayed from a spool
# after its acknowledgement was lost is recognised and not stored twice.
BATCHES_TABLE = Table(
    SEMTRACE_BATCHES,
    _cols(
        _c("batch_id", VARCHAR, null=False),
        _c("committed_at", TIMESTAMPTZ, null=False),
    ),
)

# Answers to tasks waiting in input_required (and requests to cancel them), given from any
# process: kept here until the waiting agent takes them (delivered_at), so an answer survives
# a restart of the owner or of the agent. ``answer`` is JSON (text, or a form's values),
# redacted once delivered; ``outcome`` says whether the agent applied it.
TASK_ANSWERS_TABLE = Table(
    TASK_ANSWERS,
    _cols(
        _c("answer_id", VARCHAR, null=False),
        _c("task_id", VARCHAR, null=False),
        _c("kind", VARCHAR, null=False),  # answer | cancel
        _c("decision", VARCHAR),  # approve | reject, or NULL for a free answer
        _c("answer", JSON),
        _c("answered_by", VARCHAR),
        _c("answered_at", TIMESTAMPTZ, null=False),
        _c("trace_id", VARCHAR),
        _c("delivered_at", TIMESTAMPTZ),
        _c("delivered_to", VARCHAR),
        _c("outcome", VARCHAR),
    ),
)

# The version table: one row each time opening a file changed its schema.
_VERSION_TABLE = Table(
    SCHEMA_TABLE,
    _cols(
        _c("version", INTEGER, null=False),
        _c("applied_at", TIMESTAMPTZ, null=False, default="now()"),
        _c("changes", VARCHAR),
    ),
)

# Every declared table of the contract, in creation order.
DECLARED: dict[str, Table] = {
    t.name: t
    for t in (
        SPANS_TABLE,
        SPAN_EVENTS_TABLE,
        SPAN_LINKS_TABLE,
        LOGS_TABLE,
        DIAGNOSES_TABLE,
        FINGERPRINTS_TABLE,
        HEAL_ATTEMPTS_TABLE,
        STATS_TABLE,
        TASK_ANSWERS_TABLE,
        BATCHES_TABLE,
    )
}
TABLES = tuple(DECLARED)

# Version 1 was the hand-written schema with numbered migrations; version 2 is the declared
# schema, brought up to date column by column. Bump it only for a change that adding tables
# and columns cannot express, and give that change its own step in ``_STEPS``.
SCHEMA_VERSION = 2
_STEPS: dict[int, tuple[str, ...]] = {2: ()}


def table(name: str) -> Table:
    """The declaration of table ``name`` (KeyError for a name the contract does not have)."""
    return DECLARED[name]


def _existing(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """The columns of the contract's tables present in ``con``'s own database."""
    rows = con.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
        "WHERE c.table_catalog = current_database() AND c.table_schema = 'main' "
        "AND t.table_type = 'BASE TABLE'"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for table_name, column_name in rows:
        out.setdefault(table_name, set()).add(column_name)
    return out


def missing(con: duckdb.DuckDBPyConnection) -> list[str]:
    """What the file lacks of the declared schema: ``table`` or ``table.column`` names."""
    present = _existing(con)
    out: list[str] = []
    for t in DECLARED.values():
        have = present.get(t.name)
        if have is None:
            out.append(t.name)
        else:
            out.extend(f"{t.name}.{c.name}" for c in t.columns if c.name not in have)
    return out


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The version a database file is at (0 for a new file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
        "AND table_catalog = current_database()",
        [SCHEMA_TABLE],
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute(f"SELECT max(version) FROM {SCHEMA_TABLE}").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _add_column(con: duckdb.DuckDBPyConnection, t: Table, c: Column) -> None:
    # DuckDB adds a NOT NULL column only with a default; the constraint is the declaration's
    # promise for new rows, old rows get the backfill (or the default).
    default = f" DEFAULT {c.default}" if c.default is not None else ""
    con.execute(f"ALTER TABLE {t.name} ADD COLUMN {c.name} {c.type.sql}{default}")
    if c.backfill is not None:
        con.execute(f"UPDATE {t.name} SET {c.name} = {c.backfill}")


def _sync(con: duckdb.DuckDBPyConnection, tables: Iterable[Table]) -> list[str]:
    present = _existing(con)
    changes: list[str] = []
    for t in tables:
        have = present.get(t.name)
        if have is None:
            con.execute(t.ddl())
            changes.append(f"+{t.name}")
            continue
        for c in t.columns:
            if c.name not in have:
                _add_column(con, t, c)
                changes.append(f"+{t.name}.{c.name}")
    return changes


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring a writable database to the declared schema in one transaction (missing tables
    created, missing columns added and backfilled); returns the version it was at."""
    con.execute("BEGIN TRANSACTION")
    try:
        _sync(con, [_VERSION_TABLE])
        start = schema_version(con)
        changes = _sync(con, DECLARED.values())
        for version in range(max(start, 1) + 1, SCHEMA_VERSION + 1):
            for statement in _STEPS.get(version, ()):
                con.execute(statement)
        if changes or start < SCHEMA_VERSION:
            con.execute(
                f"INSERT INTO {SCHEMA_TABLE} (version, changes) VALUES (?, ?)",
                [SCHEMA_VERSION, " ".join(changes) or None],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return start


def shadow_missing(con: duckdb.DuckDBPyConnection) -> list[str]:
    """On a read-only connection to a file that predates some declared columns or tables,
    temporary views of the same names show them as NULL, so today's views and queries run.
    Returns what was shadowed (empty for an up-to-date file)."""
    present = _existing(con)
    catalog = con.execute("SELECT current_database()").fetchone()
    assert catalog is not None
    db = f'"{catalog[0]}"'
    lacking = missing(con)
    for t in DECLARED.values():
        have = present.get(t.name)
        if have is not None and all(c.name in have for c in t.columns):
            continue
        cols = ", ".join(
            c.name if have is not None and c.name in have else f"NULL::{c.type.sql} AS {c.name}"
            for c in t.columns
        )
        source = f"FROM {db}.main.{t.name}" if have is not None else "WHERE false"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {t.name} AS SELECT {cols} {source}")
    return lacking
