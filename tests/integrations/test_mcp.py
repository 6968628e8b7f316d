"""semtrace.instrument('mcp'): OpenInference carries trace context over a real MCP stdio session."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import mcp.client.stdio
from mcp import ClientSession, StdioServerParameters

import semtrace
from semtrace.integrations import uninstrument

SERVER = textwrap.dedent(
    """
    import sys
    import semtrace

    # Before FastMCP is imported: it binds the stdio transport the instrumentor wraps.
    semtrace.configure(service_name="vendor-server", db=sys.argv[1], instrument=["mcp"],
                       mode="embedded")  # no owner: the test reads the file after
    from mcp.server.fastmcp import FastMCP

    server = FastMCP("vendors")

    @server.tool()
    @semtrace.tool("lookup_vendor")
    def lookup_vendor(name: str) -> str:
        return f"{name}: vendor 42"

    server.run("stdio")
    """
)


async def test_tool_span_on_the_server_joins_the_client_trace(
    configured: Path, con: Any, tmp_path: Path
) -> None:
    """The server's tool span, in its own database, has the client's trace id and parent."""
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    server_db = tmp_path / "server.duckdb"
    semtrace.instrument("mcp")
    try:
        params = StdioServerParameters(command=sys.executable, args=[str(script), str(server_db)])
        # Looked up now, not imported by name earlier: instrument() wraps the module attribute.
        transport = mcp.client.stdio.stdio_client(params)
        async with transport as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            with semtrace.agent("procurement"):
                result = await session.call_tool("lookup_vendor", {"name": "ACME"})
    finally:
        uninstrument("mcp")
    assert result.content[0].text == "ACME: vendor 42"
    [(trace_id, span_id)] = con().sql("SELECT trace_id, span_id FROM spans").fetchall()
    server = duckdb.connect(str(server_db), read_only=True)
    rows = server.sql(
        "SELECT trace_id, parent_span_id, operation, tool_name, service_name FROM spans"
    ).fetchall()
    assert rows == [(trace_id, span_id, "execute_tool", "lookup_vendor", "vendor-server")]
