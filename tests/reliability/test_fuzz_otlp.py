"""Thousands of hostile OTLP bodies: every one is answered with a 2xx or a 4xx (never a crash
or a 5xx), every row stored holds the store's invariants (ids lowercase hex of the right
length, end never before start, every text bounded, cut with a marker), and the collector keeps
serving. Each test has a collector of its own and checks what it stored itself."""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from semtrace.collector.server import Collector, CollectorConfig
from tests.collector.conftest import get, kv, post, span_request

FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
OK_OR_CLIENT_ERROR = {200, 400, 413, 415}
# The store's contract: a text longer than this is cut, and says so with a marker.
MAX_VALUE_CHARS = 32_768
MAX_STATUS_CHARS = 300  # semtrace.store.normalise.MAX_STATUS_CHARS
CUT = re.compile(r"…\[truncated (\d+) chars\]$")
HEX = "0123456789abcdef"
WITNESS = "witness span"  # stored before the test's own requests
AFTER = "after the fuzz"  # and after them


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """A collector for this test alone, holding one well-formed span (the witness), so the
    checks below always run over rows this test stored."""
    c = Collector(CollectorConfig(db=str(tmp_path / "fuzz.duckdb"), port=0, max_body_bytes=1 << 20))
    c.start()
    try:
        assert post(c.url, "/v1/traces", _valid_request(WITNESS)).status == 200
        yield c
    finally:
        c.stop()


def _valid_request(name: str = "chat gpt-4o") -> bytes:
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 12}
    return span_request([{"name": name, "attributes": attrs}]).SerializeToString()


def _rows(c: Collector, sql: str) -> list[dict[str, Any]]:
    return c.sandbox.run(sql).table.to_pylist()  # type: ignore[no-any-return]


def _text_columns(c: Collector) -> list[tuple[str, str, str]]:
    return [
        (r["table_name"], r["column_name"], r["data_type"])
        for r in _rows(
            c,
            "select c.table_name, c.column_name, c.data_type from information_schema.columns c "
            "join information_schema.tables t using (table_schema, table_name) "
            "where t.table_type = 'BASE TABLE' and c.table_schema = 'main' "
            "and c.data_type in ('VARCHAR', 'JSON')",
        )
    ]


