"""Message hand-offs: W3C context in dict and Kafka-style headers, PRODUCER/CONSUMER spans
that link (not parent) to the creation context, batches with one link per message, and the
in-process EventBus doing all of it."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import trace

import semtrace
from semtrace.bus import EventBus, Message
from semtrace.store.model import SpanRecord
from semtrace.testing import capture, span_tree
from semtrace.tracer.propagation import consumer_span, creation_context, producer_span


def _one(spans: list[SpanRecord], name: str) -> SpanRecord:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def _links(span: SpanRecord) -> list[tuple[str, str]]:
    return [(link.trace_id, link.span_id) for link in span.links]


def test_inject_extract_dict_and_kafka_headers() -> None:
    """inject writes one W3C traceparent into dict headers and Kafka-style (key, bytes)
    tuples; extract reads either back to the same span context."""
    with capture(), semtrace.step("send") as span:
        ctx = span.get_span_context()
        as_dict = semtrace.inject({"x-app": "1"})
        as_tuples = semtrace.inject([("x-app", b"1"), ("traceparent", b"stale")])
    expected = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"
    assert as_dict == {"x-app": "1", "traceparent": expected}
    assert as_tuples == [("x-app", b"1"), ("traceparent", expected.encode())]
    for headers in (as_dict, as_tuples):
        got = trace.get_current_span(semtrace.extract(headers)).get_span_context()
        assert (got.trace_id, got.span_id, got.is_remote) == (ctx.trace_id, ctx.span_id, True)


def test_invalid_traceparent_is_ignored() -> None:
    """Headers with an invalid traceparent (all-zero trace id, uppercase hex, version ff)
    carry no creation context."""
    bad = [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ]
    for value in bad:
        assert creation_context({"traceparent": value}) is None
        assert creation_context([("traceparent", value.encode())]) is None


def test_kafka_style_producer_consumer_link_not_parent() -> None:
    """A consumer of Kafka-style headers gets a CONSUMER span 'process {topic}' in its own
    trace that links to the PRODUCER 'send {topic}' span; it is not its child."""
    headers: list[tuple[str, bytes]] = []
    with capture() as cap:
        with semtrace.agent("intake"), producer_span("invoices", headers, message_id="m1"):
            pass
        with (
            consumer_span("invoices", headers, message_id="m1", agent="extraction"),
            semtrace.tool("parse"),
        ):
            pass
        spans = cap.spans()
    assert span_tree(spans, "kind") == [
        "invoke_agent intake INTERNAL",
        "  send invoices PRODUCER",
        "process invoices CONSUMER",
        "  execute_tool parse INTERNAL",
    ]
    send, process = _one(spans, "send invoices"), _one(spans, "process invoices")
    assert process.parent_span_id is None and process.trace_id != send.trace_id
    assert _links(process) == [(send.trace_id, send.span_id)]
    assert process.links[0].attributes == {"messaging.message.id": "m1"}
    assert send.attributes["messaging.operation.type"] == "send"
    assert send.attributes["semtrace.agent.name"] == "intake"
    assert process.attributes["messaging.operation.type"] == "process"
    assert process.attributes["semtrace.agent.name"] == "extraction"
    assert _one(spans, "execute_tool parse").attributes["semtrace.agent.name"] == "extraction"


def test_consumer_as_parent_only_for_a_single_message() -> None:
    """as_parent=True makes one message's producer the parent (and keeps the link); a batch
    with as_parent is refused."""
    headers: dict[str, str] = {}
    with capture() as cap:
        with producer_span("orders", headers):
            pass
        with consumer_span("orders", headers, as_parent=True):
            pass
        with (
            pytest.raises(ValueError, match="single message"),
            consumer_span("orders", batch=[headers, headers], as_parent=True),
        ):
            pass
        spans = cap.spans()
    assert span_tree(spans, "kind") == ["send orders PRODUCER", "  process orders CONSUMER"]
    send, process = _one(spans, "send orders"), _one(spans, "process orders")
    assert _links(process) == [(send.trace_id, send.span_id)]


async def test_bus_publish_consume_links_to_creation_context() -> None:
    """EventBus: publish is a PRODUCER span under the publishing agent; each subscriber runs
    in a CONSUMER span of a new trace linked to it; a follow-up publish from a handler is a
    child of that consumer span. No other roots appear."""
    bus = EventBus(name="invoices")
    seen: list[Message] = []

    @bus.subscribe("invoice.received", agent="extraction")
    async def on_invoice(msg: Message) -> None:
        seen.append(msg)
        await bus.publish("invoice.extracted", {"id": msg.payload["id"]})

    @bus.subscribe("invoice.extracted", agent="procurement")
    def on_extracted(msg: Message) -> None:
        seen.append(msg)

    @semtrace.agent("intake")
    async def intake() -> Message:
        return await bus.publish("invoice.received", {"id": 7})

    with capture() as cap:
        sent = await intake()
        await bus.join()
        spans = cap.spans()
    await bus.close()
    assert [m.topic for m in seen] == ["invoice.received", "invoice.extracted"]
    assert seen[0].id == sent.id and "traceparent" in seen[0].headers
    assert span_tree(spans, "kind") == [
        "invoke_agent intake INTERNAL",
        "  send invoice.received PRODUCER",
        "process invoice.received CONSUMER",
        "  send invoice.extracted PRODUCER",
        "process invoice.extracted CONSUMER",
    ]
    send1 = _one(spans, "send invoice.received")
    proc1 = _one(spans, "process invoice.received")
    send2 = _one(spans, "send invoice.extracted")
    proc2 = _one(spans, "process invoice.extracted")
    assert _links(proc1) == [(send1.trace_id, send1.span_id)]
    assert _links(proc2) == [(send2.trace_id, send2.span_id)]
    assert send2.attributes["semtrace.agent.name"] == "extraction"
    assert proc2.attributes["semtrace.agent.name"] == "procurement"
    assert len({send1.trace_id, proc1.trace_id, proc2.trace_id}) == 3


async def test_bus_batches_have_one_link_per_message() -> None:
    """A batch subscriber's one CONSUMER span links to each message's creation context (one
    link per message, with its message id); publish_batch makes one PRODUCER 'create' span
    per message and a CLIENT 'send' span linking to all of them."""
    bus = EventBus(name="ledger")
    batches: list[list[Message]] = []

    @bus.subscribe("entry", agent="accounting", batch_size=3, batch_timeout_s=0.5)
    async def on_entries(msgs: list[Message]) -> None:
        batches.append(msgs)

    with capture() as cap:
        with semtrace.agent("bookkeeper"):
            sent = await bus.publish_batch("entry", [1, 2, 3])
        await bus.join()
        spans = cap.spans()
    await bus.close()
    assert [[m.payload for m in b] for b in batches] == [[1, 2, 3]]
    assert span_tree(spans, "kind") == [
        "invoke_agent bookkeeper INTERNAL",
        "  create entry PRODUCER",
        "  create entry PRODUCER",
        "  create entry PRODUCER",
        "  send entry CLIENT",
        "process entry CONSUMER",
    ]
    creates = sorted((s for s in spans if s.name == "create entry"), key=lambda s: s.start_ns)
    process = _one(spans, "process entry")
    expected = [(c.trace_id, c.span_id) for c in creates]
    assert _links(process) == expected
    assert _links(_one(spans, "send entry")) == expected
    assert [link.attributes["messaging.message.id"] for link in process.links] == [
        m.id for m in sent
    ]
    assert process.attributes["messaging.batch.message_count"] == 3


async def test_bus_handler_failure_is_recorded_and_the_bus_goes_on() -> None:
    """A handler that raises ends its consumer span in ERROR with a sentence naming the
    agent and topic; the next message is still delivered and the error is kept."""
    bus = EventBus()
    handled: list[int] = []

    @bus.subscribe("vendor.lookup", agent="procurement")
    async def lookup(msg: Message) -> None:
        if msg.payload == 1:
            raise ValueError("the Last-updated field was null")
        handled.append(msg.payload)

    with capture() as cap:
        await bus.publish("vendor.lookup", 1)
        await bus.publish("vendor.lookup", 2)
        await bus.join()
        spans = cap.spans()
    await bus.close()
    assert handled == [2]
    assert [type(e.exception) for e in bus.errors] == [ValueError]
    failed = [s for s in spans if s.name == "process vendor.lookup" and s.status_code == "ERROR"]
    assert len(failed) == 1
    message = failed[0].status_message or ""
    assert "procurement" in message and "vendor.lookup" in message
    assert "Last-updated field was null" in message


async def test_bus_concurrent_handlers_each_link_to_their_own_message() -> None:
    """With concurrency=2 two handlers wait at once (each for the other to start); each
    consumer span still links to its own message's producer, none is parented to another."""
    bus = EventBus(name="reviews")
    started: list[int] = []
    both = asyncio.Event()

    @bus.subscribe("review", agent="compliance", concurrency=2)
    async def review(msg: Message) -> None:
        started.append(msg.payload)
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 5)

    with capture() as cap:
        first = await bus.publish("review", 1)
        second = await bus.publish("review", 2)
        await bus.join()
        spans = cap.spans()
    await bus.close()
    assert sorted(started) == [1, 2] and not bus.errors
    sends = {s.attributes["messaging.message.id"]: s for s in spans if s.name == "send review"}
    processes = [s for s in spans if s.name == "process review"]
    assert len(processes) == 2 and all(p.parent_span_id is None for p in processes)
    linked = {p.attributes["messaging.message.id"]: _links(p) for p in processes}
    for msg in (first, second):
        send = sends[msg.id]
        assert linked[msg.id] == [(send.trace_id, send.span_id)]
