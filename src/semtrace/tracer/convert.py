"""Turn OpenTelemetry SDK spans into the store's domain records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from semtrace import semconv as sc
from semtrace.store.model import SpanEventRecord, SpanLinkRecord, SpanRecord

__all__ = ["format_span_id", "format_trace_id", "span_to_record"]


def format_trace_id(trace_id: int) -> str:
    return format(trace_id, "032x")


def format_span_id(span_id: int) -> str:
    return format(span_id, "016x")


def _plain(attrs: Any) -> dict[str, Any]:
    # BoundedAttributes is a Mapping whose iteration takes a lock per item (and ReadableSpan
    # wraps it in a MappingProxyType); the backing dict is read directly when present: the
    # span is finished, nothing writes to it any more.
    inner = getattr(attrs, "_dict", None)
    if isinstance(inner, dict):
        return dict(inner)
    return dict(attrs) if attrs else {}


def span_to_record(
    span: ReadableSpan, resource_cache: dict[int, Mapping[str, Any]] | None = None
) -> SpanRecord:
    """The domain record for one finished SDK span."""
    ctx = span.get_span_context()
    assert ctx is not None
    resource = span.resource
    res_attrs: Mapping[str, Any]
    if resource_cache is not None:
        key = id(resource)
        cached = resource_cache.get(key)
        if cached is None:
            cached = _plain(resource.attributes)
            resource_cache[key] = cached
        res_attrs = cached
    else:
        res_attrs = _plain(resource.attributes)
    parent = span.parent
    status = span.status
    scope = span.instrumentation_scope
    service = res_attrs.get(sc.SERVICE_NAME)
    return SpanRecord(
        trace_id=format_trace_id(ctx.trace_id),
        span_id=format_span_id(ctx.span_id),
        parent_span_id=format_span_id(parent.span_id) if parent is not None else None,
        name=span.name,
        kind=span.kind.name,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or span.start_time or 0,
        status_code=status.status_code.name,
        status_message=status.description,
        service_name=str(service) if service is not None else None,
        scope_name=scope.name if scope is not None else None,
        attributes=_plain(getattr(span, "_attributes", None) or span.attributes),
        resource=res_attrs,
        events=tuple(
            SpanEventRecord(e.name, e.timestamp, _plain(e.attributes)) for e in span.events
        ),
        links=tuple(
            SpanLinkRecord(
                format_trace_id(link.context.trace_id),
                format_span_id(link.context.span_id),
                _plain(link.attributes),
            )
            for link in span.links
        ),
    )