def _string_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _string_leaves(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _string_leaves(v)


def _bounded(text: str) -> bool:
    """Within the bound, or cut at it with a marker that says how much was cut."""
    if len(text) <= MAX_VALUE_CHARS:
        return True
    return text[:MAX_VALUE_CHARS] + (m.group(0) if (m := CUT.search(text)) else "?") == text


def assert_stored_rows_sound(c: Collector) -> int:
    """A well-formed request is still accepted and stored, every stored row holds the
    invariants; returns how many spans the test's own requests stored."""
    assert post(c.url, "/v1/traces", _valid_request(AFTER)).status == 200
    ids = "regexp_full_match({col}, '[0-9a-f]{{{n}}}')"
    span_bad = _rows(
        c,
        f"select count(*) as n from spans where not {ids.format(col='trace_id', n=32)} "
        f"or not {ids.format(col='span_id', n=16)} "
        f"or (parent_span_id is not null and not {ids.format(col='parent_span_id', n=16)}) "
        "or start_time_ns < 0 or end_time_ns < start_time_ns or end_time < start_time "
        "or duration_ms < 0 "
        "or contains(name, chr(0))",
    )
    assert span_bad == [{"n": 0}]
    for table, cols in (
        ("span_events", (("trace_id", 32), ("span_id", 16))),
        ("span_links", (("trace_id", 32), ("span_id", 16), ("linked_trace_id", 32), ("linked_span_id", 16))),
    ):
        where = " or ".join(f"not {ids.format(col=col, n=n)}" for col, n in cols)
        assert _rows(c, f"select count(*) as n from {table} where {where}") == [{"n": 0}], table
    log_bad = _rows(
        c,
        f"select count(*) as n from logs where (trace_id is not null and not "
        f"{ids.format(col='trace_id', n=32)}) or (span_id is not null and not "
        f"{ids.format(col='span_id', n=16)})",
    )
    assert log_bad == [{"n": 0}]
    for table, column, data_type in _text_columns(c):
        if data_type == "VARCHAR":
            long = _rows(
                c,
                f'select "{column}" as v from "{table}" where length("{column}") > {MAX_VALUE_CHARS}',
            )
            assert all(_bounded(r["v"]) for r in long), (table, column)
        else:
            docs = _rows(c, f'select "{column}"::varchar as v from "{table}" where "{column}" is not null')
            for r in docs:
                assert all(_bounded(s) for s in _string_leaves(json.loads(r["v"]))), (table, column)
    assert get(c.url, "/health").status == 200
    (count,) = _rows(
        c,
        f"select count(*) as n, count(*) filter (name = '{WITNESS}') as w, "
        f"count(*) filter (name = '{AFTER}') as a from spans",
    )
    assert (count["w"], count["a"]) == (1, 1)
    return int(count["n"]) - 2


def test_random_bytes_as_protobuf(collector: Collector) -> None:
    """Random bytes sent as protobuf get a 200 (they happened to parse) or a 400."""

    @FUZZ
    @given(body=st.binary(max_size=2048))
    def send(body: bytes) -> None:
        reply = post(collector.url, "/v1/traces", body)
        assert reply.status in OK_OR_CLIENT_ERROR, reply.body[:200]

    send()
    assert_stored_rows_sound(collector)


def test_mutated_protobuf(collector: Collector) -> None:
    """A valid request with bytes flipped, cut or inserted is answered with 200 or 400, and
    the spans that survive the damage are stored sound."""

    @FUZZ
    @given(data=st.data())
    def send(data: st.DataObject) -> None:
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
        assert reply.status in OK_OR_CLIENT_ERROR, reply.body[:200]

    send()
    assert assert_stored_rows_sound(collector) > 0  # damaged spans were stored, and checked


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def test_arbitrary_json_documents(collector: Collector) -> None:
    """Any JSON document (wrong types, wrong shapes) gets a 200 or a 400, never a 5xx."""

    @FUZZ
    @given(doc=json_values)
    def send(doc: object) -> None:
        reply = post(collector.url, "/v1/traces", json.dumps(doc).encode(), "application/json")
        assert reply.status in OK_OR_CLIENT_ERROR, reply.body[:300]

    send()
    assert_stored_rows_sound(collector)


def _hex_id(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=HEX + HEX.upper(), min_size=n, max_size=n)


def _json_span(trace_id: str, span_id: str, start: object, end: object, name: str, value: object) -> bytes:
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": start,
        "endTimeUnixNano": end,
        "attributes": [{"key": "k", "value": {"stringValue": json.dumps(value)}}],
        "links": [{"traceId": trace_id, "spanId": span_id}],
    }
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


def test_otlp_json_with_hostile_fields(collector: Collector) -> None:
    """OTLP JSON with ids of wrong length or case, timestamps far out of range, out of order
    or not numbers, odd names and attribute values is answered with 200 or 400; the spans
    stored have lowercase hex ids and end no earlier than they start."""
    times = st.one_of(
        st.integers(1_600_000_000_000_000_000, 1_800_000_000_000_000_000),
        st.integers(-(2**63), 2**64),
        st.text(max_size=25),
    )

    @FUZZ
    @given(
        trace_id=st.one_of(_hex_id(32), st.text(alphabet=HEX + "ABCDEFxyz-", max_size=40)),
        span_id=st.one_of(_hex_id(16), st.text(alphabet=HEX + "ABCDEF", max_size=20)),
        start=times,
        end=times,
        name=st.text(max_size=300),
        value=json_values,
    )
    def send(trace_id: str, span_id: str, start: object, end: object, name: str, value: object) -> None:
        body = _json_span(trace_id, span_id, start, end, name, value)
        reply = post(collector.url, "/v1/traces", body, "application/json")
        assert reply.status in OK_OR_CLIENT_ERROR, reply.body[:300]

    send()
    assert assert_stored_rows_sound(collector) > 0


