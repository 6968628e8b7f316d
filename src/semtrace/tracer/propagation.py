"""Trace context across message hand-offs: W3C ``traceparent`` in message headers, and the
PRODUCER / CONSUMER spans of the OpenTelemetry messaging conventions.

Headers are either a dict (``{"traceparent": "00-..."}``) or Kafka-style ``[(key, bytes)]``.
The producer's ``send {destination}`` span is the message's *creation context* and is written
into its headers; the consumer's ``process {destination}`` span **links** to it (one link per
message, so a batch links to every producer). Taking the creation context as *parent* is
allowed for a single message only, when asked (``as_parent=True``)::

    headers: dict[str, str] = {}
    with producer_span("invoices", headers, agent="intake", message_id="m1"):
        queue.put((payload, headers))
    ...
    with consumer_span("invoices", headers, agent="extraction", message_id="m1"):
        handle(payload)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Link, Span, SpanContext, SpanKind

from semtrace import semconv as sc
from semtrace.tracer import _failures
from semtrace.tracer._context import current_agent
from semtrace.tracer._lifecycle import start_span

__all__ = [
    "Headers",
    "consumer_span",
    "creation_context",
    "extract",
    "inject",
    "producer_span",
]

Headers: TypeAlias = MutableMapping[str, Any] | list[tuple[str, Any]]
"""Message headers: a dict, or Kafka-style ``[(key, value)]`` with bytes or str values."""


def _text(value: Any) -> str | None:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


class _HeadersGetter(Getter[Any]):
    """Reads dict or list-of-tuples headers; keys compare case-insensitively, bytes decoded."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        lowered = key.lower()
        items = carrier.items() if isinstance(carrier, Mapping) else carrier
        found = [
            text
            for k, v in items
            if isinstance(k, str) and k.lower() == lowered and (text := _text(v)) is not None
        ]
        return found or None

    def keys(self, carrier: Any) -> list[str]:
        items = carrier.keys() if isinstance(carrier, Mapping) else (k for k, _ in carrier)
        return [k for k in items if isinstance(k, str)]


class _HeadersSetter(Setter[Any]):
    """Writes into dict headers (str values) or Kafka-style tuples (bytes values), replacing
    an earlier value of the same key rather than adding a second one."""

    def set(self, carrier: Any, key: str, value: str) -> None:
        if isinstance(carrier, MutableMapping):
            carrier[key] = value
            return
        carrier[:] = [(k, v) for k, v in carrier if not (isinstance(k, str) and k == key)]
        carrier.append((key, value.encode("utf-8")))


_GETTER = _HeadersGetter()
_SETTER = _HeadersSetter()


def inject(
    headers: Headers | None = None, *, context: otel_context.Context | None = None
) -> Headers:
    """Write the current (or given) trace context into ``headers`` and return them.

    ``headers`` may be a dict or a Kafka-style list of ``(key, bytes)`` tuples; without one a
    new dict is made. Uses the globally configured propagators (W3C ``traceparent``,
    ``tracestate`` and ``baggage`` by default).
    """
    carrier: Headers = {} if headers is None else headers
    propagate.inject(carrier, context=context, setter=_SETTER)
    return carrier


def extract(
    headers: Headers | Mapping[str, Any] | None, *, context: otel_context.Context | None = None
) -> otel_context.Context:
    """The trace context carried by ``headers`` (dict or list of tuples); an invalid or missing
    ``traceparent`` gives a context without a remote span, as W3C asks."""
    if headers is None:
        return context if context is not None else otel_context.Context()
    return propagate.extract(headers, context=context, getter=_GETTER)


def creation_context(headers: Headers | Mapping[str, Any] | None) -> SpanContext | None:
    """The span context a message was created in, or ``None`` when its headers carry none."""
    span_ctx = trace.get_current_span(extract(headers, context=otel_context.Context()))
    ctx = span_ctx.get_span_context()
    return ctx if ctx.is_valid else None


def _messaging_attributes(
    system: str, operation_name: str, operation_type: str, destination: str
) -> dict[str, Any]:
    return {
        sc.MESSAGING_SYSTEM: system,
        sc.MESSAGING_OPERATION_NAME: operation_name,
        sc.MESSAGING_OPERATION_TYPE: operation_type,
        sc.MESSAGING_DESTINATION_NAME: destination,
    }


