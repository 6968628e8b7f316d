"""Turn OpenTelemetry SDK spans into the store's domain records (or straight into its rows)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from operator import attrgetter
from typing import Any, overload

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from semtrace import semconv as sc
from semtrace.store._arrow import SpanRow
from semtrace.store.model import SpanEventRecord, SpanLinkRecord, SpanRecord

__all__ = ["SpanBatch", "format_span_id", "format_trace_id", "span_to_record"]


def format_trace_id(trace_id: int) -> str:
    return format(trace_id, "032x")


def format_span_id(span_id: int) -> str:
    return format(span_id, "016x")


def _plain(attrs: Any) -> dict[str, Any]:
    """A copy of an attribute map as a plain dict."""
    # BoundedAttributes is a Mapping whose iteration takes a lock per item (and ReadableSpan
    # wraps it in a MappingProxyType); the backing dict is read directly when present: the
    # span is finished, nothing writes to it any more.
    inner = getattr(attrs, "_dict", None)
    if isinstance(inner, dict):
        return dict(inner)
    return dict(attrs) if attrs else {}


def _inner(attrs: Any) -> dict[str, Any]:
    """An attribute map as a plain dict, without a copy when it already is one (or has one)."""
    inner = getattr(attrs, "_dict", None)
    if isinstance(inner, dict):
        return inner
    return attrs if type(attrs) is dict else _plain(attrs)


# What _span_row reads, in one C-level call. A ReadableSpan (what the SDK hands exporters) is
# read through its private fields: its properties only return them, or copy them (events,
# links, attributes) at a function call each; other span types through the public API.
_PRIVATE = attrgetter(
    "_context",
    "_resource",
    "_parent",
    "_status",
    "_instrumentation_scope",
    "_kind",
    "_name",
    "_start_time",
    "_end_time",
    "_attributes",
    "_events",
    "_links",
)
_PUBLIC = attrgetter(
    "context",
    "resource",
    "parent",
    "status",
    "instrumentation_scope",
    "kind",
    "name",
    "start_time",
    "end_time",
    "attributes",
    "events",
    "links",
)
_KIND_NAMES: dict[SpanKind, str] = {k: k.name for k in SpanKind}
_STATUS_NAMES: dict[StatusCode, str] = {c: c.name for c in StatusCode}


class _BatchCache:
    """What spans of one batch share: resource maps (one object per SDK resource) and the
    hex text of trace ids and of span ids (a parent's id is formatted once for its children
    and for itself)."""

    __slots__ = ("ids", "resources", "traces")

    def __init__(self, resources: dict[int, Mapping[str, Any]] | None = None) -> None:
        self.resources: dict[int, Mapping[str, Any]] = {} if resources is None else resources
        self.traces: dict[int, str] = {}
        self.ids: dict[int, str] = {}


def _span_row(span: ReadableSpan, cache: _BatchCache, copy: bool) -> SpanRow:
    """The fields of :class:`SpanRecord` for one finished span, in its order; attribute maps
    are copied only when ``copy`` (a record outlives the span; a row is used at once)."""
    (ctx, resource, parent, status, scope, kind, name, start, end, attrs, events, links) = (
        _PRIVATE if type(span) is ReadableSpan else _PUBLIC
    )(span)
    start = start or 0
    end = end or start
    attrs = _inner(getattr(span, "_attributes", None) or attrs)
    assert ctx is not None
    res_attrs = cache.resources.get(id(resource))
    if res_attrs is None:
        res_attrs = cache.resources[id(resource)] = _plain(resource.attributes)
    trace_id = cache.traces.get(ctx.trace_id)
    if trace_id is None:
        trace_id = cache.traces[ctx.trace_id] = format(ctx.trace_id, "032x")
    ids = cache.ids
    span_id = ids.get(ctx.span_id)
    if span_id is None:
        span_id = ids[ctx.span_id] = format(ctx.span_id, "016x")
    parent_id: str | None = None
    if parent is not None:
        parent_id = ids.get(parent.span_id)
        if parent_id is None:
            parent_id = ids[parent.span_id] = format(parent.span_id, "016x")
    service = res_attrs.get(sc.SERVICE_NAME)
    return (
        trace_id,
        span_id,
        parent_id,
        name,
        _KIND_NAMES.get(kind) or kind.name,
        start,
        end,
        _STATUS_NAMES.get(status.status_code) or status.status_code.name,
        status.description,
        str(service) if service is not None else None,
        scope.name if scope is not None else None,
        dict(attrs) if copy else attrs,
        res_attrs,
        tuple(SpanEventRecord(e.name, e.timestamp, _plain(e.attributes)) for e in events)
        if events
        else (),
        tuple(
            SpanLinkRecord(
                format_trace_id(link.context.trace_id),
                format_span_id(link.context.span_id),
                _plain(link.attributes),
            )
            for link in links
        )
        if links
        else (),
    )


def span_to_record(
    span: ReadableSpan, resource_cache: dict[int, Mapping[str, Any]] | None = None
) -> SpanRecord:
    """The domain record for one finished SDK span."""
    return SpanRecord(*_span_row(span, _BatchCache(resource_cache), copy=True))


class SpanBatch(Sequence[SpanRecord]):
    """A batch of finished SDK spans seen as records.

    Indexing builds records; the store's column builder instead reads :meth:`span_rows`,
    which skips the records and the copies of attribute maps (the exporter's hot path).
    """

    __slots__ = ("_cache", "_spans")

    def __init__(self, spans: Sequence[ReadableSpan]) -> None:
        self._spans = spans
        self._cache = _BatchCache()

    def __len__(self) -> int:
        return len(self._spans)

    @overload
    def __getitem__(self, index: int) -> SpanRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[SpanRecord]: ...

    def __getitem__(self, index: int | slice) -> SpanRecord | list[SpanRecord]:
        if isinstance(index, slice):
            return [SpanRecord(*_span_row(s, self._cache, True)) for s in self._spans[index]]
        return SpanRecord(*_span_row(self._spans[index], self._cache, True))

    def span_rows(self) -> Iterator[SpanRow]:
        """Rows for :func:`semtrace.store._arrow.spans_tables`, one per span, in order."""
        cache = self._cache
        for span in self._spans:
            yield _span_row(span, cache, copy=False)
