"""A lean view of ``ExportTraceServiceRequest`` for the collector's hot path.

The OTLP messages parse fast in upb, but reading them from Python is slow: every
``KeyValue`` and ``AnyValue`` becomes a wrapper object, about 0.5 us per attribute. This
module declares wire-compatible messages (same field numbers and wire types) that keep each
attribute as its raw ``KeyValue`` bytes (``repeated bytes attributes``), only the span fields
the store reads, and decodes an attribute's bytes in Python: the common shapes (string, int,
double, bool values) by hand, anything else through the real ``KeyValue`` message. A decoded
``(key, scalar)`` pair is cached by its bytes, since agents repeat most attributes (operation,
provider, model, agent name) span after span.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.common.v1 import common_pb2

__all__ = [
    "LeanEvent",
    "LeanLink",
    "LeanStatus",
    "LeanTraceRequest",
    "any_value",
    "decode_attributes",
]

_F = descriptor_pb2.FieldDescriptorProto
_OPT, _REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_PKG = "semtrace.collector.lean"


def _build() -> Any:
    fp = descriptor_pb2.FileDescriptorProto(
        name="semtrace_collector_lean_otlp.proto", package=_PKG, syntax="proto3"
    )

    def message(name: str, fields: list[tuple[str, int, int, int, str | None]]) -> None:
        m = fp.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = f".{_PKG}.{type_name}"

    b, s, msg = _F.TYPE_BYTES, _F.TYPE_STRING, _F.TYPE_MESSAGE
    message("Status", [("message", 2, s, _OPT, None), ("code", 3, _F.TYPE_INT32, _OPT, None)])
    message(
        "Event",
        [
            ("time_unix_nano", 1, _F.TYPE_FIXED64, _OPT, None),
            ("name", 2, s, _OPT, None),
            ("attributes", 3, b, _REP, None),
        ],
    )
    message(
        "Link",
        [
            ("trace_id", 1, b, _OPT, None),
            ("span_id", 2, b, _OPT, None),
            ("attributes", 4, b, _REP, None),
        ],
    )
    message(
        "Span",
        [
            ("trace_id", 1, b, _OPT, None),
            ("span_id", 2, b, _OPT, None),
            ("parent_span_id", 4, b, _OPT, None),
            ("name", 5, s, _OPT, None),
            ("kind", 6, _F.TYPE_INT32, _OPT, None),
            ("start_time_unix_nano", 7, _F.TYPE_FIXED64, _OPT, None),
            ("end_time_unix_nano", 8, _F.TYPE_FIXED64, _OPT, None),
            ("attributes", 9, b, _REP, None),
            # Raw bytes, parsed only when present (most spans have none): reading a bytes
            # field costs less than wrapping a sub-message.
            ("events", 11, b, _REP, None),
            ("links", 13, b, _REP, None),
            ("status", 15, b, _OPT, None),
        ],
    )
    message("Scope", [("name", 1, s, _OPT, None)])
    message("ScopeSpans", [("scope", 1, msg, _OPT, "Scope"), ("spans", 2, msg, _REP, "Span")])
    message("Resource", [("attributes", 1, b, _REP, None)])
    message(
        "ResourceSpans",
        [("resource", 1, msg, _OPT, "Resource"), ("scope_spans", 2, msg, _REP, "ScopeSpans")],
    )
    message("Request", [("resource_spans", 1, msg, _REP, "ResourceSpans")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fp)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PKG}.{name}"))
        for name in ("Request", "Status", "Event", "Link")
    }


_CLASSES: dict[str, Any] = _build()
LeanTraceRequest: Any = _CLASSES["Request"]
"""Parses an ``ExportTraceServiceRequest`` body; attributes stay raw ``KeyValue`` bytes."""
LeanStatus: Any = _CLASSES["Status"]
LeanEvent: Any = _CLASSES["Event"]
LeanLink: Any = _CLASSES["Link"]

_unpack_double = struct.Struct("<d").unpack_from
_KeyValue = common_pb2.KeyValue

# (key, value) by the KeyValue's bytes; scalar values only (a list or dict would be shared).
_CACHE: dict[bytes, tuple[str, Any]] = {}
_CACHE_MAX = 65_536


def any_value(v: Any) -> Any:
    """The Python value of a real ``AnyValue`` message (bytes as base64, like OTLP JSON)."""
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return v.double_value
    if which == "bool_value":
        return v.bool_value
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    return None


def _slow(raw: bytes) -> tuple[str, Any]:
    kv = _KeyValue.FromString(raw)  # DecodeError for a malformed attribute
    return kv.key, any_value(kv.value)


def _kv(raw: bytes) -> tuple[str, Any]:
    """Decode one ``KeyValue``'s bytes; the usual shapes inline, the rest via protobuf.

    Inline only when the bytes are exactly ``key(1) value(2)`` with one- or two-byte
    lengths and a string/bool/int/double value filling the value; UTF-8 is checked by
    ``decode`` (UnicodeDecodeError, which the caller turns into a 400)."""
    n = len(raw)
    if n < 4 or raw[0] != 0x0A:
        return _slow(raw)
    kl = raw[1]
    i = 2
    if kl & 0x80:
        kl = (kl & 0x7F) | (raw[2] << 7)
        if kl >= 1 << 14:
            return _slow(raw)
        i = 3
    ke = i + kl
    if ke + 2 > n or raw[ke] != 0x12:
        return _slow(raw)
    vl = raw[ke + 1]
    j = ke + 2
    if vl & 0x80:
        if j >= n:
            return _slow(raw)
        vl = (vl & 0x7F) | (raw[j] << 7)
        if vl >= 1 << 14:
            return _slow(raw)
        j += 1
    if j + vl != n or vl < 2:
        return _slow(raw)
    tag = raw[j]
    if tag == 0x0A:  # string_value
        sl = raw[j + 1]
        k = j + 2
        if sl & 0x80:
            if k >= n:
                return _slow(raw)
            sl = (sl & 0x7F) | (raw[k] << 7)
            if sl >= 1 << 14:
                return _slow(raw)
            k += 1
        if k + sl != n:
            return _slow(raw)
        return raw[i:ke].decode(), raw[k:].decode()
    if tag == 0x18 or tag == 0x10:  # int_value, bool_value: one varint to the end
        value = 0
        shift = 0
        for k in range(j + 1, n):
            byte = raw[k]
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                if k + 1 != n or shift > 70:
                    return _slow(raw)
                if tag == 0x10:
                    return raw[i:ke].decode(), value != 0
                if value >= 1 << 63:
                    value -= 1 << 64
                return raw[i:ke].decode(), value
        return _slow(raw)
    if tag == 0x21 and vl == 9:  # double_value
        return raw[i:ke].decode(), _unpack_double(raw, j + 1)[0]
    return _slow(raw)


def decode_attributes(raws: Any) -> dict[str, Any]:
    """An attribute map from a ``repeated bytes`` of ``KeyValue`` encodings (last key wins).

    Raises ``google.protobuf.message.DecodeError`` or ``UnicodeDecodeError`` for a
    malformed attribute."""
    if not raws:
        return {}
    cache = _CACHE
    pairs: list[tuple[str, Any]] = []
    append = pairs.append
    for raw in raws:
        pair = cache.get(raw)
        if pair is None:
            pair = _kv(raw)
            value = pair[1]
            if value is None or type(value) in (str, int, float, bool):
                if len(cache) >= _CACHE_MAX:
                    cache.clear()
                cache[raw] = pair
        append(pair)
    return dict(pairs)
