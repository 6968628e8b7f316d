"""Generators consumed lazily: the span covers the whole iteration (not zero duration), work
inside the generator is its child, and the consumer's own spans keep their parent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import semtrace
from semtrace.store.model import SpanRecord
from semtrace.testing import capture, span_tree


@semtrace.tool("tokenize")
def tokenize(word: str) -> str:
    return word.lower()


def _one(spans: list[SpanRecord], name: str) -> SpanRecord:
    (span,) = [s for s in spans if s.name == name]
    return span


def test_sync_generator_span_covers_lazy_iteration() -> None:
    """A traced sync generator's span starts before the first item and ends after the last
    is consumed; spans made between items by the consumer sit inside that time range but
    under the consumer's parent."""

    @semtrace.step("stream_words")
    def stream_words() -> Iterator[str]:
        for word in ("Alpha", "Beta"):
            yield tokenize(word)

    @semtrace.agent("reader")
    def reader() -> list[str]:
        out = []
        for word in stream_words():
            with semtrace.step("consume"):
                out.append(word)
        return out

    with capture() as cap:
        assert reader() == ["alpha", "beta"]
        spans = cap.spans()
    assert span_tree(spans) == [
        "invoke_agent reader",
        "  invoke_workflow stream_words",
        "    execute_tool tokenize",
        "    execute_tool tokenize",
        "  invoke_workflow consume",
        "  invoke_workflow consume",
    ]
    gen = _one(spans, "invoke_workflow stream_words")
    consumes = [s for s in spans if s.name == "invoke_workflow consume"]
    assert all(gen.start_ns < c.start_ns and c.end_ns <= gen.end_ns for c in consumes)
    assert gen.attributes["semtrace.items"] == 2


async def test_async_generator_span_covers_lazy_iteration() -> None:
    """A traced async generator consumed with ``async for`` (with awaits between items) is one
    span over the iteration; its inner tool calls are its children."""

    @semtrace.step("stream_chunks")
    async def stream_chunks() -> AsyncIterator[str]:
        for word in ("One", "Two", "Three"):
            await asyncio.sleep(0)
            yield tokenize(word)

    @semtrace.agent("streamer")
    async def streamer() -> list[str]:
        out = []
        async for chunk in stream_chunks():
            with semtrace.step("consume"):
                await asyncio.sleep(0)
                out.append(chunk)
        return out

    with capture() as cap:
        assert await streamer() == ["one", "two", "three"]
        spans = cap.spans()
    assert span_tree(spans) == [
        "invoke_agent streamer",
        "  invoke_workflow stream_chunks",
        "    execute_tool tokenize",
        "    execute_tool tokenize",
        "    execute_tool tokenize",
        "  invoke_workflow consume",
        "  invoke_workflow consume",
        "  invoke_workflow consume",
    ]
    gen = _one(spans, "invoke_workflow stream_chunks")
    last_consume = max(
        (s for s in spans if s.name == "invoke_workflow consume"), key=lambda s: s.end_ns
    )
    assert gen.start_ns < last_consume.start_ns <= last_consume.end_ns <= gen.end_ns
    assert gen.attributes["semtrace.items"] == 3
