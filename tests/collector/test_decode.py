"""OTLP decoding: every AnyValue kind, in protobuf and JSON, gives the same records."""

from __future__ import annotations

import base64

import orjson
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from semtrace.collector.otlp_decode import (
    decode_spans_json,
    decode_spans_protobuf_rows,
    severity_name,
)
from semtrace.store.model import SpanRecord

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN = bytes.fromhex("b7ad6b7169203331")


def _protobuf() -> bytes:
    req = trace_service_pb2.ExportTraceServiceRequest()
    s = req.resource_spans.add().scope_spans.add().spans.add()
    s.trace_id, s.span_id, s.name, s.kind = TRACE, SPAN, "s", 4
    s.start_time_unix_nano, s.end_time_unix_nano = 10, 20
    values = {
        "str": common_pb2.AnyValue(string_value="x"),
        "empty": common_pb2.AnyValue(string_value=""),
        "int": common_pb2.AnyValue(int_value=-(2**62)),
        "zero": common_pb2.AnyValue(int_value=0),
        "float": common_pb2.AnyValue(double_value=1.5),
        "bool": common_pb2.AnyValue(bool_value=False),
        "bytes": common_pb2.AnyValue(bytes_value=b"\x00\x01"),
        "list": common_pb2.AnyValue(
            array_value=common_pb2.ArrayValue(
                values=[common_pb2.AnyValue(string_value="a"), common_pb2.AnyValue(int_value=2)]
            )
        ),
        "map": common_pb2.AnyValue(
            kvlist_value=common_pb2.KeyValueList(
                values=[common_pb2.KeyValue(key="k", value=common_pb2.AnyValue(bool_value=True))]
            )
        ),
    }
    s.attributes.extend(common_pb2.KeyValue(key=k, value=v) for k, v in values.items())
    return req.SerializeToString()


def _json() -> bytes:
    attrs = {
        "str": {"stringValue": "x"},
        "empty": {"stringValue": ""},
        "int": {"intValue": str(-(2**62))},
        "zero": {"intValue": 0},
        "float": {"doubleValue": 1.5},
        "bool": {"boolValue": False},
        "bytes": {"bytesValue": base64.b64encode(b"\x00\x01").decode()},
        "list": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "2"}]}},
        "map": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": True}}]}},
    }
    span = {
        "traceId": TRACE.hex().upper(),
        "spanId": SPAN.hex(),
        "name": "s",
        "kind": 4,
        "startTimeUnixNano": "10",
        "endTimeUnixNano": 20,
        "attributes": [{"key": k, "value": v} for k, v in attrs.items()],
    }
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


def test_protobuf_and_json_decode_to_the_same_record() -> None:
    """Both encodings give one PRODUCER span with identical typed attribute values."""
    [pb] = [SpanRecord(*row) for row in decode_spans_protobuf_rows(_protobuf()).rows]
    [js] = decode_spans_json(_json()).spans
    assert pb == js
    assert (pb.trace_id, pb.span_id, pb.kind, pb.start_ns, pb.end_ns) == (
        TRACE.hex(),
        SPAN.hex(),
        "PRODUCER",
        10,
        20,
    )
    assert dict(pb.attributes) == {
        "str": "x",
        "empty": "",
        "int": -(2**62),
        "zero": 0,
        "float": 1.5,
        "bool": False,
        "bytes": "AAE=",
        "list": ["a", 2],
        "map": {"k": True},
    }


def test_severity_names_follow_the_otlp_ranges() -> None:
    """Severity numbers map by ranges of four; without a number the text decides."""
    got = [severity_name(n) for n in (1, 5, 9, 12, 13, 17, 21, 24)]
    assert got == ["TRACE", "DEBUG", "INFO", "INFO", "WARNING", "ERROR", "CRITICAL", "CRITICAL"]
    assert severity_name(0, "warn") == "WARNING"
    assert severity_name(0, "fatal") == "CRITICAL"
    assert severity_name(0, None) == "INFO"


def test_json_ids_that_are_not_exactly_hex_are_rejected() -> None:
    """Ids with spaces, wrong lengths, non-hex characters or all zeros reject their span."""
    bad_ids = ["b7ad6b71 9203331", "b7ad6b716920333", "b7ad6b716920333g", "0" * 16, 12345]
    spans = [
        {"traceId": TRACE.hex(), "spanId": sid, "name": f"bad-{i}"} for i, sid in enumerate(bad_ids)
    ]
    spans.append({"traceId": TRACE.hex(), "spanId": SPAN.hex().upper(), "name": "good"})
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    decoded = decode_spans_json(body)
    assert [s.name for s in decoded.spans] == ["good"]
    assert decoded.spans[0].span_id == SPAN.hex()
    assert decoded.rejected == len(bad_ids)