@contextmanager
def producer_span(
    destination: str,
    headers: Headers | None = None,
    *,
    system: str = sc.MESSAGING_SYSTEM_SEMTRACE,
    message_id: str | None = None,
    agent: str | None = None,
    operation: str = "send",
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span]:
    """A PRODUCER span ``{operation} {destination}`` that is the message's creation context.

    Its context is injected into ``headers`` before the block runs, so the block sends
    headers a consumer can link to. ``operation`` is ``send`` (default) or ``create`` (one
    per message of a batch). A failure in the block ends the span with an ERROR status and a
    sentence.
    """
    agent = agent or current_agent()
    attrs = _messaging_attributes(system, operation, operation, destination)
    if message_id is not None:
        attrs[sc.MESSAGING_MESSAGE_ID] = message_id
    if agent is not None:
        attrs[sc.SEMTRACE_AGENT_NAME] = agent
    attrs.update(attributes or {})
    active = start_span(
        f"{operation} {destination}",
        _failures.CallInfo(role="publish to", name=destination, agent=agent),
        parent=otel_context.get_current(),
        kind=SpanKind.PRODUCER,
        attributes=attrs,
        agent=agent,
    )
    if headers is not None:
        inject(headers, context=active.context)
    with active as span:
        yield span


def _links(
    batch: Sequence[Headers | Mapping[str, Any] | None], message_ids: Sequence[str | None]
) -> list[Link]:
    links: list[Link] = []
    for i, headers in enumerate(batch):
        ctx = creation_context(headers)
        if ctx is None:
            continue
        msg_id = message_ids[i] if i < len(message_ids) else None
        attrs = {sc.MESSAGING_MESSAGE_ID: msg_id} if msg_id is not None else None
        links.append(Link(ctx, attrs))
    return links


@contextmanager
def consumer_span(
    destination: str,
    headers: Headers | Mapping[str, Any] | None = None,
    *,
    batch: Sequence[Headers | Mapping[str, Any] | None] | None = None,
    message_id: str | None = None,
    message_ids: Sequence[str | None] | None = None,
    system: str = sc.MESSAGING_SYSTEM_SEMTRACE,
    agent: str | None = None,
    consumer_group: str | None = None,
    as_parent: bool = False,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span]:
    """A CONSUMER span ``process {destination}`` around handling one message or a batch.

    Give ``headers`` (one message) or ``batch`` (a list of headers). The span links to each
    message's creation context (one link per message, carrying ``messaging.message.id``);
    its parent is the ambient context, if any. ``as_parent=True`` makes a single message's
    creation context the parent instead (then the ambient span, if any, is linked).
    """
    if headers is not None and batch is not None:
        raise ValueError("consumer_span() takes headers= for one message or batch= for many")
    messages = list(batch) if batch is not None else [headers]
    ids: list[str | None] = (
        list(message_ids) if message_ids is not None else [message_id] * len(messages)
    )
    if as_parent and len(messages) != 1:
        raise ValueError(
            "as_parent=True is only allowed for a single message (the messaging conventions "
            "make a batch's consumer span link to every producer instead)"
        )
    agent = agent or current_agent()
    attrs = _messaging_attributes(system, "process", "process", destination)
    if batch is not None:
        attrs[sc.MESSAGING_BATCH_MESSAGE_COUNT] = len(messages)
    elif ids[0] is not None:
        attrs[sc.MESSAGING_MESSAGE_ID] = ids[0]
    if consumer_group is not None:
        attrs[sc.MESSAGING_CONSUMER_GROUP_NAME] = consumer_group
    if agent is not None:
        attrs[sc.SEMTRACE_AGENT_NAME] = agent
    attrs.update(attributes or {})

    ambient = otel_context.get_current()
    links = _links(messages, ids)
    parent = ambient
    if as_parent and links:
        parent = extract(messages[0], context=otel_context.Context())
        # Keep the creation context as a link too, so joins through links always work.
        ambient_span = trace.get_current_span(ambient).get_span_context()
        if ambient_span.is_valid:
            links.append(Link(ambient_span, {sc.SEMTRACE_LINK_KIND: "ambient"}))
    active = start_span(
        f"process {destination}",
        _failures.CallInfo(role="handler for", name=destination, agent=agent),
        parent=parent,
        kind=SpanKind.CONSUMER,
        attributes=attrs,
        links=links,
        agent=agent,
    )
    with active as span:
        yield span
