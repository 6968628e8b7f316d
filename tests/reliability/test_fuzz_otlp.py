"""Thousands of hostile OTLP bodies: every one is answered with a 2xx or a 4xx (never a
crash or a 500), what is stored is sanitised, and the collector keeps serving."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from semtrace.collector.server import Collector, CollectorConfig
from tests.collector.conftest import get, post, span_request

FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
OK_OR_CLIENT_ERROR = {200, 400, 413, 415}


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    db = tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb"
    c = Collector(CollectorConfig(db=str(db), port=0, max_body_bytes=1024 * 1024))
    c.start()
    yield c
    c.stop()


def _valid_request() -> bytes:
    return span_request(
        [{"name": "chat gpt-4o", "attributes": {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 12}}]
    ).SerializeToString()


def _alive(c: Collector) -> None:
    assert get(c.url, "/health").status == 200


@FUZZ
@given(body=st.binary(max_size=2048))
def test_random_bytes_as_protobuf(collector: Collector, body: bytes) -> None:
    """Random bytes sent as protobuf get a 200 (they happened to parse) or a 400."""
    reply = post(collector.url, "/v1/traces", body)
    assert reply.status in OK_OR_CLIENT_ERROR, reply.body[:200]


@FUZZ
@given(data=st.data())
def test_mutated_protobuf(collector: Collector, data: st.DataObject) -> None:
    """A valid request with bytes flipped, cut or inserted is answered with 200 or 400."""
    body = bytearray(_valid_request())
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(len(body) - 1, 0)))
        if op == "flip" and body:
            body[pos] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del body[pos : pos + data.draw(st.integers(1, 16))]
        else:
            body[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
    reply = post(collector.url, "/v1/traces", bytes(body))
    assert reply.status in OK_OR_CLIENT_ERROR


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(doc=json_values)
def test_arbitrary_json_documents(collector: Collector, doc: object) -> None:
    """Any JSON document (wrong types, wrong shapes) gets a 200 or a 400, never a 500."""
    reply = post(collector.url, "/v1/traces", json.dumps(doc).encode(), "application/json")
    assert reply.status in OK_OR_CLIENT_ERROR, reply.body[:300]


@FUZZ
@given(
    trace_id=st.text(alphabet="0123456789abcdefABCDEFxyz-", max_size=40),
    span_id=st.text(alphabet="0123456789abcdefABCDEF", max_size=20),
    start=st.one_of(st.integers(-(2**63), 2**64), st.text(max_size=25)),
    name=st.text(max_size=300),
    value=json_values,
)
def test_otlp_json_with_hostile_fields(
    collector: Collector, trace_id: str, span_id: str, start: object, name: str, value: object
) -> None:
    """OTLP JSON with ids of wrong length or case, timestamps far out of range or not numbers,
    odd names and attribute values is answered with 200 or 400; stored ids are lowercase hex
    of the right length."""
    doc = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": name,
                                "kind": 1,
                                "startTimeUnixNano": start,
                                "endTimeUnixNano": "1700000000000000000",
                                "attributes": [{"key": "k", "value": {"stringValue": json.dumps(value)}}],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    reply = post(collector.url, "/v1/traces", json.dumps(doc).encode(), "application/json")
    assert reply.status in OK_OR_CLIENT_ERROR, reply.body[:300]


def test_stored_rows_are_sanitised_and_collector_still_serves(collector: Collector) -> None:
    """After all the fuzzing, every stored id is lowercase hex of the right length, names are
    valid text without NUL bytes, and the collector answers health checks and queries."""
    _alive(collector)
    bad = collector.sandbox.run(
        "select count(*) as n from spans where not regexp_full_match(trace_id, '[0-9a-f]{32}') "
        "or not regexp_full_match(span_id, '[0-9a-f]{16}') or contains(name, chr(0))"
    ).table.to_pylist()
    assert bad[0]["n"] == 0


def test_huge_and_deep_values(collector: Collector) -> None:
    """Huge attribute values are truncated with a marker, deep nesting is answered, invalid
    UTF-8 and NUL bytes in strings are stored sanitised or refused with a 400."""
    huge = "x" * 500_000
    req = span_request([{"name": "big", "attributes": {"huge": huge}}])
    assert post(collector.url, "/v1/traces", req.SerializeToString()).status == 200
    rows = collector.sandbox.run(
        "select length(json_extract_string(attributes, '$.huge')) as n, "
        "json_extract_string(attributes, '$.huge') as v from spans where name = 'big'"
    ).table.to_pylist()
    assert rows and rows[0]["n"] < 500_000
    deep: object = "leaf"
    for _ in range(200):
        deep = {"kvlistValue": {"values": [{"key": "k", "value": deep}]}}
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "deep",
        "startTimeUnixNano": "1", "endTimeUnixNano": "2",
        "attributes": [{"key": "deep", "value": deep}]}]}]}]}
    assert post(collector.url, "/v1/traces", json.dumps(doc).encode(), "application/json").status in OK_OR_CLIENT_ERROR
    raw = span_request([{"name": "nul\x00name", "attributes": {"s": "a\x00b"}}]).SerializeToString()
    raw = raw.replace(b"nul\x00name", b"nul\xff\xfename")  # invalid UTF-8 inside a string field
    assert post(collector.url, "/v1/traces", raw).status in OK_OR_CLIENT_ERROR
    _alive(collector)


def test_gzip_bombs_are_refused(collector: Collector) -> None:
    """A small gzip body that inflates past the limit is refused with 413, whatever its shape."""
    rng = random.Random(7)
    for size in (2 * 1024 * 1024, 16 * 1024 * 1024):
        for filler in (b"\0", bytes(rng.getrandbits(8) for _ in range(16))):
            body = gzip.compress(filler * (size // len(filler)))
            reply = post(collector.url, "/v1/traces", body, headers={"Content-Encoding": "gzip"})
            assert reply.status == 413
    _alive(collector)


def test_valid_request_after_fuzz_is_stored(collector: Collector) -> None:
    """A well-formed request after all of the above is still accepted and committed."""
    req = trace_service_pb2.ExportTraceServiceRequest()
    req.CopyFrom(span_request([{"name": "after-fuzz"}]))
    assert post(collector.url, "/v1/traces", req.SerializeToString()).status == 200
    rows = collector.sandbox.run("select count(*) as n from spans where name = 'after-fuzz'").table.to_pylist()
    assert rows[0]["n"] == 1