def test_times_out_of_order_or_out_of_range(collector: Collector) -> None:
    """A span that ends before it starts is stored ending when it starts; a time beyond
    what a 64-bit nanosecond timestamp holds is refused as a client error (partial success),
    in protobuf and JSON, for spans and logs alike, never a 5xx that loses the batch."""
    ordered = span_request([{"name": "backwards", "start": 2_000, "end": 1_000}])
    assert post(collector.url, "/v1/traces", ordered.SerializeToString()).status == 200
    for start, end in ((2**64 - 1, 1), (2**63, 2**63 + 5), (1, 2**63)):
        req = span_request([{"name": "far", "start": start, "end": end}])
        assert post(collector.url, "/v1/traces", req.SerializeToString()).status in (200, 400)
        body = _json_span("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", str(start), str(end), "far", 1)
        assert post(collector.url, "/v1/traces", body, "application/json").status in (200, 400)
    neg = _json_span("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "-5", "10", "negative", 1)
    assert post(collector.url, "/v1/traces", neg, "application/json").status in (200, 400)
    logs = logs_service_pb2.ExportLogsServiceRequest()
    logs.resource_logs.add().scope_logs.add().log_records.add(time_unix_nano=2**64 - 1)
    assert post(collector.url, "/v1/logs", logs.SerializeToString()).status in (200, 400)
    assert assert_stored_rows_sound(collector) == 1  # "backwards"
    assert _rows(collector, "select start_time_ns, end_time_ns from spans where name = 'backwards'") == [
        {"start_time_ns": 2_000, "end_time_ns": 2_000}
    ]
    assert _rows(collector, "select count(*) as n from logs") == [{"n": 0}]


def test_huge_and_deep_values(collector: Collector) -> None:
    """Huge texts (span name, status message, attribute, log body) are cut at the bound with a
    marker saying how much was cut; deep nesting is answered; invalid UTF-8 and NUL bytes in
    strings are stored sanitised or refused with a 400."""
    huge = "x" * 500_000
    req = span_request([{"name": "N" * 200_000, "message": "m" * 200_000, "attributes": {"huge": huge}}])
    assert post(collector.url, "/v1/traces", req.SerializeToString()).status == 200
    logs = logs_service_pb2.ExportLogsServiceRequest()
    record = logs.resource_logs.add().scope_logs.add().log_records.add(time_unix_nano=1_700_000_000_000_000_000)
    record.body.string_value = "L" * 200_000
    record.attributes.append(kv("huge", huge))
    assert post(collector.url, "/v1/logs", logs.SerializeToString()).status == 200
    (span,) = _rows(
        collector,
        "select name, status_message, json_extract_string(attributes, '$.huge') as huge "
        "from spans where name like 'NNN%'",
    )
    (log,) = _rows(collector, "select message, json_extract_string(attributes, '$.huge') as huge from logs")
    for text, original, limit in (
        (span["name"], 200_000, MAX_VALUE_CHARS),
        (span["status_message"], 200_000, MAX_STATUS_CHARS),  # a status is one short line
        (span["huge"], 500_000, MAX_VALUE_CHARS),
        (log["message"], 200_000, MAX_VALUE_CHARS),
        (log["huge"], 500_000, MAX_VALUE_CHARS),
    ):
        m = CUT.search(text)
        assert m is not None and int(m.group(1)) == original - limit
        assert len(text) == limit + len(m.group(0))
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
    assert assert_stored_rows_sound(collector) >= 1


def test_gzip_bombs_are_refused(collector: Collector) -> None:
    """A small gzip body that inflates past the limit is refused with 413, whatever its shape,
    and nothing of it is stored."""
    rng = random.Random(7)
    for size in (2 * 1024 * 1024, 16 * 1024 * 1024):
        for filler in (b"\0", bytes(rng.getrandbits(8) for _ in range(16))):
            body = gzip.compress(filler * (size // len(filler)))
            reply = post(collector.url, "/v1/traces", body, headers={"Content-Encoding": "gzip"})
            assert reply.status == 413
    assert assert_stored_rows_sound(collector) == 0
