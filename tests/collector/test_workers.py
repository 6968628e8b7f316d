"""Decoding in worker processes gives the same rows and answers as decoding in-process."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import orjson
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from semtrace.collector.server import Collector
from tests.collector.conftest import post, rows, span_request

SPANS = [
    {"name": "chat gpt-4o", "kind": 3, "attributes": {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
        "gen_ai.agent.name": "planner"}},
    {"name": "tools/call lookup", "attributes": {"mcp.method.name": "tools/call"}},
    {"name": "bad", "span_id": b"\x01"},
]  # fmt: skip
COLUMNS = "name, kind, agent_name, operation, tool_name, model, input_tokens, cost_usd, attributes"


def _ingest(c: Collector) -> tuple[int, list[tuple[object, ...]], list[tuple[object, ...]]]:
    req = span_request(SPANS)
    for i, s in enumerate(req.resource_spans[0].scope_spans[0].spans):
        s.span_id = s.span_id if len(s.span_id) != 8 else bytes([i + 1]) * 8
    reply = post(c.url, "/v1/traces", req.SerializeToString())
    assert reply.status == 200
    rejected = trace_service_pb2.ExportTraceServiceResponse.FromString(
        reply.body
    ).partial_success.rejected_spans
    logs = orjson.dumps(
        {"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"timeUnixNano": "7", "severityNumber": 13, "body": {"stringValue": "slow"}}]}]}]}
    )  # fmt: skip
    assert post(c.url, "/v1/logs", logs, "application/json").status == 200
    return (
        rejected,
        rows(c, f"select {COLUMNS} from spans order by name"),
        rows(c, "select time_ns, severity, message from logs"),
    )


def test_workers_store_what_inline_decoding_stores(
    make_collector: Callable[..., Collector], tmp_path: object
) -> None:
    """Spans, logs and partial-success counts match between decode_workers=1 and 0."""
    inline = make_collector(db=f"{tmp_path}/inline.duckdb")
    pooled = make_collector(db=f"{tmp_path}/pooled.duckdb", decode_workers=1)
    assert pooled.pool is not None
    assert _ingest(pooled) == _ingest(inline)
    assert _ingest(pooled)[0] == 1


def test_a_bad_body_is_400_and_a_dead_worker_is_503_then_replaced(
    make_collector: Callable[..., Collector], tmp_path: object
) -> None:
    """A malformed body decoded by a worker is a 400; when a worker dies the request gets a
    retryable 503 and the pool is restarted for the next one."""
    c = make_collector(decode_workers=1)
    assert c.pool is not None
    assert post(c.url, "/v1/traces", b"\xff\xff garbage").status == 400
    for pid in c.pool.worker_pids():
        os.kill(pid, signal.SIGKILL)
    body = span_request([{"name": "after-crash"}]).SerializeToString()
    first = post(c.url, "/v1/traces", body)
    assert (first.status, first.headers.get("retry-after")) == (503, "1")
    assert post(c.url, "/v1/traces", body).status == 200
    assert rows(c, "select name from spans") == [("after-crash",)]
