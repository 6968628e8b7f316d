"""An MCP server over a semtrace database, so agents (and coding assistants) can query their
own telemetry: ``semtrace mcp --db FILE`` (stdio) or ``--transport http``.

:func:`build_server` makes the FastMCP server (tools and resources), :func:`serve` runs it;
:mod:`semtrace.mcp_server.tools` holds what each tool answers.
"""

from __future__ import annotations

from semtrace.mcp_server.server import Transport, build_server, serve

__all__ = ["Transport", "build_server", "serve"]
