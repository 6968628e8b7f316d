"""Decode OTLP/HTTP request bodies (protobuf or OTLP JSON) into the store's domain records.

OTLP JSON is not proto3 JSON: ids are hex, enums are ints, int64s are decimal strings (numbers
are accepted too) and unknown fields are ignored, so JSON is walked by hand instead of through
``json_format.Parse`` (which would read hex ids as base64). A body that cannot be parsed at all
raises :class:`DecodeError` (the server answers 400); a single bad span or log record is
rejected and counted (the server answers 200 with ``partial_success``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf.message import DecodeError as _PbDecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from semtrace import semconv as sc
from semtrace.collector._lean import (
    LeanEvent,
    LeanLink,
    LeanStatus,
    LeanTraceRequest,
    any_value,
    decode_attributes,
)
from semtrace.store.model import LogRecord, SpanEventRecord, SpanLinkRecord, SpanRecord

__all__ = [
    "DecodeError",
    "DecodedLogs",
    "DecodedSpanRows",
    "DecodedSpans",
    "SpanRows",
    "decode_logs_json",
    "decode_logs_protobuf",
    "decode_spans_json",
    "decode_spans_protobuf_rows",
    "severity_name",
]

_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS = ("UNSET", "OK", "ERROR")
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
# OTLP times are unsigned 64-bit; the store keeps signed 64-bit nanoseconds (until 2262).
_MAX_TIME_NS = 2**63 - 1
_BAD_TIME = "times must be nanoseconds since 1970 that a 64-bit timestamp holds"
_BAD_TIME_OR_LINK = f"{_BAD_TIME}, and link ids 16 and 8 bytes"
# UNSPECIFIED (and out of range) becomes INTERNAL, the SDK's default kind.
_KIND_NAMES = {i: name for i, name in enumerate(_KINDS)} | {0: "INTERNAL"}
_STATUS_NAMES = dict(enumerate(_STATUS))


class DecodeError(ValueError):
    """The request body is not a valid OTLP export request (HTTP 400)."""


@dataclass
class DecodedSpans:
    """The spans of one export request, plus how many were rejected and why."""

    spans: list[SpanRecord] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class DecodedLogs:
    """The log records of one export request, plus how many were rejected and why."""

    logs: list[LogRecord] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def severity_name(number: int, text: str | None = None) -> str:
    """The logs table's severity name for an OTLP severity number (ranges of four)."""
    if number <= 0:
        upper = (text or "").upper()
        if upper in ("WARN", "WARNING"):
            return "WARNING"
        if upper in ("TRACE", "DEBUG", "INFO", "ERROR", "CRITICAL"):
            return upper
        if upper == "FATAL":
            return "CRITICAL"
        return "INFO"
    if number <= 4:
        return "TRACE"
    if number <= 8:
        return "DEBUG"
    if number <= 12:
        return "INFO"
    if number <= 16:
        return "WARNING"
    if number <= 20:
        return "ERROR"
    return "CRITICAL"


# -- protobuf ---------------------------------------------------------------------------------


# The value of a real ``AnyValue`` message; one definition shared with the lean decoder.
_pb_value = any_value


def _pb_attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        v = kv.value
        # This loop is the collector's hottest path: most values are non-empty strings, and
        # reading string_value first saves a WhichOneof call for each of them.
        sv = v.string_value
        if sv:
            out[kv.key] = sv
        elif v.WhichOneof("value") == "int_value":
            out[kv.key] = v.int_value
        else:
            out[kv.key] = _pb_value(v)
    return out


def _parse_pb(message: Any, body: bytes) -> Any:
    try:
        message.ParseFromString(body)
    except (_PbDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"the body is not a valid protobuf {type(message).__name__}") from exc
    return message


