"""Parent/child correctness across thread hand-offs: run_in_executor, ThreadPoolExecutor
submit/map through semtrace's context executor, and bind_context for foreign pools."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import semtrace
from semtrace.testing import capture, span_tree
from semtrace.tracer.executors import bind_context


@semtrace.tool("fetch_vendor")
def fetch_vendor(vendor_id: int) -> tuple[int, str]:
    return vendor_id, threading.current_thread().name


async def test_run_in_executor_keeps_the_parent() -> None:
    """loop.run_in_executor with semtrace.context_executor(): the tool span in the worker
    thread is a child of the awaiting agent."""

    @semtrace.agent("procurement")
    async def procurement() -> str:
        loop = asyncio.get_running_loop()
        with semtrace.context_executor(max_workers=2) as pool:
            _, thread = await loop.run_in_executor(pool, fetch_vendor, 7)
        return thread

    with capture() as cap:
        thread = await procurement()
        spans = cap.spans()
    assert thread.startswith("semtrace")
    assert span_tree(spans, "kind") == [
        "invoke_agent procurement INTERNAL",
        "  execute_tool fetch_vendor INTERNAL",
    ]


def test_submit_and_map_keep_the_parent() -> None:
    """ThreadPoolExecutor.submit and .map through context_executor(): every call's span is
    a child of the span that submitted it, none is a new root."""

    @semtrace.agent("batcher")
    def batcher() -> list[int]:
        with semtrace.context_executor(max_workers=3) as pool:
            first = pool.submit(fetch_vendor, 0).result()[0]
            rest = [vid for vid, _ in pool.map(fetch_vendor, [1, 2, 3])]
        return [first, *rest]

    with capture() as cap:
        assert batcher() == [0, 1, 2, 3]
        spans = cap.spans()
    assert sorted(span_tree(spans)) == sorted(
        ["invoke_agent batcher"] + ["  execute_tool fetch_vendor"] * 4
    )
    roots = [s for s in spans if s.parent_span_id is None]
    assert [r.name for r in roots] == ["invoke_agent batcher"]


def test_bind_context_for_a_pool_semtrace_does_not_own() -> None:
    """bind_context(fn) carries the caller's context into a plain ThreadPoolExecutor; the
    same call without it starts a stray root trace (what the helper exists to prevent)."""

    @semtrace.agent("caller")
    def caller(pool: ThreadPoolExecutor) -> None:
        pool.submit(bind_context(fetch_vendor), 1).result()
        pool.submit(fetch_vendor, 2).result()

    with capture() as cap, ThreadPoolExecutor(max_workers=1) as pool:
        caller(pool)
        spans = cap.spans()
    assert span_tree(spans) == [
        "invoke_agent caller",
        "  execute_tool fetch_vendor",
        "execute_tool fetch_vendor",
    ]
    bound, unbound = sorted(
        (s for s in spans if s.name == "execute_tool fetch_vendor"), key=lambda s: s.start_ns
    )
    assert bound.parent_span_id is not None
    assert unbound.parent_span_id is None
