"""The DuckDB span exporter: what it writes, and that its failures never reach the app."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

import semtrace
from semtrace._errors import ENV_RAISE
from semtrace.store.database import open_store
from semtrace.store.stats import STATS
from semtrace.tracer.exporter import DuckDBSpanExporter
from semtrace.tracer.setup import STATE


def _provider(exporter: DuckDBSpanExporter) -> TracerProvider:
    """A private SDK provider (not the global one) exporting synchronously to ``exporter``."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": "exporter-test"}), shutdown_on_exit=False
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_exports_spans_events_and_links(db_path: Path) -> None:
    """Finished SDK spans land in spans, span_events and span_links with hex ids and status."""
    exporter = DuckDBSpanExporter(db_path)
    tracer = _provider(exporter).get_tracer("t")
    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent:
        parent_ctx = parent.get_span_context()
        with tracer.start_as_current_span(
            "child", links=[Link(parent_ctx, {"why": "test"})]
        ) as child:
            child.add_event("checkpoint", {"n": 1})
            child.set_status(Status(StatusCode.ERROR, "bad"))
    open_store(db_path).close()
    con = duckdb.connect(str(db_path), read_only=True)
    rows = con.execute(
        "SELECT name, kind, status_code, status_message, service_name, scope_name, "
        "parent_span_id, span_id, trace_id FROM spans ORDER BY start_time_ns"
    ).fetchall()
    (p_name, p_kind, p_status, _, p_service, p_scope, p_parent, p_span, p_trace) = rows[0]
    assert (p_name, p_kind, p_status, p_service, p_scope, p_parent) == (
        "parent",
        "SERVER",
        "UNSET",
        "exporter-test",
        "t",
        None,
    )
    assert p_span == format(parent_ctx.span_id, "016x")
    assert p_trace == format(parent_ctx.trace_id, "032x")
    assert rows[1][:4] == ("child", "INTERNAL", "ERROR", "bad")
    assert rows[1][6] == p_span
    assert con.execute("SELECT name, attributes->>'n' FROM span_events").fetchall() == [
        ("checkpoint", "1")
    ]
    assert con.execute(
        "SELECT linked_trace_id, linked_span_id, attributes->>'why' FROM span_links"
    ).fetchall() == [(p_trace, p_span, "test")]
    con.close()


def test_export_after_shutdown_fails_quietly(db_path: Path) -> None:
    """After shutdown() the exporter refuses batches with FAILURE instead of raising."""
    exporter = DuckDBSpanExporter(db_path)
    exporter.shutdown()
    assert exporter.export([]) is SpanExportResult.FAILURE


def test_unwritable_path_counts_lost_spans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exporter whose file (and spool) cannot be created reports the batch as handled,
    never raises, and counts the spans as dropped."""
    monkeypatch.delenv(ENV_RAISE, raising=False)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    exporter = DuckDBSpanExporter(blocker / "sub" / "semtrace.duckdb")
    tracer = _provider(exporter).get_tracer("t")
    before = STATS.snapshot()
    with tracer.start_as_current_span("lost"):
        pass
    after = STATS.snapshot()
    assert after["spans_dropped"] == before["spans_dropped"] + 1
    assert after["export_errors"] == before["export_errors"] + 1


def test_unwritable_db_never_raises_into_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """configure() with a db that cannot be written still lets the agent run and return;
    every span is counted as dropped."""
    monkeypatch.delenv(ENV_RAISE, raising=False)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")

    @semtrace.agent("resilient")
    def work(n: int) -> int:
        with semtrace.tool("inner"):
            return n * 2

    before = STATS.snapshot()["spans_dropped"]
    try:
        semtrace.configure(db=blocker / "semtrace.duckdb", batch_interval_s=0.05)
        assert [work(i) for i in range(3)] == [0, 2, 4]
        semtrace.force_flush()
        assert STATS.snapshot()["spans_dropped"] == before + 6
    finally:
        semtrace.shutdown()  # must not raise either
        STATE.settings = None


class _FailingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.FAILURE


def test_a_failed_export_is_counted_not_lost_in_silence(db_path: Path) -> None:
    """When the exporter configure() was given reports FAILURE, its spans are counted as
    dropped and the failure as an export error (the result is not ignored)."""
    before = STATS.snapshot()
    semtrace.configure(db=db_path, span_exporter_factory=lambda settings: _FailingExporter())
    try:
        for i in range(5):
            with semtrace.tool(f"t{i}"):
                pass
        semtrace.force_flush()
    finally:
        semtrace.shutdown()
        STATE.settings = None
    after = STATS.snapshot()
    assert after["spans_dropped"] - before["spans_dropped"] == 5
    assert after["export_errors"] - before["export_errors"] >= 1
