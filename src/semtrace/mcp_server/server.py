"""``semtrace mcp``: an MCP server (stdio or streamable HTTP) over one semtrace database.

Read-only by default: SQL runs in the collector's sandbox (one SELECT, no file access, rows
and time bounded), the other tools read through :mod:`semtrace.store.queries`. The one write
is ``diagnose_failure`` storing its diagnosis, as ``semtrace diagnose`` does. Only when built
with ``tasks=True`` (``semtrace mcp --tasks``) can a client answer or cancel a task waiting
for a human.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

from semtrace.mcp_server.tools import TelemetryTools

__all__ = ["Transport", "build_server", "serve"]

Transport = Literal["stdio", "http"]

INSTRUCTIONS = """\
semtrace telemetry of AI agents: OpenTelemetry spans plus natural-language log sentences in
DuckDB. Start with list_traces or list_failures, drill down with get_trace(trace_id) and
get_failure(failure_id); query_sql answers anything else (describe_schema lists the tables
and views). Answers are compact text; ids are printed whole, pass them back as they are."""

_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)


def _threaded(fn: Callable[..., str]) -> Callable[..., Awaitable[str]]:
    """``fn`` as a coroutine run in a worker thread: DuckDB work stays off the event loop, so
    an HTTP server keeps answering other sessions meanwhile. Name, docstring and signature
    (what MCP clients see as the tool's description and input schema) are ``fn``'s."""

    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> str:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    return call


def build_server(
    db: str | os.PathLike[str],
    *,
    provider: str = "rules",
    tasks: bool = False,
    answer_as: str = "mcp",
    host: str = "127.0.0.1",
    port: int = 8765,
) -> FastMCP:
    """The MCP server for ``db``; ``provider`` is what ``diagnose_failure`` asks. ``tasks``
    adds the tools that list and answer (or cancel) tasks waiting for a human, answering
    as ``answer_as``."""
    tools = TelemetryTools(db, provider=provider, answer_as=answer_as)
    server = FastMCP(
        "semtrace", instructions=INSTRUCTIONS, host=host, port=port, log_level="WARNING"
    )
    for read in (
        tools.query_sql,
        tools.describe_schema,
        tools.list_traces,
        tools.get_trace,
        tools.list_failures,
        tools.get_failure,
    ):
        server.add_tool(_threaded(read), annotations=_READ, structured_output=False)
    server.add_tool(
        _threaded(tools.diagnose_failure),
        annotations=ToolAnnotations(
            readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
        ),
        structured_output=False,
    )
    if tasks:
        server.add_tool(
            _threaded(tools.list_waiting_tasks), annotations=_READ, structured_output=False
        )
        for act in (tools.answer_task, tools.cancel_task):
            server.add_tool(
                _threaded(act),
                annotations=ToolAnnotations(
                    readOnlyHint=False, destructiveHint=True, openWorldHint=False
                ),
                structured_output=False,
            )

    @server.resource(
        "semtrace://contract",
        name="sql-contract",
        description="The tables and views of semtrace's SQL contract, their columns and "
        "example queries.",
        mime_type="text/plain",
    )
    def contract() -> str:
        return tools.describe_schema()

    @server.resource(
        "semtrace://relations/{name}",
        name="relation",
        description="One table or view of the SQL contract: what it holds, columns and types.",
        mime_type="text/plain",
    )
    def relation(name: str) -> str:
        return tools.describe_schema(name)

    return server


def serve(server: FastMCP, transport: Transport = "stdio") -> None:
    """Run ``server`` until its client disconnects (stdio) or the process is stopped (http)."""
    server.run("stdio" if transport == "stdio" else "streamable-http")
