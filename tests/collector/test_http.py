"""The OTLP/HTTP receiver's status codes and response bodies, against a real server."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from semtrace.collector.server import Collector
from tests.collector.conftest import get, post, rows, span_request

TRACE_ID = "5b8efff798038103d269b633813fc60c"
PROTOBUF_TYPE = "application/x-protobuf"


def _json_span(span_id: str, **extra: object) -> dict[str, object]:
    return {
        "traceId": TRACE_ID,
        "spanId": span_id,
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000250000000",
        "status": {"code": 2, "message": "rate limited"},
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1200"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 80}},
            {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.5}},
            {"key": "gen_ai.request.stream", "value": {"boolValue": True}},
            {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
        ],
        **extra,
    }


def _json_request(*spans: dict[str, object]) -> bytes:
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]
                    },
                    "scopeSpans": [{"scope": {"name": "js-scope"}, "spans": list(spans)}],
                    "someFutureField": {"ignored": True},
                }
            ]
        }
    )


def test_protobuf_spans_answer_200_with_an_empty_protobuf_response(collector: Collector) -> None:
    """A protobuf export is committed and answered 200 with an ExportTraceServiceResponse."""
    req = span_request([{"name": "invoke_agent planner", "attributes": {"gen_ai.agent.name": "p"}}])
    reply = post(collector.url, "/v1/traces", req.SerializeToString())
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/x-protobuf"
    resp = trace_service_pb2.ExportTraceServiceResponse.FromString(reply.body)
    assert not resp.HasField("partial_success")
    assert rows(collector, "select name, agent_name, service_name, scope_name from spans") == [
        ("invoke_agent planner", "p", "svc", "test-scope")
    ]


def test_json_spans_use_hex_ids_string_int64s_and_int_enums(collector: Collector) -> None:
    """OTLP JSON: hex ids (any case), decimal-string int64s, int enums, unknown fields ignored."""
    body = _json_request(_json_span("EEE19B7EC3C1B174", parentSpanId="", futureField=1))
    reply = post(collector.url, "/v1/traces", body, "application/json")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert orjson.loads(reply.body) == {}
    got = rows(
        collector,
        """select trace_id, span_id, parent_span_id, kind, start_time_ns, end_time_ns,
                  status_code, status_message, service_name, scope_name, input_tokens,
                  output_tokens, attributes->>'$."gen_ai.request.stream"',
                  attributes->>'$.tags[0]'
           from spans""",
    )
    assert got == [
        (
            TRACE_ID,
            "eee19b7ec3c1b174",
            None,
            "CLIENT",
            1700000000000000000,
            1700000000250000000,
            "ERROR",
            "rate limited",
            "js",
            "js-scope",
            1200,
            80,
            "true",
            "a",
        )
    ]


def test_empty_requests_are_accepted(collector: Collector) -> None:
    """An empty export request is a 200 in both encodings."""
    assert post(collector.url, "/v1/traces", b"").status == 200
    assert post(collector.url, "/v1/traces", b"{}", "application/json").status == 200
    assert post(collector.url, "/v1/logs", b"{}", "application/json").status == 200


def test_a_bad_span_is_rejected_with_partial_success_json(collector: Collector) -> None:
    """A span with a malformed id is counted in partialSuccess; the good one is stored."""
    body = _json_request(_json_span("aaaaaaaaaaaaaaaa"), _json_span("not-hex!"))
    reply = post(collector.url, "/v1/traces", body, "application/json")
    assert reply.status == 200
    doc = orjson.loads(reply.body)
    assert doc["partialSuccess"]["rejectedSpans"] == "1"
    assert "spanId must be 16 hex characters" in doc["partialSuccess"]["errorMessage"]
    assert rows(collector, "select span_id from spans") == [("aaaaaaaaaaaaaaaa",)]


def test_a_bad_span_is_rejected_with_partial_success_protobuf(collector: Collector) -> None:
    """A protobuf span whose span_id is not 8 bytes is rejected and counted."""
    req = span_request([{"name": "ok"}, {"name": "bad", "span_id": b"\x01\x02"}])
    reply = post(collector.url, "/v1/traces", req.SerializeToString())
    assert reply.status == 200
    resp = trace_service_pb2.ExportTraceServiceResponse.FromString(reply.body)
    assert resp.partial_success.rejected_spans == 1
    assert "span 'bad'" in resp.partial_success.error_message
    assert rows(collector, "select name from spans") == [("ok",)]


def test_malformed_bodies_are_400_with_a_status_in_the_request_type(collector: Collector) -> None:
    """Garbage protobuf and invalid JSON are 400 with a google.rpc.Status saying why."""
    reply = post(collector.url, "/v1/traces", b"\xff\xff\xff\xff not protobuf")
    assert reply.status == 400
    status = status_pb2.Status.FromString(reply.body)
    assert "not a valid protobuf" in status.message
    reply = post(collector.url, "/v1/logs", b"{not json", "application/json")
    assert reply.status == 400
    assert "not valid JSON" in orjson.loads(reply.body)["message"]
    reply = post(collector.url, "/v1/traces", b'{"resourceSpans": 3}', "application/json")
    assert reply.status == 400


def test_other_content_types_are_415(collector: Collector) -> None:
    """A body that is neither protobuf nor JSON is refused with 415."""
    reply = post(collector.url, "/v1/traces", b"hello", "text/plain")
    assert reply.status == 415
    assert "application/x-protobuf" in orjson.loads(reply.body)["message"]


def test_gzip_bodies_are_decompressed(collector: Collector) -> None:
    """A gzip (or deflate) request body is inflated before decoding."""
    req = span_request([{"name": "zipped"}])
    reply = post(
        collector.url,
        "/v1/traces",
        gzip.compress(req.SerializeToString()),
        headers={"Content-Encoding": "gzip"},
    )
    assert reply.status == 200
    req = span_request([{"name": "deflated"}])
    reply = post(
        collector.url,
        "/v1/traces",
        zlib.compress(req.SerializeToString()),
        headers={"Content-Encoding": "deflate"},
    )
    assert reply.status == 200
    assert sorted(rows(collector, "select name from spans")) == [("deflated",), ("zipped",)]


def test_bodies_over_the_limit_are_413(make_collector: Callable[..., Collector]) -> None:
    """A body over max_body_bytes is 413, and so is a small gzip that inflates past it."""
    c = make_collector(max_body_bytes=100_000)
    reply = post(c.url, "/v1/traces", b"\0" * 200_000)
    assert reply.status == 413
    bomb = gzip.compress(b"\0" * 20_000_000)
    assert len(bomb) < 100_000
    reply = post(c.url, "/v1/traces", bomb, headers={"Content-Encoding": "gzip"})
    assert reply.status == 413
    assert "decompressed" in status_pb2.Status.FromString(reply.body).message
    assert rows(c, "select count(*) from spans") == [(0,)]


def test_unknown_content_encoding_is_415(collector: Collector) -> None:
    """A Content-Encoding the server cannot inflate is refused, not misread."""
    reply = post(collector.url, "/v1/traces", b"xx", headers={"Content-Encoding": "br"})
    assert reply.status == 415


def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout_s`` (never spin forever)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the collector"
        time.sleep(0.01)


def test_a_full_queue_answers_429_with_retry_after(
    make_collector: Callable[..., Collector],
) -> None:
    """While the writer is stuck and the queue is full, new requests get 429 + Retry-After."""
    c = make_collector(max_pending=3)
    body = span_request([{"name": "a"}, {"name": "b"}]).SerializeToString()
    replies: list[int] = []
    with c.ingest.paused():  # the writer takes the first request, then waits
        first = threading.Thread(
            target=lambda: replies.append(post(c.url, "/v1/traces", body).status)
        )
        first.start()
        # The first request was taken by the (held) writer, then the second one queues.
        wait_until(lambda: c.ingest.stats.pending_peak > 0 and c.ingest.pending == 0)
        second = threading.Thread(
            target=lambda: replies.append(post(c.url, "/v1/traces", body).status)
        )
        second.start()
        wait_until(lambda: c.ingest.pending > 0)
        reply = post(c.url, "/v1/traces", body)
        assert reply.status == 429
        assert reply.headers["retry-after"] == "1"
        assert "wait for a commit" in status_pb2.Status.FromString(reply.body).message
    first.join()
    second.join()
    assert replies == [200, 200]
    assert rows(c, "select count(*) from spans") == [(4,)]


def test_a_commit_that_does_not_finish_in_time_is_503(
    make_collector: Callable[..., Collector],
) -> None:
    """A request whose commit does not finish within ack_timeout_s gets 503 + Retry-After."""
    c = make_collector(ack_timeout_s=0.2)
    body = span_request([{"name": "slow"}]).SerializeToString()
    with c.ingest.paused():
        reply = post(c.url, "/v1/traces", body)
    assert reply.status == 503
    assert reply.headers["retry-after"] == "1"


def test_metrics_are_a_clear_404_and_health_answers(collector: Collector) -> None:
    """/v1/metrics says semtrace does not store metrics; GET /health reports counters."""
    reply = post(collector.url, "/v1/metrics", b"")
    assert reply.status == 404
    assert "not metrics" in status_pb2.Status.FromString(reply.body).message
    health = get(collector.url, "/health")
    assert health.status == 200
    doc = orjson.loads(health.body)
    assert doc["status"] == "ok" and doc["db"] == collector.db and doc["spans_committed"] == 0


def test_a_token_protects_every_endpoint(make_collector: Callable[..., Collector]) -> None:
    """With a token, requests without the bearer header are 401; with it they pass."""
    c = make_collector(token="s3cret")
    body = span_request([{"name": "x"}]).SerializeToString()
    assert post(c.url, "/v1/traces", body).status == 401
    assert get(c.url, "/health").status == 401
    query = orjson.dumps({"sql": "select 1"})
    assert post(c.url, "/v1/query", query, "application/json").status == 401
    wrong = {"Authorization": "Bearer nope"}
    assert post(c.url, "/v1/traces", body, headers=wrong).status == 401
    good = {"Authorization": "Bearer s3cret"}
    assert post(c.url, "/v1/traces", body, headers=good).status == 200
    assert get(c.url, "/health", headers=good).status == 200


def test_json_logs_land_with_body_event_name_severity_and_trace_context(
    collector: Collector,
) -> None:
    """An OTLP JSON log record becomes a logs row: body as message, severity, ids, event."""
    body = orjson.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "ts"}}]
                    },
                    "scopeLogs": [
                        {
                            "scope": {"name": "app.logger"},
                            "logRecords": [
                                {
                                    "timeUnixNano": "1700000000000000001",
                                    "severityNumber": 17,
                                    "severityText": "ERROR",
                                    "body": {"stringValue": "vendor lookup failed"},
                                    "eventName": "gen_ai.client.operation.exception",
                                    "traceId": TRACE_ID.upper(),
                                    "spanId": "eee19b7ec3c1b174",
                                    "attributes": [
                                        {"key": "gen_ai.agent.name", "value": {"stringValue": "p"}},
                                        {"key": "vendor", "value": {"stringValue": "acme"}},
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )
    reply = post(collector.url, "/v1/logs", body, "application/json")
    assert reply.status == 200
    got = rows(
        collector,
        """select time_ns, severity, severity_number, message, event_name, trace_id, span_id,
                  service_name, logger_name, agent_name, attributes->>'vendor' from logs""",
    )
    assert got == [
        (
            1700000000000000001,
            "ERROR",
            17,
            "vendor lookup failed",
            "gen_ai.client.operation.exception",
            TRACE_ID,
            "eee19b7ec3c1b174",
            "ts",
            "app.logger",
            "p",
            "acme",
        )
    ]


def test_protobuf_logs_answer_a_logs_response(collector: Collector) -> None:
    """A protobuf log export gets an ExportLogsServiceResponse; a bad id is partial success."""
    req = logs_service_pb2.ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    good = sl.log_records.add()
    good.time_unix_nano = 5
    good.severity_number = 13
    good.body.string_value = "slow vendor API"
    bad = sl.log_records.add()
    bad.trace_id = b"\x01"
    reply = post(collector.url, "/v1/logs", req.SerializeToString())
    assert reply.status == 200
    resp = logs_service_pb2.ExportLogsServiceResponse.FromString(reply.body)
    assert resp.partial_success.rejected_log_records == 1
    assert rows(collector, "select severity, message from logs") == [("WARNING", "slow vendor API")]


def _raw_exchange(url: str, request: bytes) -> bytes:
    """Send raw bytes on one connection and read the reply until the server closes it.

    Only for small requests the server answers with Connection: close: they fit the socket
    buffers, so sending never races the server closing (no broken pipe)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        reply = b""
        while data := sock.recv(65536):
            reply += data
    return reply


