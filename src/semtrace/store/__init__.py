"""The DuckDB store: the declared schema, the batched Arrow writer, views, the read API."""

from __future__ import annotations

from semtrace.store._arrow import logs_table, record_row, spans_tables
from semtrace.store.database import (
    Store,
    connect_readonly,
    get_open_store,
    open_store,
    resolve_path,
)
from semtrace.store.model import LogRecord, SpanEventRecord, SpanLinkRecord, SpanRecord
from semtrace.store.schema import SCHEMA_VERSION, TABLES
from semtrace.store.views import VIEWS, register_view

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "VIEWS",
    "LogRecord",
    "SpanEventRecord",
    "SpanLinkRecord",
    "SpanRecord",
    "Store",
    "connect_readonly",
    "get_open_store",
    "logs_table",
    "open_store",
    "record_row",
    "register_view",
    "resolve_path",
    "spans_tables",
]
