"""Turn OpenTelemetry SDK spans into the store's domain records (or straight into its rows)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

from opentelemetry.sdk.trace import ReadableSpan

from semtrace import semconv as sc
from semtrace.store._arrow import SpanRow
from semtrace.store.model import SpanEventRecord, SpanLinkRecord, SpanRecord

__all__ = ["SpanBatch", "format_span_id", "format_trace_id", "span_to_record"]


def format_trace_id(trace_id: int) -> str:
    return format(trace_id, "032x")


def format_span_id(span_id: int) -> str:
    return format(span_id, "016x")


def _inner(attrs: Any) -> Mapping[str, Any]:
    # BoundedAttributes is a Mapping whose iteration takes a lock per item (and ReadableSpan
    # wraps it in a MappingProxyType); the backing dict is read directly when present: the
    # span is finished, nothing writes to it any more.
    inner = getattr(attrs, "_dict", None)
    if isinstance(inner, dict):
        return inner
    return attrs if attrs else {}


def _plain(attrs: Any) -> dict[str, Any]:
    return dict(_inner(attrs))


def _resource(span: ReadableSpan, cache: dict[int, Mapping[str, Any]] | None) -> Mapping[str, Any]:
    resource = span.resource
    if cache is None:
        return _plain(resource.attributes)
    key = id(resource)
    cached = cache.get(key)
    if cached is None:
        cached = cache[key] = _plain(resource.attributes)
    return cached


def _span_row(
    span: ReadableSpan, resource_cache: dict[int, Mapping[str, Any]] | None, copy: bool
) -> SpanRow:
    """The fields of :class:`SpanRecord` for one finished span, in its order; attribute maps
    are copied only when ``copy`` (a record outlives the span; a row is used at once)."""
    ctx = span.get_span_context()
    assert ctx is not None
    res_attrs = _resource(span, resource_cache)
    parent = span.parent
    status = span.status
    scope = span.instrumentation_scope
    service = res_attrs.get(sc.SERVICE_NAME)
    # The private fields are read directly: the public properties copy events and links
    # into new tuples and wrap attributes in a proxy, per span.
    attrs = _inner(getattr(span, "_attributes", None) or span.attributes)
    events = getattr(span, "_events", None)
    if events is None:
        events = span.events
    links = getattr(span, "_links", None)
    if links is None:
        links = span.links
    return (
        format(ctx.trace_id, "032x"),
        format(ctx.span_id, "016x"),
        format(parent.span_id, "016x") if parent is not None else None,
        span.name,
        span.kind.name,
        span.start_time or 0,
        span.end_time or span.start_time or 0,
        status.status_code.name,
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
    return SpanRecord(*_span_row(span, resource_cache, copy=True))


class SpanBatch(Sequence[SpanRecord]):
    """A batch of finished SDK spans seen as records.

    Indexing builds records; the store's column builder instead reads :meth:`span_rows`,
    which skips the records and the copies of attribute maps (the exporter's hot path).
    """

    __slots__ = ("_resources", "_spans")

    def __init__(self, spans: Sequence[ReadableSpan]) -> None:
        self._spans = spans
        self._resources: dict[int, Mapping[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._spans)

    @overload
    def __getitem__(self, index: int) -> SpanRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[SpanRecord]: ...

    def __getitem__(self, index: int | slice) -> SpanRecord | list[SpanRecord]:
        if isinstance(index, slice):
            return [span_to_record(s, self._resources) for s in self._spans[index]]
        return span_to_record(self._spans[index], self._resources)

    def span_rows(self) -> Iterator[SpanRow]:
        """Rows for :func:`semtrace.store._arrow.spans_tables`, one per span, in order."""
        cache = self._resources
        for span in self._spans:
            yield _span_row(span, cache, copy=False)
