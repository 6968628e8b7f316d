"""A question an MCP server asks for one of its tasks (``elicitation/create``) waits in the
Inbox as the followed task in input_required; the answer given there goes back to the server
as the elicitation result (real in-process MCP server, mcp 1.23-1.30)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import semtrace
from semtrace.inbox import answer_task
from semtrace.store import queries
from semtrace.tracer.mcp import elicitation_content, inbox_elicitation

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

QUESTION = "Release 24,000 EUR to Nordwind Logistics?"
SCHEMA = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}, "note": {"type": "string"}},
    "required": ["approved"],
}


def _server() -> Any:
    server: Any = Server("payments")
    server.experimental.enable_tasks()

    @server.list_tools()  # type: ignore[untyped-decorator]
    async def list_tools() -> list[Tool]:
        execution = ToolExecution(taskSupport=TASK_OPTIONAL)
        return [Tool(name="release", inputSchema={"type": "object"}, execution=execution)]

    @server.call_tool()  # type: ignore[untyped-decorator]
    async def call_tool(name: str, arguments: dict[str, Any]) -> Any:
        async def work(task: ServerTaskContext) -> CallToolResult:
            got = await task.elicit(QUESTION, SCHEMA)
            text = f"{got.action} {sorted((got.content or {}).items())}"
            return CallToolResult(content=[TextContent(type="text", text=text)])

        return await server.request_context.experimental.run_task(work)

    return server


async def _answer_when_waiting(con: Any, **answer: Any) -> str:
    """Wait (at most 30 s) until a task waits in the Inbox, then answer it as given."""
    for _ in range(1500):
        semtrace.force_flush()
        waiting = queries.waiting_tasks(con()).to_pylist()
        if waiting:
            await asyncio.to_thread(answer_task, waiting[0]["task_id"], **answer)
            return str(waiting[0]["question"])
        await asyncio.sleep(0.02)
    raise AssertionError("no task ever waited in the Inbox")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"answer": "fine, the PO matches", "decision": "approve"},
            "accept [('approved', True), ('note', 'fine, the PO matches')]",
        ),
        ({"decision": "reject"}, "decline []"),
    ],
)
async def test_the_server_question_is_answered_from_the_inbox(
    configured: Path,
    con: Any,
    monkeypatch: pytest.MonkeyPatch,
    answer: dict[str, Any],
    expected: str,
) -> None:
    """The followed task waits in the Inbox with the server's question; an approval comes
    back as accepted form values, a rejection as declined, and the server's task completes."""
    monkeypatch.setenv("SEMTRACE_INBOX_POLL_S", "0.02")
    async with create_connected_server_and_client_session(
        _server(), elicitation_callback=inbox_elicitation()
    ) as session:
        semtrace.wrap(session)
        features = session.experimental
        created = await features.call_tool_as_task("release", {})
        task_id = created.task.taskId
        result, question = await asyncio.gather(
            features.get_task_result(task_id, CallToolResult),
            _answer_when_waiting(con, by="alice", **answer),
        )
    assert question == QUESTION
    assert result.content[0].text == expected
    semtrace.force_flush()
    [row] = (
        con()
        .sql("select task_id, status, answered_by, input_requests from tasks")
        .to_arrow_table()
        .to_pylist()
    )
    assert row == {
        "task_id": task_id,
        "status": "completed",
        "answered_by": "alice",
        "input_requests": 1,
    }


def test_form_values_from_an_answer() -> None:
    """Text fills string fields, yes/no fills booleans, numbers are parsed, an enum takes
    only one of its values, a mapping answer is the form itself."""
    schema = {
        "properties": {
            "ok": {"type": "boolean"},
            "count": {"type": "integer"},
            "size": {"type": "string", "enum": ["S", "M"]},
            "note": {"type": "string"},
        }
    }
    assert elicitation_content(schema, "yes") == {"ok": True, "note": "yes"}
    assert elicitation_content(schema, "12") == {"ok": False, "count": 12, "note": "12"}
    assert elicitation_content(schema, "M") == {"ok": False, "size": "M", "note": "M"}
    assert elicitation_content(schema, {"ok": True, "count": 3}) == {"ok": True, "count": 3}
