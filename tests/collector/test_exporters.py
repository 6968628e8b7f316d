"""The standard OTLP/HTTP exporters (and semtrace's own client) talk to the collector."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import semtrace
from semtrace.collector.client import CollectorConnection
from semtrace.collector.server import Collector
from semtrace.exceptions import QueryError
from semtrace.store import queries
from semtrace.store.model import LogRecord
from semtrace.store.remote import RemoteWriter, Target
from semtrace.tracer.setup import STATE
from tests.collector.conftest import rows


def test_otlp_span_exporter_with_gzip_delivers_a_span_tree(collector: Collector) -> None:
    """The real OTLPSpanExporter (protobuf, gzip) delivers a parent/child tree with events."""
    tp = TracerProvider(resource=Resource.create({"service.name": "exporter-app"}))
    exporter = OTLPSpanExporter(endpoint=collector.url + "/v1/traces", compression=Compression.Gzip)
    tp.add_span_processor(BatchSpanProcessor(exporter))
    tracer = tp.get_tracer("t")
    with (
        tracer.start_as_current_span("invoke_agent intake") as root,
        tracer.start_as_current_span("execute_tool parse") as child,
    ):
        child.add_event("exception", {"exception.type": "ValueError"})
        child.set_attribute("gen_ai.tool.name", "parse")
    assert tp.force_flush(10_000)
    tp.shutdown()
    trace_id = format(root.get_span_context().trace_id, "032x")
    root_id = format(root.get_span_context().span_id, "016x")
    got = rows(
        collector,
        "select name, parent_span_id, trace_id, service_name, tool_name from spans order by name",
    )
    assert got == [
        ("execute_tool parse", root_id, trace_id, "exporter-app", "parse"),
        ("invoke_agent intake", None, trace_id, "exporter-app", None),
    ]
    assert rows(collector, "select name, exception_type from span_events") == [
        ("exception", "ValueError")
    ]


@pytest.mark.filterwarnings("ignore:.*LoggingHandler.*:DeprecationWarning")
def test_otlp_log_exporter_delivers_stdlib_logs_with_trace_context(
    collector: Collector,
) -> None:
    """Standard logging through the SDK's OTLPLogExporter lands in logs with its span ids."""
    lp = LoggerProvider(resource=Resource.create({"service.name": "log-app"}))
    lp.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=collector.url + "/v1/logs"))
    )
    handler = LoggingHandler(logger_provider=lp)
    logger = logging.getLogger("tests.collector.otlp")
    logger.addHandler(handler)
    logger.propagate = False
    tp = TracerProvider()
    try:
        with tp.get_tracer("t").start_as_current_span("work") as span:
            logger.error("the vendor lookup failed")
    finally:
        logger.removeHandler(handler)
        lp.shutdown()
    ctx = span.get_span_context()
    got = rows(
        collector,
        "select message, severity, trace_id, span_id, service_name, logger_name from logs",
    )
    assert got == [
        (
            "the vendor lookup failed",
            "ERROR",
            format(ctx.trace_id, "032x"),
            format(ctx.span_id, "016x"),
            "log-app",
            "tests.collector.otlp",
        )
    ]


def test_remote_writer_keeps_semtrace_facts(collector: Collector, tmp_path: Path) -> None:
    """semtrace's remote writer sends log records as Arrow batches; every fact comes back
    as its column, acknowledged once committed."""
    writer = RemoteWriter(str(tmp_path / "x.duckdb"), lambda: Target(collector.url))
    record = LogRecord(
        time_ns=1_700_000_000_123_456_789,
        message="the procurement agent failed to retrieve the vendor ID",
        severity="ERROR",
        template="{agent} failed to {action}",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        agent_name="procurement",
        event_name="semtrace.failure",
        action="retrieve the vendor ID",
        cause="the Last-updated field was null",
        impact="no valid match could be made",
        attributes={"vendor_id": None, "invoice": "INV-1"},
        log_id="abcdef0123456789",
        service_name="svc-a",
    )
    assert writer.write(logs=[record])
    assert writer.flush(30)  # delivered: acknowledged after the collector's commit
    got = rows(
        collector,
        """select log_id, time_ns, severity, severity_number, message, template, trace_id,
                  span_id, agent_name, service_name, event_name, action, cause, impact,
                  attributes->>'invoice' from logs""",
    )
    assert got == [
        (
            "abcdef0123456789",
            1_700_000_000_123_456_789,
            "ERROR",
            17,
            record.message,
            record.template,
            record.trace_id,
            record.span_id,
            "procurement",
            "svc-a",
            "semtrace.failure",
            record.action,
            record.cause,
            record.impact,
            "INV-1",
        )
    ]


def test_configure_with_endpoint_sends_spans_and_logs_to_the_collector(
    collector: Collector, tmp_path: Path
) -> None:
    """configure(endpoint=...) sends spans and log records to that collector instead of a
    file."""
    db = tmp_path / "never-written.duckdb"
    semtrace.configure(service_name="routed", db=db, endpoint=collector.url, batch_interval_s=0.1)
    try:
        from opentelemetry import trace

        with trace.get_tracer("t").start_as_current_span("routed span"):
            pass
        from semtrace.tracer.setup import emit_log

        emit_log(LogRecord(time_ns=time.time_ns(), message="routed log"))
        semtrace.force_flush()
    finally:
        semtrace.shutdown()
        STATE.settings = None
    assert not db.exists()
    assert rows(collector, "select name, service_name from spans") == [("routed span", "routed")]
    assert rows(collector, "select message from logs") == [("routed log",)]


def test_collector_connection_looks_like_a_duckdb_connection(collector: Collector) -> None:
    """CollectorConnection results offer to_arrow_table, df, fetchall, fetchone; errors are
    QueryErrors; named query functions run through it."""
    con = CollectorConnection(collector.url)
    result = con.sql("select 1 as a, 'x' as b union all select 2, 'y' order by a")
    assert result.columns == ["a", "b"]
    assert result.to_arrow_table().to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert result.df()["b"].tolist() == ["x", "y"]
    assert result.fetchone() == (1, "x")
    assert result.fetchall() == [(2, "y")]
    assert con.execute("select ? + 1", [41]).fetchall() == [(42,)]
    assert queries.run_sql(con, "select count(*) as n from spans").to_pylist() == [{"n": 0}]  # type: ignore[arg-type]
    assert queries.list_traces(con).num_rows == 0  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="not allowed"):
        con.sql("drop table spans")