def _chunked(body: bytes, size: int) -> bytes:
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def test_chunked_bodies_within_the_limit_are_stored(collector: Collector) -> None:
    """A chunked body (no Content-Length) is read chunk by chunk and stored like any other,
    and the connection stays usable for the next request."""
    import http.client

    body = span_request([{"name": "chunked-a"}, {"name": "chunked-b"}]).SerializeToString()
    host, port = collector.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
        conn.request(
            "POST",
            "/v1/traces",
            body=iter(pieces),
            headers={"Content-Type": PROTOBUF_TYPE},
            encode_chunked=True,
        )
        first = conn.getresponse()
        assert (first.status, first.read()) == (200, b"")
        again = span_request([{"name": "after-chunked"}]).SerializeToString()
        conn.request("POST", "/v1/traces", body=again, headers={"Content-Type": PROTOBUF_TYPE})
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert rows(collector, "select name from spans order by name") == [
        ("after-chunked",),
        ("chunked-a",),
        ("chunked-b",),
    ]


def test_chunked_bodies_over_the_limit_are_413(make_collector: Callable[..., Collector]) -> None:
    """A chunked body past the size limit is refused with 413 (as a Content-Length one is)
    and the connection is closed: the rest of the body is never read as a request."""
    c = make_collector(max_body_bytes=1024)
    body = span_request([{"name": "x" * 3000}]).SerializeToString()
    request = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body, 512)
    )
    reply = _raw_exchange(c.url, request)
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"Connection: close" in head
    assert "1024-byte limit" in status_pb2.Status.FromString(payload).message
    assert rows(c, "select count(*) from spans") == [(0,)]


