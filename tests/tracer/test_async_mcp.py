"""MCP client tracing against a real in-process MCP server (memory streams, mcp 1.23-1.30):
tool calls as CLIENT spans with the MCP conventions, traceparent in params._meta, tool errors,
and a task followed through polls without a span per poll."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import semtrace
from semtrace.store.model import SpanRecord
from semtrace.testing import capture, span_tree

mcp = pytest.importorskip("mcp")
pytest.importorskip("mcp.server.experimental.task_context")

from mcp.server.experimental.task_context import ServerTaskContext  # noqa: E402
from mcp.server.lowlevel import Server  # noqa: E402
from mcp.shared.memory import create_connected_server_and_client_session  # noqa: E402
from mcp.types import (  # noqa: E402
    TASK_OPTIONAL,
    CallToolResult,
    TextContent,
    Tool,
    ToolExecution,
)

pytestmark = pytest.mark.filterwarnings("ignore:The experimental tasks API:DeprecationWarning")


def _one(spans: list[SpanRecord], name: str) -> SpanRecord:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def _server(received: dict[str, Any], status_set: asyncio.Event, release: asyncio.Event) -> Any:
    server: Any = Server("semtrace-test")
    server.experimental.enable_tasks()
    schema = {"type": "object"}

    @server.list_tools()  # type: ignore[untyped-decorator]
    async def list_tools() -> list[Tool]:
        return [
            Tool(name="echo", inputSchema=schema),
            Tool(name="broken", inputSchema=schema),
            Tool(
                name="review",
                inputSchema=schema,
                execution=ToolExecution(taskSupport=TASK_OPTIONAL),
            ),
        ]

    @server.call_tool()  # type: ignore[untyped-decorator]
    async def call_tool(name: str, arguments: dict[str, Any]) -> Any:
        ctx = server.request_context
        received[name] = dict(ctx.meta.model_extra or {}) if ctx.meta else {}
        if name == "echo":
            return [TextContent(type="text", text=str(arguments.get("text")))]
        if name == "broken":
            raise ValueError("the vendor service is down")

        async def work(task: ServerTaskContext) -> CallToolResult:
            await task.update_status("checking the vendor")
            status_set.set()
            await release.wait()
            return CallToolResult(content=[TextContent(type="text", text="approved")])

        return await ctx.experimental.run_task(work)

    return server


async def test_call_tool_and_task_are_traced_with_mcp_conventions() -> None:
    """call_tool gives 'tools/call {tool}' CLIENT spans (traceparent reaches the server's
    _meta; isError -> tool_error); call_tool_as_task adds mcp.task.id and a task span that
    follows the polled statuses, counting polls instead of making spans."""
    received: dict[str, Any] = {}
    status_set, release = asyncio.Event(), asyncio.Event()
    server = _server(received, status_set, release)
    polls = 0

    with capture() as cap:
        async with create_connected_server_and_client_session(server) as session:
            assert semtrace.wrap(session) is session
            semtrace.wrap(session)  # twice changes nothing
            features = session.experimental

            @semtrace.agent("compliance")
            async def compliance() -> tuple[Any, ...]:
                nonlocal polls
                echoed = await session.call_tool("echo", {"text": "hi"})
                broken = await session.call_tool("broken", {})
                created = await features.call_tool_as_task("review", {}, ttl=30_000)
                task_id = created.task.taskId
                await asyncio.wait_for(status_set.wait(), 30)
                polls += 1
                seen = [(await features.get_task(task_id)).statusMessage]
                release.set()
                deadline = asyncio.get_running_loop().time() + 30
                while (await features.get_task(task_id)).status != "completed":
                    polls += 1
                    assert asyncio.get_running_loop().time() < deadline, "the task never completed"
                    await asyncio.sleep(0.01)
                polls += 1
                result = await features.get_task_result(task_id, CallToolResult)
                return echoed, broken, task_id, seen, result

            echoed, broken, task_id, seen, result = await compliance()
        spans = cap.spans()

    assert echoed.content[0].text == "hi" and broken.isError
    assert seen == ["checking the vendor"] and result.content[0].text == "approved"
    assert span_tree(spans, "kind") == [
        "invoke_agent compliance INTERNAL",
        "  tools/call echo CLIENT",
        "  tools/call broken CLIENT",
        "  tools/call review CLIENT",
        "  task review INTERNAL",
        "  tasks/result CLIENT",
    ]
    echo = _one(spans, "tools/call echo")
    assert {k: echo.attributes[k] for k in ("mcp.method.name", "gen_ai.tool.name")} == {
        "mcp.method.name": "tools/call",
        "gen_ai.tool.name": "echo",
    }
    assert echo.attributes["gen_ai.operation.name"] == "execute_tool"
    assert received["echo"]["traceparent"] == f"00-{echo.trace_id}-{echo.span_id}-01"
    review_call = _one(spans, "tools/call review")
    assert received["review"]["traceparent"].split("-")[2] == review_call.span_id

    bad = _one(spans, "tools/call broken")
    assert bad.status_code == "ERROR" and bad.attributes["error.type"] == "tool_error"
    assert "vendor service is down" in (bad.status_message or "")

    assert review_call.attributes["mcp.task.id"] == task_id
    task_span = _one(spans, "task review")
    assert task_span.attributes["mcp.task.id"] == task_id
    assert task_span.attributes["semtrace.task.polls"] == polls
    statuses = [
        (e.attributes["mcp.task.status"], e.attributes.get("mcp.task.status_message"))
        for e in task_span.events
        if e.name == "mcp.task.status"
    ]
    assert statuses[0] == ("working", None)
    assert statuses[1] == ("working", "checking the vendor")
    assert statuses[-1][0] == "completed"
    assert _one(spans, "tasks/result").attributes["mcp.task.id"] == task_id


async def test_cancel_and_json_rpc_errors() -> None:
    """tasks/cancel ends the followed task as cancelled; a JSON-RPC error (unknown task id)
    ends the request span in ERROR with error.type = rpc.response.status_code = its code."""
    from mcp.shared.exceptions import McpError

    status_set, release = asyncio.Event(), asyncio.Event()
    server = _server({}, status_set, release)
    with capture() as cap:
        async with create_connected_server_and_client_session(server) as session:
            semtrace.wrap(session)
            features = session.experimental
            created = await features.call_tool_as_task("review", {})
            await status_set.wait()
            cancelled = await features.cancel_task(created.task.taskId)
            with pytest.raises(McpError):
                await features.get_task_result("no-such-task", CallToolResult)
            # (the server's work is left waiting: the session's exit cancels it)
        spans = cap.spans()
    assert cancelled.status == "cancelled"
    assert span_tree(spans, "kind") == [
        "tools/call review CLIENT",
        "task review INTERNAL",
        "tasks/cancel CLIENT",
        "tasks/result CLIENT",
    ]
    task_span = _one(spans, "task review")
    assert task_span.attributes["mcp.task.status"] == "cancelled"
    failed = _one(spans, "tasks/result")
    assert failed.status_code == "ERROR"
    code = failed.attributes["rpc.response.status_code"]
    assert failed.attributes["error.type"] == code and int(str(code)) < 0
