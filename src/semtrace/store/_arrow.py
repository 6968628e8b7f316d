"""Turn batches of domain records into Arrow tables shaped like the store's tables."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any, Protocol

import numpy as np
import orjson
import pyarrow as pa

from semtrace import semconv as sc
from semtrace.redaction import get_redactor
from semtrace.store import schema
from semtrace.store.model import (
    SEVERITY_NUMBERS,
    LogRecord,
    SpanEventRecord,
    SpanLinkRecord,
    SpanRecord,
)
from semtrace.store.normalise import (
    MAX_STATUS_CHARS,
    TRACEBACK_START,
    Normalised,
    normalise_row,
    readable_status,
)

__all__ = ["SpanRow", "SpanRowSource", "logs_table", "record_row", "spans_tables", "to_json"]

_TS = schema.TIMESTAMPTZ.arrow

# The Arrow schemas of the tables this module fills, derived from their declarations.
SPANS_SCHEMA = schema.SPANS_TABLE.arrow
EVENTS_SCHEMA = schema.SPAN_EVENTS_TABLE.arrow
LINKS_SCHEMA = schema.SPAN_LINKS_TABLE.arrow
LOGS_SCHEMA = schema.LOGS_TABLE.arrow


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)


# A single attribute value longer than this is cut, with a marker saying how much was cut.
MAX_VALUE_CHARS = 32_768


def _cut(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text``, or its first ``limit`` characters and a marker saying how many more."""
    if len(text) > limit:
        return f"{text[:limit]}…[truncated {len(text) - limit} chars]"
    return text


def _truncate(value: Any) -> Any:
    if isinstance(value, str):
        return _cut(value)
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
        try:
            # Keys are strings almost always, and orjson is faster told nothing about others.
            text = orjson.dumps(value, default=_default).decode()
        except TypeError:
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
    """A stored text: redacted first (so no secret is cut in half), then bounded."""
    return None if text is None else _cut(get_redactor().redact_repeated(text))


# One span as the column builder reads it: the fields of :class:`SpanRecord`, in its order
# (trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code,
# status_message, service_name, scope_name, attributes, resource, events, links). A batch
# that can produce these without building records (the exporter's SDK spans) provides
# ``span_rows()``; records are read field by field.
SpanRow = tuple[
    str,
    str,
    str | None,
    str,
    str,
    int,
    int,
    str,
    str | None,
    str | None,
    str | None,
    Mapping[str, Any],
    Mapping[str, Any],
    tuple[SpanEventRecord, ...],
    tuple[SpanLinkRecord, ...],
]


class SpanRowSource(Protocol):
    """A batch of spans that yields :data:`SpanRow` tuples directly (no records built)."""

    def span_rows(self) -> Iterable[SpanRow]: ...


def record_row(s: SpanRecord) -> SpanRow:
    """A record as a :data:`SpanRow` (for code that keeps spans as rows, like the collector)."""
    return (
        s.trace_id,
        s.span_id,
        s.parent_span_id,
        s.name,
        s.kind,
        s.start_ns,
        s.end_ns,
        s.status_code,
        s.status_message,
        s.service_name,
        s.scope_name,
        s.attributes,
        s.resource,
        s.events,
        s.links,
    )


def _exception_type(events: Sequence[SpanEventRecord]) -> str | None:
    for event in events:
        if event.name == sc.EXCEPTION_EVENT:
            value = event.attributes.get(sc.EXCEPTION_TYPE)
            return str(value) if value is not None else None
    return None


def _from_columns(
    columns: Mapping[str, Sequence[Any] | pa.Array], arrow_schema: pa.Schema, n: int
) -> pa.Table:
    """A table in ``arrow_schema`` from named columns; a declared column the builder does
    not fill (one added by a newer declaration) is all NULL, so writers never break on it."""
    arrays = []
    for f in arrow_schema:
        col = columns.get(f.name)
        if col is None:
            arrays.append(pa.nulls(n, f.type))
        else:
            arrays.append(col if isinstance(col, pa.Array) else pa.array(col, type=f.type))
    return pa.Table.from_arrays(arrays, schema=arrow_schema)


def _table(rows: list[tuple[Any, ...]], arrow_schema: pa.Schema) -> pa.Table:
    """An Arrow table from row tuples holding the first columns of ``arrow_schema``."""
    if not rows:
        return arrow_schema.empty_table()
    names = arrow_schema.names
    return _from_columns(
        dict(zip(names, zip(*rows, strict=True), strict=False)), arrow_schema, len(rows)
    )