class SpanRows:
    """Decoded spans as the store's row tuples (``SpanRow``), without building records;
    ``spans_tables`` reads them through :meth:`span_rows`."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def span_rows(self) -> list[tuple[Any, ...]]:
        return self.rows


@dataclass
class DecodedSpanRows:
    """The spans of one export request as row tuples, plus how many were rejected and why."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def decode_spans_protobuf_rows(body: bytes) -> DecodedSpanRows:
    """Spans from a protobuf ``ExportTraceServiceRequest`` as ``SpanRow`` tuples (the
    collector's hot path: see :mod:`semtrace.collector._lean`)."""
    req = _parse_pb(LeanTraceRequest(), body)
    out = DecodedSpanRows()
    append = out.rows.append
    attrs_of = decode_attributes
    kinds = _KIND_NAMES
    statuses = _STATUS_NAMES
    try:
        for rs in req.resource_spans:
            resource = attrs_of(rs.resource.attributes)
            service = _opt_str(resource.get(sc.SERVICE_NAME))
            for ss in rs.scope_spans:
                scope = ss.scope.name or None
                for s in ss.spans:
                    tid = s.trace_id
                    sid = s.span_id
                    if len(tid) != 16 or len(sid) != 8 or tid == _ZERO_TRACE or sid == _ZERO_SPAN:
                        out.rejected += 1
                        _note(out.errors, f"span {s.name!r}: trace_id must be 16 bytes, span_id 8")
                        continue
                    parent = s.parent_span_id
                    start = s.start_time_unix_nano
                    end = s.end_time_unix_nano or start
                    events = _events(s.events) if s.events else ()
                    links = _links(s.links) if s.links else ()
                    if (
                        start > _MAX_TIME_NS
                        or end > _MAX_TIME_NS
                        or events is None
                        or links is None
                    ):
                        out.rejected += 1
                        _note(out.errors, f"span {s.name!r}: {_BAD_TIME_OR_LINK}")
                        continue
                    status = s.status
                    if status:
                        st = LeanStatus.FromString(status)
                        code = statuses.get(st.code, "UNSET")
                        message = st.message or None
                    else:
                        code, message = "UNSET", None
                    append(
                        (
                            tid.hex(),
                            sid.hex(),
                            parent.hex() if len(parent) == 8 and parent != _ZERO_SPAN else None,
                            s.name,
                            kinds.get(s.kind, "INTERNAL"),
                            start,
                            end,
                            code,
                            message,
                            service,
                            scope,
                            attrs_of(s.attributes),
                            resource,
                            events,
                            links,
                        )
                    )
    except (_PbDecodeError, UnicodeDecodeError) as exc:
        raise DecodeError("the body is not a valid protobuf ExportTraceServiceRequest") from exc
    return out


def _events(raws: Any) -> tuple[SpanEventRecord, ...] | None:
    """The span's events; ``None`` when one has a time no timestamp can hold."""
    out = []
    for raw in raws:
        e = LeanEvent.FromString(raw)
        if e.time_unix_nano > _MAX_TIME_NS:
            return None
        out.append(SpanEventRecord(e.name, e.time_unix_nano, decode_attributes(e.attributes)))
    return tuple(out)


def _links(raws: Any) -> tuple[SpanLinkRecord, ...] | None:
    """The span's links; ``None`` when one has ids of the wrong length (as in OTLP JSON)."""
    out = []
    for raw in raws:
        lk = LeanLink.FromString(raw)
        tid, sid = lk.trace_id, lk.span_id
        if len(tid) != 16 or len(sid) != 8 or tid == _ZERO_TRACE or sid == _ZERO_SPAN:
            return None
        out.append(SpanLinkRecord(tid.hex(), sid.hex(), decode_attributes(lk.attributes)))
    return tuple(out)


def decode_logs_protobuf(body: bytes) -> DecodedLogs:
    """Log records from a protobuf ``ExportLogsServiceRequest``."""
    req = _parse_pb(logs_service_pb2.ExportLogsServiceRequest(), body)
    out = DecodedLogs()
    for rl in req.resource_logs:
        resource = _pb_attrs(rl.resource.attributes)
        service = _opt_str(resource.get(sc.SERVICE_NAME))
        for sl in rl.scope_logs:
            scope = sl.scope.name or None
            for r in sl.log_records:
                tid, sid = r.trace_id, r.span_id
                if (tid and len(tid) != 16) or (sid and len(sid) != 8):
                    out.rejected += 1
                    _note(out.errors, "log record: trace_id must be 16 bytes, span_id 8")
                    continue
                if max(r.time_unix_nano, r.observed_time_unix_nano) > _MAX_TIME_NS:
                    out.rejected += 1
                    _note(out.errors, f"log record: {_BAD_TIME}")
                    continue
                body_value = _pb_value(r.body) if r.HasField("body") else None
                out.logs.append(
                    _log_record(
                        time_ns=r.time_unix_nano or r.observed_time_unix_nano,
                        severity_number=r.severity_number,
                        severity_text=r.severity_text,
                        body=body_value,
                        attributes=_pb_attrs(r.attributes),
                        trace_id=tid.hex() if tid and any(tid) else None,
                        span_id=sid.hex() if sid and any(sid) else None,
                        event_name=r.event_name or None,
                        service=service,
                        scope=scope,
                    )
                )
    return out


# -- JSON -------------------------------------------------------------------------------------


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise DecodeError("the body must be a JSON object (an OTLP export request)")
    return doc


