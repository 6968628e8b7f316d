"""``semtrace mcp``: an MCP server (stdio or streamable HTTP) over one semtrace database.

Read-only by default: SQL runs in the collector's sandbox (one SELECT, no file access, rows
and time bounded), the other tools read through :mod:`semtrace.store.queries`. The one write
is ``diagnose_failure`` storing its diagnosis, as ``semtrace diagnose`` does.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
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


async def _in_thread(fn: Callable[..., str], *args: Any) -> str:
    # DuckDB work off the event loop: an HTTP server keeps answering other sessions meanwhile.
    return await anyio.to_thread.run_sync(functools.partial(fn, *args))


def build_server(
    db: str | os.PathLike[str],
    *,
    provider: str = "rules",
    host: str = "127.0.0.1",
    port: int = 8765,
) -> FastMCP:
    """The MCP server for ``db``; ``provider`` is what ``diagnose_failure`` asks."""
    tools = TelemetryTools(db, provider=provider)
    server = FastMCP(
        "semtrace", instructions=INSTRUCTIONS, host=host, port=port, log_level="WARNING"
    )

    @server.tool(annotations=_READ, structured_output=False)
    async def query_sql(sql: str, limit: int = 50) -> str:
        """Run one read-only SQL query (DuckDB dialect: SELECT, WITH or FROM only) on the
        telemetry and get at most `limit` rows (up to 500) as `a | b` lines. Tables: spans,
        span_events, span_links, logs, diagnoses, failure_fingerprints, heal_attempts; views:
        traces, failures, agents, llm_calls, tool_calls, messages, tasks, recoveries."""
        return await _in_thread(tools.query_sql, sql, limit)

    @server.tool(annotations=_READ, structured_output=False)
    async def describe_schema(relation: str | None = None) -> str:
        """List the tables and views with their columns and example queries, or, given a
        relation name, that relation's columns with their types."""
        return await _in_thread(tools.describe_schema, relation)

    @server.tool(annotations=_READ, structured_output=False)
    async def list_traces(
        limit: int = 20,
        status: str | None = None,
        agent: str | None = None,
        service: str | None = None,
        text: str | None = None,
        since: str | None = None,
    ) -> str:
        """Recent traces, newest first: trace_id, start, root span, agents, duration, span and
        error counts. Filters: status (OK or ERROR), agent, service, text (searched in the log
        sentences and error messages), since (a duration like 30m, 2h, 1d, or an ISO time)."""
        return await _in_thread(tools.list_traces, limit, status, agent, service, text, since)

    @server.tool(annotations=_READ, structured_output=False)
    async def get_trace(trace_id: str, max_spans: int = 150) -> str:
        """One trace as an indented span tree, with each span's agent, duration, errors and
        the log sentences written inside it. trace_id may be a unique prefix."""
        return await _in_thread(tools.get_trace, trace_id, max_spans)

    @server.tool(annotations=_READ, structured_output=False)
    async def list_failures(
        limit: int = 20,
        agent: str | None = None,
        trace_id: str | None = None,
        since: str | None = None,
    ) -> str:
        """Recent failures, newest first, each with its failure_id, agent, step, error type,
        the sentence that explains it, and its diagnosis once there is one. Filters: agent,
        trace_id, since (a duration like 30m, 2h, 1d, or an ISO time)."""
        return await _in_thread(tools.list_failures, limit, agent, trace_id, since)

    @server.tool(annotations=_READ, structured_output=False)
    async def get_failure(failure_id: str) -> str:
        """One failure in detail: its sentence, fingerprint, latest diagnosis (root cause,
        category, remediation steps) and the other occurrences of the same fingerprint."""
        return await _in_thread(tools.get_failure, failure_id)

    @server.tool(
        annotations=ToolAnnotations(
            readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
        ),
        structured_output=False,
    )
    async def diagnose_failure(fingerprint: str) -> str:
        """Diagnose the failures that share a fingerprint (from get_failure): root cause,
        category and remediation steps. The diagnosis is stored (cached: a second call for
        the same fingerprint reuses it)."""
        return await _in_thread(tools.diagnose_failure, fingerprint)

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