def spans_tables(
    spans: Sequence[SpanRecord] | SpanRowSource,
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Arrow tables for ``spans``, ``span_events`` and ``span_links`` from one batch.

    Built a column at a time: the rows are transposed once (in C), and each derived column
    is one ``map`` or comprehension over its inputs, so no per-span tuple is built twice.
    """
    row_source = getattr(spans, "span_rows", None)
    rows = list(
        row_source() if row_source is not None else map(record_row, spans)  # type: ignore[arg-type]
    )
    if not rows:
        return SPANS_SCHEMA.empty_table(), EVENTS_SCHEMA.empty_table(), LINKS_SCHEMA.empty_table()
    (
        trace_ids,
        span_ids,
        parent_span_ids,
        names,
        kinds,
        starts,
        ends,
        status_codes,
        status_messages,
        service_names,
        scope_names,
        attributes,
        resources,
        events,
        links,
    ) = zip(*rows, strict=True)
    redactor = get_redactor()
    redact = redactor.redact_repeated
    redact_attributes = redactor.redact_attributes
    has_events = any(events)
    exception_types: list[str | None] = (
        [_exception_type(e) if e else None for e in events] if has_events else [None] * len(rows)
    )
    # A status message carrying a traceback (or several lines) keeps its first line; the
    # rest goes to the span's exception event (one is added when the span has none).
    stacks: dict[int, str] = {}
    messages: list[str | None] = list(status_messages)
    if any(messages):
        for i, m in enumerate(messages):
            if m and (len(m) > MAX_STATUS_CHARS or "\n" in m or TRACEBACK_START in m):
                messages[i], rest = readable_status(m)
                if rest is not None:
                    stacks[i] = rest
                    if exception_types[i] is None:
                        exception_types[i] = _traceback_type(rest)
    normalised: dict[str, Sequence[Any]] = dict(
        zip(
            Normalised._fields,
            zip(*map(normalise_row, attributes, exception_types, status_codes, names), strict=True),
            strict=True,
        )
    )
    for io in ("input", "output"):
        normalised[io] = [None if t is None else _cut(redact(t)) for t in normalised[io]]
    # Spans of one batch usually share a resource object: serialise each one once.
    by_id = {id(r): r for r in resources}
    resource_json = {k: _redacted_json(r) for k, r in by_id.items()}
    columns: dict[str, Sequence[Any] | pa.Array] = {
        "trace_id": trace_ids,
        "span_id": span_ids,
        "parent_span_id": parent_span_ids,
        "name": [None if n is None else _cut(redact(n)) for n in names],
        "kind": kinds,
        "start_time_ns": pa.array(starts, type=pa.int64()),
        "end_time_ns": pa.array(ends, type=pa.int64()),
        "status_code": status_codes,
        "status_message": [
            None if m is None else _cut(redact(m), MAX_STATUS_CHARS) for m in messages
        ],
        "service_name": service_names,
        "scope_name": scope_names,
        **normalised,
        "attributes": [to_json(redact_attributes(a)) if a else None for a in attributes],
        "resource": list(map(resource_json.__getitem__, map(id, resources))),
    }
    ev = _event_rows(trace_ids, span_ids, events, stacks, ends) if has_events or stacks else []
    ln = _link_rows(trace_ids, span_ids, links) if any(links) else []
    return _spans_table(columns), _table(ev, EVENTS_SCHEMA), _table(ln, LINKS_SCHEMA)


def _event_rows(
    trace_ids: Sequence[str],
    span_ids: Sequence[str],
    events: Sequence[Sequence[SpanEventRecord]],
    stacks: Mapping[int, str],
    ends: Sequence[int],
) -> list[tuple[Any, ...]]:
    """Event rows; ``stacks`` (by span index) is a traceback taken out of a status message:
    it fills the span's exception event's stacktrace, or a new exception event at the end."""
    ev: list[tuple[Any, ...]] = []
    for i, (trace_id, span_id, span_events) in enumerate(
        zip(trace_ids, span_ids, events, strict=True)
    ):
        stack = stacks.get(i)
        for e in span_events:
            attrs = e.attributes
            if e.name == sc.EXCEPTION_EVENT:
                exc_type = _opt_str(attrs.get(sc.EXCEPTION_TYPE))
                exc_message = _redacted(_opt_str(attrs.get(sc.EXCEPTION_MESSAGE)))
                exc_stack = _redacted(_opt_str(attrs.get(sc.EXCEPTION_STACKTRACE)))
                if exc_stack is None and stack is not None:
                    exc_stack = _redacted(stack)
                stack = None
            else:
                exc_type = exc_message = exc_stack = None
            ev.append(
                (
                    trace_id,
                    span_id,
                    e.time_ns // 1000,
                    e.time_ns,
                    _cut(e.name),
                    exc_type,
                    exc_message,
                    exc_stack,
                    _redacted_json(attrs),
                )
            )
        if stack is not None:
            last = _last_line(stack)
            kind = _traceback_type(stack)
            message = last.split(":", 1)[1].strip() if kind and ":" in last else last
            ev.append(
                (
                    trace_id,
                    span_id,
                    ends[i] // 1000,
                    ends[i],
                    sc.EXCEPTION_EVENT,
                    kind,
                    _redacted(message),
                    _redacted(stack),
                    None,
                )
            )
    return ev


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _traceback_type(text: str) -> str | None:
    """The exception type a Python traceback ends with (``ValueError: ...``), if it is one."""
    if TRACEBACK_START not in text:
        return None
    head = _last_line(text).split(":", 1)[0].strip()
    return head if head and head.replace(".", "").replace("_", "").isalnum() else None


def _link_rows(
    trace_ids: Sequence[str], span_ids: Sequence[str], links: Sequence[Sequence[SpanLinkRecord]]
) -> list[tuple[Any, ...]]:
    return [
        (trace_id, span_id, link.trace_id, link.span_id, _redacted_json(link.attributes))
        for trace_id, span_id, span_links in zip(trace_ids, span_ids, links, strict=True)
        for link in span_links
    ]


def _spans_table(columns: dict[str, Sequence[Any] | pa.Array]) -> pa.Table:
    """The spans table from its stored columns; times and duration are computed a batch at a
    time from the nanosecond columns (not a span at a time)."""
    start_ns = columns["start_time_ns"]
    end_ns = columns["end_time_ns"]
    assert isinstance(start_ns, pa.Array) and isinstance(end_ns, pa.Array)
    start = start_ns.to_numpy()
    # A span cannot end before it starts (a sender's clock or a damaged body): it ends when
    # it starts, so durations and time-range queries stay sound.
    end = np.maximum(end_ns.to_numpy(), start)
    columns["end_time_ns"] = pa.array(end, type=pa.int64())
    columns["start_time"] = pa.array(start // 1000).cast(_TS)
    columns["end_time"] = pa.array(end // 1000).cast(_TS)
    columns["duration_ms"] = pa.array((end - start) / 1e6, type=pa.float64())
    return _from_columns(columns, SPANS_SCHEMA, len(start))


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _log_ids(n: int) -> list[str]:
    """``n`` fresh ids shaped like ``uuid4().hex[:16]`` (the 13th digit is the version, 4),
    from one read of the random source instead of one per record."""
    h = os.urandom(8 * n).hex()
    return [f"{h[i : i + 12]}4{h[i + 13 : i + 16]}" for i in range(0, 16 * n, 16)]


# The free-text LogRecord fields (redacted on the way in), in _LOG_FIELDS order.
_LOG_TEXTS = ("message", "template", "action", "cause", "impact")
# The LogRecord fields logs_table reads, in one C-level getter (severity_number is resolved
# as LogRecord.number() resolves it).
_LOG_FIELDS = attrgetter(
    "log_id",
    "time_ns",
    "trace_id",
    "span_id",
    "severity",
    "severity_number",
    "service_name",
    "agent_name",
    "logger_name",
    "event_name",
    "message",
    "template",
    "action",
    "cause",
    "impact",
    "attributes",
)


def logs_table(logs: Sequence[LogRecord]) -> pa.Table:
    """An Arrow table for the ``logs`` table from one batch (built a column at a time)."""
    if not logs:
        return LOGS_SCHEMA.empty_table()
    (
        log_ids,
        times,
        trace_ids,
        span_ids,
        severities,
        numbers,
        service_names,
        agent_names,
        logger_names,
        event_names,
        *texts,
        attributes,
    ) = zip(*map(_LOG_FIELDS, logs), strict=True)
    redactor = get_redactor()
    redact = redactor.redact_repeated
    redact_attributes = redactor.redact_attributes
    fresh = iter(_log_ids(sum(1 for i in log_ids if not i)))
    severity_number = SEVERITY_NUMBERS.get
    time_ns = pa.array(times, type=pa.int64())
    columns: dict[str, Sequence[Any] | pa.Array] = {
        "log_id": [i or next(fresh) for i in log_ids],
        "time": pa.array(time_ns.to_numpy() // 1000).cast(_TS),
        "time_ns": time_ns,
        "trace_id": trace_ids,
        "span_id": span_ids,
        "severity": severities,
        "severity_number": [
            severity_number(s, 0) if n is None else n
            for n, s in zip(numbers, severities, strict=True)
        ],
        "service_name": service_names,
        "agent_name": agent_names,
        "logger_name": logger_names,
        "event_name": event_names,
        **{
            name: [None if t is None else _cut(redact(t)) for t in column]
            for name, column in zip(_LOG_TEXTS, texts, strict=True)
        },
        "attributes": [to_json(redact_attributes(a)) if a else None for a in attributes],
    }
    return _from_columns(columns, LOGS_SCHEMA, len(logs))
