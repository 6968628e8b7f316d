"""A small multi-agent run written with the real tracer, for the dashboard's tests.

A synchronous supervisor (travel: flight and hotel agents, tools, LLM calls, one failing tool)
and an event-driven hand-off (intake publishes, extraction consumes in another trace through a
span link, a compliance task waits for a human), plus a stored diagnosis for the failure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind

import semtrace
from semtrace import semconv as sc
from semtrace.store.database import open_store
from semtrace.store.model import LogRecord
from semtrace.tracer.setup import STATE, emit_log

FAILURE_SENTENCE_PART = "Last-updated field was null"
DIAGNOSIS = "The vendor record had no Last-updated date, so the hotel lookup could not match it."
LOG_SENTENCE = "the supervisor planned a trip to Lisbon for 2 travellers"


@dataclass
class Scenario:
    """What the run produced, for assertions."""

    db: Path
    travel_trace: str
    failed_span: str
    intake_trace: str
    extraction_trace: str
    fingerprint: str


def _say(message: str, *, severity: str = "INFO", agent: str | None = None) -> None:
    ctx = trace.get_current_span().get_span_context()
    emit_log(
        LogRecord(
            time_ns=time.time_ns(),
            message=message,
            severity=severity,
            trace_id=format(ctx.trace_id, "032x"),
            span_id=format(ctx.span_id, "016x"),
            agent_name=agent,
            service_name="test-service",
        )
    )


@semtrace.llm(model="gpt-4o-mini", provider="openai")
def _chat(prompt: str) -> dict[str, object]:
    time.sleep(0.002)
    return {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 120, "completion_tokens": 30}}


@semtrace.tool("search_flights")
def _search_flights(origin: str, dest: str) -> list[str]:
    time.sleep(0.003)
    return ["TP123"]


@semtrace.tool("lookup_vendor")
def _lookup_vendor(vendor: str) -> str:
    raise ValueError(
        f"could not match vendor {vendor}: the {FAILURE_SENTENCE_PART}, so no valid match"
    )


@semtrace.agent("flight")
def _flight_agent(dest: str) -> list[str]:
    _chat(f"find flights to {dest}")
    _say(f"the flight agent found 1 flight to {dest}", agent="flight")
    return _search_flights("SFO", dest)


@semtrace.agent("hotel")
def _hotel_agent(dest: str) -> str:
    _chat(f"find hotels in {dest}")
    try:
        return _lookup_vendor("Hotel Avenida")
    except ValueError:
        return "no hotel"


_SUPERVISOR: list[trace.SpanContext] = []


@semtrace.agent("supervisor")
def _plan_trip(dest: str) -> None:
    _SUPERVISOR.append(trace.get_current_span().get_span_context())
    _say(LOG_SENTENCE, agent="supervisor")
    _flight_agent(dest)
    _hotel_agent(dest)


def _choreography() -> tuple[str, str]:
    tracer = trace.get_tracer("test.bus")
    with (
        semtrace.agent("intake"),
        tracer.start_as_current_span(
            "send invoice.received",
            kind=SpanKind.PRODUCER,
            attributes={
                sc.MESSAGING_SYSTEM: "semtrace",
                sc.MESSAGING_OPERATION_TYPE: "send",
                sc.MESSAGING_DESTINATION_NAME: "invoice.received",
            },
        ) as producer,
    ):
        _say("the intake agent received invoice INV-7 and published it", agent="intake")
        producer_ctx = producer.get_span_context()
    time.sleep(0.002)
    with tracer.start_as_current_span(
        "process invoice.received",
        context=otel_context.Context(),
        kind=SpanKind.CONSUMER,
        # The producer's context, plus an ambient one (as an MCP server links the HTTP request
        # around a call): only the first is a hand-off between agents.
        links=[Link(producer_ctx), Link(_SUPERVISOR[-1], {sc.SEMTRACE_LINK_KIND: "ambient"})],
        attributes={
            sc.MESSAGING_SYSTEM: "semtrace",
            sc.MESSAGING_OPERATION_TYPE: "process",
            sc.MESSAGING_DESTINATION_NAME: "invoice.received",
            sc.SEMTRACE_AGENT_NAME: "extraction",
        },
    ) as consumer:
        with semtrace.agent("extraction"):
            _chat("extract invoice fields")
        with semtrace.agent("compliance") as task_span:
            task_span.set_attribute(sc.MCP_TASK_ID, "task-42")
            task_span.add_event(
                sc.MCP_TASK_EVENT, {sc.MCP_TASK_ID: "task-42", sc.MCP_TASK_STATUS: "working"}
            )
            task_span.add_event(
                sc.MCP_TASK_EVENT,
                {
                    sc.MCP_TASK_ID: "task-42",
                    sc.MCP_TASK_STATUS: "input_required",
                    sc.MCP_TASK_STATUS_MESSAGE: "need a human to confirm the vendor",
                },
            )
            time.sleep(0.002)
            task_span.add_event(
                sc.MCP_TASK_EVENT, {sc.MCP_TASK_ID: "task-42", sc.MCP_TASK_STATUS: "completed"}
            )
        consumer_trace = format(consumer.get_span_context().trace_id, "032x")
    return format(producer_ctx.trace_id, "032x"), consumer_trace


def build(db: Path) -> Scenario:
    """Run the scenario into ``db`` (semtrace configured and shut down here)."""
    semtrace.configure(service_name="test-service", db=db, batch_interval_s=0.2)
    try:
        _plan_trip("Lisbon")
        intake, extraction = _choreography()
        semtrace.force_flush()
        con = semtrace.connect(db)
        travel = con.sql(
            "SELECT trace_id FROM spans WHERE name = 'invoke_agent supervisor'"
        ).fetchall()[0]
        failed = con.sql(
            "SELECT span_id FROM spans WHERE status_code = 'ERROR' AND tool_name = 'lookup_vendor'"
        ).fetchall()[0]
        con.close()
        assert travel and failed
        fingerprint = "fp-vendor-null"
        store = open_store(db)
        now = datetime.now(UTC)
        store.append_arrow(
            "failure_fingerprints",
            pa.table(
                {
                    "fingerprint": [fingerprint],
                    "trace_id": [travel[0]],
                    "span_id": [failed[0]],
                    "log_id": pa.array([None], pa.string()),
                    "failure_kind": ["error_span"],
                    "time": [now],
                }
            ),
        )
        store.append_arrow(
            "diagnoses",
            pa.table(
                {
                    "fingerprint": [fingerprint],
                    "created_at": [now],
                    "status": ["ok"],
                    "summary": [DIAGNOSIS],
                    "root_cause": ["The vendor master data has a null Last-updated field."],
                    "category": ["missing_data"],
                    "remediations": [
                        '[{"action": "fix_input", "rationale": "backfill Last-updated",'
                        ' "confidence": 0.8}]'
                    ],
                    "occurrences": [1],
                    "trace_count": [1],
                    "provider": ["rules"],
                }
            ),
        )
        store.checkpoint()
    finally:
        semtrace.shutdown()
        STATE.settings = None
    return Scenario(db, str(travel[0]), str(failed[0]), intake, extraction, fingerprint)
