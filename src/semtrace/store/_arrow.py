"""Turn batches of domain records into Arrow tables shaped like the store's tables."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa

from semtrace import semconv as sc
from semtrace.store.model import LogRecord, SpanRecord
from semtrace.store.normalise import normalise
from semtrace.telemetry.redaction import get_redactor

__all__ = ["logs_table", "spans_tables", "to_json"]

_TS = pa.timestamp("us", tz="UTC")

SPANS_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("name", pa.string()),
        ("kind", pa.string()),
        ("start_time", _TS),
        ("end_time", _TS),
        ("start_time_ns", pa.int64()),
        ("end_time_ns", pa.int64()),
        ("duration_ms", pa.float64()),
        ("status_code", pa.string()),
        ("status_message", pa.string()),
        ("service_name", pa.string()),
        ("scope_name", pa.string()),
        ("agent_name", pa.string()),
        ("operation", pa.string()),
        ("tool_name", pa.string()),
        ("model", pa.string()),
        ("provider", pa.string()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("session_id", pa.string()),
        ("task_id", pa.string()),
        ("error_type", pa.string()),
        ("attributes", pa.string()),
        ("resource", pa.string()),
    ]
)

EVENTS_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("time", _TS),
        ("time_ns", pa.int64()),
        ("name", pa.string()),
        ("exception_type", pa.string()),
        ("exception_message", pa.string()),
        ("exception_stacktrace", pa.string()),
        ("attributes", pa.string()),
    ]
)

LINKS_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("linked_trace_id", pa.string()),
        ("linked_span_id", pa.string()),
        ("attributes", pa.string()),
    ]
)

LOGS_SCHEMA = pa.schema(
    [
        ("log_id", pa.string()),
        ("time", _TS),
        ("time_ns", pa.int64()),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("severity", pa.string()),
        ("severity_number", pa.int32()),
        ("service_name", pa.string()),
        ("agent_name", pa.string()),
        ("logger_name", pa.string()),
        ("event_name", pa.string()),
        ("message", pa.string()),
        ("template", pa.string()),
        ("action", pa.string()),
        ("cause", pa.string()),
        ("impact", pa.string()),
        ("attributes", pa.string()),
    ]
)


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)


# A single attribute value longer than this is cut, with a marker saying how much was cut.
MAX_VALUE_CHARS = 32_768


def _truncate(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            return f"{value[:MAX_VALUE_CHARS]}…[truncated {len(value) - MAX_VALUE_CHARS} chars]"
        return value
    if isinstance(value, list | tuple):
        return [_truncate(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _truncate(v) for k, v in value.items()}
    return value


def to_json(value: Mapping[str, Any] | None) -> str | None:
    """JSON text for an attribute map; values JSON cannot hold are kept by ``repr``, huge
    strings are truncated with a marker."""
    if not value:
        return None
    try:
        text = orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, ValueError):
        # Values orjson refuses (ints over 64 bits, say) take the slow, forgiving path.
        text = json.dumps(
            {str(k): v for k, v in value.items()}, default=_default, ensure_ascii=False
        )
    if len(text) > MAX_VALUE_CHARS:
        text = json.dumps(_truncate(value), default=_default, ensure_ascii=False)
    return text


def _redacted_json(value: Mapping[str, Any] | None) -> str | None:
    """``to_json`` with secrets replaced: nothing secret reaches the file, whatever the source."""
    return to_json(get_redactor().redact_attributes(value)) if value else None


def _redacted(text: str | None) -> str | None:
    return None if text is None else get_redactor().redact_repeated(text)


def _exception_type(span: SpanRecord) -> str | None:
    for event in span.events:
        if event.name == sc.EXCEPTION_EVENT:
            value = event.attributes.get(sc.EXCEPTION_TYPE)
            return str(value) if value is not None else None
    return None


def spans_tables(spans: Sequence[SpanRecord]) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Arrow tables for ``spans``, ``span_events`` and ``span_links`` from one batch."""
    cols: dict[str, list[Any]] = {name: [] for name in SPANS_SCHEMA.names}
    ev: dict[str, list[Any]] = {name: [] for name in EVENTS_SCHEMA.names}
    ln: dict[str, list[Any]] = {name: [] for name in LINKS_SCHEMA.names}
    resource_cache: dict[int, str | None] = {}
    for s in spans:
        norm = normalise(
            s.attributes, exception_type=_exception_type(s), status_code=s.status_code, name=s.name
        )
        cols["trace_id"].append(s.trace_id)
        cols["span_id"].append(s.span_id)
        cols["parent_span_id"].append(s.parent_span_id)
        cols["name"].append(_redacted(s.name) or s.name)
        cols["kind"].append(s.kind)
        cols["start_time"].append(s.start_ns // 1000)
        cols["end_time"].append(s.end_ns // 1000)
        cols["start_time_ns"].append(s.start_ns)
        cols["end_time_ns"].append(s.end_ns)
        cols["duration_ms"].append(max(0, s.end_ns - s.start_ns) / 1e6)
        cols["status_code"].append(s.status_code)
        cols["status_message"].append(_redacted(s.status_message))
        cols["service_name"].append(s.service_name)
        cols["scope_name"].append(s.scope_name)
        cols["agent_name"].append(norm.agent_name)
        cols["operation"].append(norm.operation)
        cols["tool_name"].append(norm.tool_name)
        cols["model"].append(norm.model)
        cols["provider"].append(norm.provider)
        cols["input_tokens"].append(norm.input_tokens)
        cols["output_tokens"].append(norm.output_tokens)
        cols["cost_usd"].append(norm.cost_usd)
        cols["session_id"].append(norm.session_id)
        cols["task_id"].append(norm.task_id)
        cols["error_type"].append(norm.error_type)
        cols["attributes"].append(_redacted_json(s.attributes))
        # Spans of one batch usually share a resource object: serialise it once.
        rid = id(s.resource)
        if rid not in resource_cache:
            resource_cache[rid] = _redacted_json(s.resource)
        cols["resource"].append(resource_cache[rid])
        for e in s.events:
            attrs = e.attributes
            is_exc = e.name == sc.EXCEPTION_EVENT
            ev["trace_id"].append(s.trace_id)
            ev["span_id"].append(s.span_id)
            ev["time"].append(e.time_ns // 1000)
            ev["time_ns"].append(e.time_ns)
            ev["name"].append(e.name)
            ev["exception_type"].append(_opt_str(attrs.get(sc.EXCEPTION_TYPE)) if is_exc else None)
            ev["exception_message"].append(
                _redacted(_opt_str(attrs.get(sc.EXCEPTION_MESSAGE))) if is_exc else None
            )
            ev["exception_stacktrace"].append(
                _redacted(_opt_str(attrs.get(sc.EXCEPTION_STACKTRACE))) if is_exc else None
            )
            ev["attributes"].append(_redacted_json(attrs))
        for link in s.links:
            ln["trace_id"].append(s.trace_id)
            ln["span_id"].append(s.span_id)
            ln["linked_trace_id"].append(link.trace_id)
            ln["linked_span_id"].append(link.span_id)
            ln["attributes"].append(_redacted_json(link.attributes))
    return (
        pa.Table.from_pydict(cols, schema=SPANS_SCHEMA),
        pa.Table.from_pydict(ev, schema=EVENTS_SCHEMA),
        pa.Table.from_pydict(ln, schema=LINKS_SCHEMA),
    )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def logs_table(logs: Sequence[LogRecord]) -> pa.Table:
    """An Arrow table for the ``logs`` table from one batch."""
    cols: dict[str, list[Any]] = {name: [] for name in LOGS_SCHEMA.names}
    for r in logs:
        cols["log_id"].append(r.log_id or uuid.uuid4().hex[:16])
        cols["time"].append(r.time_ns // 1000)
        cols["time_ns"].append(r.time_ns)
        cols["trace_id"].append(r.trace_id)
        cols["span_id"].append(r.span_id)
        cols["severity"].append(r.severity)
        cols["severity_number"].append(r.number())
        cols["service_name"].append(r.service_name)
        cols["agent_name"].append(r.agent_name)
        cols["logger_name"].append(r.logger_name)
        cols["event_name"].append(r.event_name)
        cols["message"].append(_redacted(r.message))
        cols["template"].append(_redacted(r.template))
        cols["action"].append(_redacted(r.action))
        cols["cause"].append(_redacted(r.cause))
        cols["impact"].append(_redacted(r.impact))
        cols["attributes"].append(_redacted_json(r.attributes))
    return pa.Table.from_pydict(cols, schema=LOGS_SCHEMA)