def _list(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{key} must be a JSON array")
    return value


def _obj(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DecodeError(f"{key} must be a JSON object")
    return value


def _int64(value: Any, what: str) -> int:
    """An int64 given as a decimal string (OTLP JSON) or a number (accepted too)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"{what} must be an integer or a decimal string")


def _time(value: Any, what: str) -> int:
    """A timestamp in nanoseconds since the epoch, within what the store's int64 holds."""
    ns = _int64(value, what)
    if not 0 <= ns <= _MAX_TIME_NS:
        raise ValueError(f"{what}: {_BAD_TIME}")
    return ns


def _enum(value: Any, names: tuple[str, ...], prefix: str) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):  # OTLP says ints only; accept the proto enum name anyway
        short = value.upper().removeprefix(prefix)
        if short in names:
            return names.index(short)
        if value.isdigit():
            return int(value)
    raise ValueError(f"enum value {value!r} must be an integer")


def _hex_id(value: Any, nbytes: int, what: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise ValueError(f"{what} is missing")
        return None
    try:
        # fromhex skips spaces, so a wrong length also catches "ab cd ..." forms
        raw = bytes.fromhex(value) if len(value) == nbytes * 2 else b""
    except (TypeError, ValueError):
        raw = b""
    if len(raw) != nbytes:
        raise ValueError(f"{what} must be {nbytes * 2} hex characters")
    value = value.lower()
    if not any(raw):
        if required:
            raise ValueError(f"{what} must not be all zeros")
        return None
    return value


def _json_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return None
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return _int64(v["intValue"], "intValue")
    if "doubleValue" in v:
        d = v["doubleValue"]
        return float(d) if not isinstance(d, bool) else None
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [_json_value(x) for x in (v["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in v:
        return _json_attrs((v["kvlistValue"] or {}).get("values") or [])
    if "bytesValue" in v:
        return v["bytesValue"]  # already base64, as the protobuf path renders bytes
    return None


def _json_attrs(kvs: Any) -> dict[str, Any]:
    if not isinstance(kvs, list):
        raise ValueError("attributes must be an array of {key, value}")
    out: dict[str, Any] = {}
    for kv in kvs:
        try:
            key = kv["key"]
            v = kv["value"]
            # the common case inline: a string value
            out[key] = v["stringValue"] if "stringValue" in v else _json_value(v)
        except (KeyError, TypeError):
            if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
                raise ValueError("each attribute needs a string key") from None
            out[kv["key"]] = _json_value(kv.get("value"))
            continue
        if not isinstance(key, str):
            raise ValueError("each attribute needs a string key")
    return out


def _json_span(
    s: Any, service: str | None, scope: str | None, resource: dict[str, Any]
) -> SpanRecord:
    if not isinstance(s, dict):
        raise ValueError("a span must be a JSON object")
    status = s.get("status") or {}
    start = _time(s.get("startTimeUnixNano"), "startTimeUnixNano")
    end = _time(s.get("endTimeUnixNano"), "endTimeUnixNano")
    trace_id = _hex_id(s.get("traceId"), 16, "traceId", required=True)
    span_id = _hex_id(s.get("spanId"), 8, "spanId", required=True)
    assert trace_id is not None and span_id is not None
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=_hex_id(s.get("parentSpanId"), 8, "parentSpanId", required=False),
        name=str(s.get("name") or ""),
        kind=_kind(_enum(s.get("kind"), _KINDS, "SPAN_KIND_")),
        start_ns=start,
        end_ns=end or start,
        status_code=_status(_enum(status.get("code"), _STATUS, "STATUS_CODE_")),
        status_message=status.get("message") or None,
        service_name=service,
        scope_name=scope,
        attributes=_json_attrs(s.get("attributes") or []),
        resource=resource,
        events=tuple(
            SpanEventRecord(
                str(e.get("name") or ""),
                _time(e.get("timeUnixNano"), "timeUnixNano"),
                _json_attrs(e.get("attributes") or []),
            )
            for e in s.get("events") or []
        ),
        links=tuple(
            SpanLinkRecord(
                _hex_id(lk.get("traceId"), 16, "link traceId", required=True) or "",
                _hex_id(lk.get("spanId"), 8, "link spanId", required=True) or "",
                _json_attrs(lk.get("attributes") or []),
            )
            for lk in s.get("links") or []
        ),
    )


def decode_spans_json(body: bytes) -> DecodedSpans:
    """Spans from an OTLP JSON ``ExportTraceServiceRequest``."""
    doc = _json_body(body)
    out = DecodedSpans()
    for rs in _list(doc, "resourceSpans"):
        try:
            resource = _json_attrs(_obj(rs, "resource").get("attributes") or [])
        except ValueError as exc:
            raise DecodeError(f"resource: {exc}") from exc
        service = _opt_str(resource.get(sc.SERVICE_NAME))
        for ss in _list(rs, "scopeSpans"):
            scope = _obj(ss, "scope").get("name") or None
            for s in _list(ss, "spans"):
                try:
                    out.spans.append(_json_span(s, service, scope, resource))
                except (ValueError, TypeError, AttributeError) as exc:
                    out.rejected += 1
                    _note(out.errors, f"span: {exc}")
    return out


def decode_logs_json(body: bytes) -> DecodedLogs:
    """Log records from an OTLP JSON ``ExportLogsServiceRequest``."""
    doc = _json_body(body)
    out = DecodedLogs()
    for rl in _list(doc, "resourceLogs"):
        try:
            resource = _json_attrs(_obj(rl, "resource").get("attributes") or [])
        except ValueError as exc:
            raise DecodeError(f"resource: {exc}") from exc
        service = _opt_str(resource.get(sc.SERVICE_NAME))
        for sl in _list(rl, "scopeLogs"):
            scope = _obj(sl, "scope").get("name") or None
            for r in _list(sl, "logRecords"):
                try:
                    if not isinstance(r, dict):
                        raise ValueError("a log record must be a JSON object")
                    time_ns = _time(r.get("timeUnixNano"), "timeUnixNano") or _time(
                        r.get("observedTimeUnixNano"), "observedTimeUnixNano"
                    )
                    out.logs.append(
                        _log_record(
                            time_ns=time_ns,
                            severity_number=_int64(r.get("severityNumber"), "severityNumber"),
                            severity_text=r.get("severityText"),
                            body=_json_value(r.get("body")),
                            attributes=_json_attrs(r.get("attributes") or []),
                            trace_id=_hex_id(r.get("traceId"), 16, "traceId", required=False),
                            span_id=_hex_id(r.get("spanId"), 8, "spanId", required=False),
                            event_name=r.get("eventName") or None,
                            service=service,
                            scope=scope,
                        )
                    )
                except (ValueError, TypeError, AttributeError) as exc:
                    out.rejected += 1
                    _note(out.errors, f"log record: {exc}")
    return out


# -- shared -----------------------------------------------------------------------------------


def _kind(value: int) -> str:
    if 1 <= value < len(_KINDS):
        return _KINDS[value]
    return "INTERNAL"  # UNSPECIFIED or out of range: the SDK's default kind


def _status(value: int) -> str:
    return _STATUS[value] if 0 <= value < len(_STATUS) else "UNSET"


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _note(errors: list[str], message: str) -> None:
    if len(errors) < 5:  # enough to explain the rejection, never a big response
        errors.append(message)


def _log_record(
    *,
    time_ns: int,
    severity_number: int,
    severity_text: str | None,
    body: Any,
    attributes: dict[str, Any],
    trace_id: str | None,
    span_id: str | None,
    event_name: str | None,
    service: str | None,
    scope: str | None,
) -> LogRecord:
    """One OTLP log record as the logs table's record; semtrace's own facts lifted out."""
    if isinstance(body, str):
        message = body
    elif body is None:
        message = event_name or ""
    else:
        message = orjson.dumps(body, default=str).decode()
    get = attributes.get
    return LogRecord(
        time_ns=time_ns,
        message=message,
        severity=severity_name(severity_number, severity_text),
        severity_number=severity_number or None,
        template=_opt_str(get(sc.SEMTRACE_LOG_TEMPLATE)),
        trace_id=trace_id,
        span_id=span_id,
        agent_name=_opt_str(get(sc.SEMTRACE_AGENT_NAME) or get(sc.GEN_AI_AGENT_NAME)),
        service_name=service,
        logger_name=scope,
        event_name=event_name,
        action=_opt_str(get(sc.SEMTRACE_LOG_ACTION)),
        cause=_opt_str(get(sc.SEMTRACE_LOG_CAUSE)),
        impact=_opt_str(get(sc.SEMTRACE_LOG_IMPACT)),
        attributes={k: v for k, v in attributes.items() if k not in _LIFTED},
        log_id=_opt_str(get(sc.SEMTRACE_LOG_ID)),
    )


_LIFTED = frozenset(
    {
        sc.SEMTRACE_LOG_TEMPLATE,
        sc.SEMTRACE_LOG_ACTION,
        sc.SEMTRACE_LOG_CAUSE,
        sc.SEMTRACE_LOG_IMPACT,
        sc.SEMTRACE_LOG_ID,
    }
)
