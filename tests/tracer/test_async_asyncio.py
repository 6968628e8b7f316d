"""Parent/child correctness across asyncio hand-offs: gather, TaskGroup, create_task,
asyncio.timeout cancellation and agents calling agents."""

from __future__ import annotations

import asyncio

import pytest

import semtrace
from semtrace.store.model import SpanRecord
from semtrace.testing import capture, span_tree


@semtrace.tool("lookup")
async def lookup(key: str) -> str:
    await asyncio.sleep(0)
    return key.upper()


def _one(spans: list[SpanRecord], name: str) -> SpanRecord:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


async def test_gather_children_stay_under_the_agent() -> None:
    """Coroutines run by asyncio.gather are children of the span that awaited the gather."""

    @semtrace.agent("fanout")
    async def fanout() -> list[str]:
        return list(await asyncio.gather(lookup("a"), lookup("b"), lookup("c")))

    with capture() as cap:
        assert await fanout() == ["A", "B", "C"]
        spans = cap.spans()
    assert span_tree(spans, "kind") == [
        "invoke_agent fanout INTERNAL",
        "  execute_tool lookup INTERNAL",
        "  execute_tool lookup INTERNAL",
        "  execute_tool lookup INTERNAL",
    ]
    assert len({s.trace_id for s in spans}) == 1


async def test_taskgroup_children_stay_under_the_agent() -> None:
    """Tasks started in an asyncio.TaskGroup are children of the span around the group."""

    @semtrace.agent("grouped")
    async def grouped() -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(lookup("x"))
            tg.create_task(lookup("y"))

    with capture() as cap:
        await grouped()
        spans = cap.spans()
    assert span_tree(spans) == [
        "invoke_agent grouped",
        "  execute_tool lookup",
        "  execute_tool lookup",
    ]


async def test_create_task_outliving_the_await_keeps_its_parent() -> None:
    """A task made with create_task inside a step is that step's child, even when awaited
    after the step ended."""
    holder: list[asyncio.Task[str]] = []

    @semtrace.step("schedule")
    async def schedule() -> None:
        holder.append(asyncio.create_task(lookup("later")))

    @semtrace.agent("scheduler")
    async def scheduler() -> str:
        await schedule()
        return await holder[0]

    with capture() as cap:
        assert await scheduler() == "LATER"
        spans = cap.spans()
    assert span_tree(spans) == [
        "invoke_agent scheduler",
        "  invoke_workflow schedule",
        "    execute_tool lookup",
    ]


async def test_timeout_cancellation_ends_spans_with_error_and_sentence() -> None:
    """asyncio.timeout cancels the inner tool (ERROR, 'was cancelled') and the agent around
    the timeout ends in ERROR saying it timed out."""

    @semtrace.tool("slow_vendor_lookup")
    async def slow_vendor_lookup() -> None:
        await asyncio.sleep(30)

    @semtrace.agent("procurement")
    async def procurement() -> None:
        async with asyncio.timeout(0.02):
            await slow_vendor_lookup()

    with capture() as cap:
        with pytest.raises(TimeoutError):
            await procurement()
        spans = cap.spans()
    assert span_tree(spans, "status_code") == [
        "invoke_agent procurement ERROR",
        "  execute_tool slow_vendor_lookup ERROR",
    ]
    tool = _one(spans, "execute_tool slow_vendor_lookup")
    agent = _one(spans, "invoke_agent procurement")
    assert tool.status_message is not None and "was cancelled" in tool.status_message
    assert "procurement" in tool.status_message
    assert agent.status_message is not None and "timed out" in agent.status_message


async def test_nested_agents_calling_agents() -> None:
    """An agent calling agents (sync and async, in a gather) gives one tree, one trace."""

    @semtrace.agent("flight")
    async def flight() -> str:
        return await lookup("LIS")

    @semtrace.agent("hotel")
    def hotel() -> str:
        return "ok"

    @semtrace.agent("supervisor")
    async def supervisor() -> None:
        await asyncio.gather(flight(), asyncio.to_thread(hotel))

    with capture() as cap:
        await supervisor()
        spans = cap.spans()
    assert span_tree(spans) == [
        "invoke_agent supervisor",
        "  invoke_agent flight",
        "    execute_tool lookup",
        "  invoke_agent hotel",
    ]
    # agent names ride in attributes; the tool inside "flight" carries "flight"
    tool = _one(spans, "execute_tool lookup")
    assert tool.attributes["semtrace.agent.name"] == "flight"
    assert len({s.trace_id for s in spans}) == 1
