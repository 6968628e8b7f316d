"""A small known dataset (two traces, logs, one diagnosis) the store tests assert views on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from semtrace.store.database import Store
from semtrace.store.model import LogRecord, SpanEventRecord, SpanLinkRecord, SpanRecord

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
MS = 1_000_000
T1, T2 = "a" * 32, "b" * 32

TRAVEL = (
    SpanRecord(
        trace_id=T1,
        span_id="1" * 16,
        parent_span_id=None,
        name="invoke_agent supervisor",
        kind="INTERNAL",
        start_ns=T0,
        end_ns=T0 + 100 * MS,
        service_name="travel",
        scope_name="semtrace",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "supervisor"},
        resource={"service.name": "travel"},
    ),
    SpanRecord(
        trace_id=T1,
        span_id="2" * 16,
        parent_span_id="1" * 16,
        name="execute_tool search_flights",
        kind="INTERNAL",
        start_ns=T0 + 10 * MS,
        end_ns=T0 + 30 * MS,
        service_name="travel",
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search_flights",
            "gen_ai.tool.call.arguments": '{"origin": "LIS"}',
            "semtrace.agent.name": "supervisor",
        },
        links=(SpanLinkRecord(T2, "4" * 16, {"messaging.operation.type": "receive"}),),
    ),
    SpanRecord(
        trace_id=T1,
        span_id="3" * 16,
        parent_span_id="1" * 16,
        name="chat gpt-4o-mini",
        kind="CLIENT",
        start_ns=T0 + 30 * MS,
        end_ns=T0 + 80 * MS,
        service_name="travel",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 500,
            "gen_ai.conversation.id": "sess-1",
            "semtrace.agent.name": "supervisor",
        },
    ),
)

SENTENCE = "The procurement agent's tool lookup_vendor failed after 150 ms; KeyError: 'vendor_id'"

BILLING = (
    SpanRecord(
        trace_id=T2,
        span_id="4" * 16,
        parent_span_id=None,
        name="invoke_agent procurement",
        kind="INTERNAL",
        start_ns=T0 + 1000 * MS,
        end_ns=T0 + 1200 * MS,
        status_code="ERROR",
        status_message="The procurement agent failed",
        service_name="billing",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "procurement"},
    ),
    SpanRecord(
        trace_id=T2,
        span_id="5" * 16,
        parent_span_id="4" * 16,
        name="execute_tool lookup_vendor",
        kind="INTERNAL",
        start_ns=T0 + 1010 * MS,
        end_ns=T0 + 1160 * MS,
        status_code="ERROR",
        status_message=SENTENCE,
        service_name="billing",
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "lookup_vendor",
            "semtrace.agent.name": "procurement",
        },
        events=(
            SpanEventRecord(
                "exception",
                T0 + 1160 * MS,
                {
                    "exception.type": "KeyError",
                    "exception.message": "'vendor_id'",
                    "exception.stacktrace": "Traceback (most recent call last): ...",
                },
            ),
        ),
    ),
)

VENDOR_LOG = (
    "The procurement agent failed to retrieve the vendor ID because the Last-updated field "
    "was null, so no valid match could be made"
)

LOGS = (
    LogRecord(
        time_ns=T0 + 1150 * MS,
        message=VENDOR_LOG,
        severity="ERROR",
        template="{agent} failed to {action} because {cause}, so {impact}",
        trace_id=T2,
        span_id="5" * 16,
        agent_name="procurement",
        service_name="billing",
        action="retrieve the vendor ID",
        cause="the Last-updated field was null",
        impact="no valid match could be made",
        log_id="log-vendor",
    ),
    LogRecord(
        time_ns=T0 + 2000 * MS,
        message="disk almost full",
        severity="ERROR",
        service_name="billing",
        attributes={"error.type": "OSError"},
        log_id="log-disk",
    ),
    LogRecord(
        time_ns=T0 + 20 * MS,
        message="found 3 flights",
        trace_id=T1,
        span_id="2" * 16,
        agent_name="supervisor",
        log_id="log-info",
    ),
)

# gpt-4o-mini at $0.15 / $0.60 per 1M tokens
TRAVEL_COST = (1000 * 0.15 + 500 * 0.60) / 1e6


def load(store: Store) -> None:
    """Write the dataset: spans, logs, one fingerprinted failure with its diagnosis."""
    store.write_spans([*TRAVEL, *BILLING])
    store.write_logs(LOGS)
    created = datetime(2026, 1, 1, 1, tzinfo=UTC)
    store.execute(
        "INSERT INTO failure_fingerprints (fingerprint, trace_id, span_id, failure_kind, time) "
        "VALUES ('fp1', ?, ?, 'span', ?)",
        [T2, "5" * 16, created],
    )
    for summary, minutes in (("an older diagnosis", 0), ("vendor record has no date", 5)):
        store.execute(
            "INSERT INTO diagnoses (fingerprint, created_at, status, summary, root_cause, "
            "category, remediations, provider) VALUES ('fp1', ?, 'ok', ?, ?, 'missing_data', ?, "
            "'rules')",
            [
                created.replace(minute=minutes),
                summary,
                "Last-updated is null",
                json.dumps([{"action": "fix_input"}]),
            ],
        )