def test_a_malformed_chunk_size_is_400(collector: Collector) -> None:
    """A chunk size that is not hex is a 400, not a crash or a hang."""
    request = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    )
    reply = _raw_exchange(collector.url, request)
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"hex" in reply


def test_a_taken_port_leaves_the_database_free(
    collector: Collector, make_collector: Callable[..., Collector], tmp_path: Path
) -> None:
    """A collector that cannot bind its port raises OSError and does not keep the file open."""
    db = tmp_path / "other.duckdb"
    with pytest.raises(OSError):
        make_collector(db=db, port=collector.port)
    make_collector(db=db)  # the file opens again: nobody holds it


def test_a_refused_request_with_an_unread_body_does_not_poison_keep_alive(
    make_collector: Callable[..., Collector],
) -> None:
    """After a 401 whose body was never read, the connection is closed (Connection: close)
    instead of reading the body as the next request; the client reconnects and succeeds."""
    import http.client

    c = make_collector(token="t")
    host, port = c.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    body = span_request([{"name": "after-401"}]).SerializeToString()
    try:
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": PROTOBUF_TYPE})
        first = conn.getresponse()
        first.read()
        assert (first.status, first.getheader("Connection")) == (401, "close")
        headers = {"Content-Type": PROTOBUF_TYPE, "Authorization": "Bearer t"}
        conn.request("POST", "/v1/traces", body=body, headers=headers)
        second = conn.getresponse()
        second.read()
        assert second.status == 200
    finally:
        conn.close()
    assert rows(c, "select name from spans") == [("after-401",)]
