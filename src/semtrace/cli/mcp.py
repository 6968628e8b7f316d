"""``semtrace mcp``: serve a database to MCP clients (Claude Desktop, Cursor, agents)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from semtrace.cli import app
from semtrace.cli._common import DbOption, err_console, fail

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@app.command()
def mcp(
    db: DbOption = None,
    transport: Annotated[
        str,
        typer.Option(help="stdio (a client starts this command) or http (streamable HTTP)."),
    ] = "stdio",
    host: Annotated[str, typer.Option(help="Address to bind with --transport http.")] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port with --transport http (path /mcp).")
    ] = 8765,
    provider: Annotated[
        str, typer.Option(help="Who diagnose_failure asks: rules (offline), openai, anthropic.")
    ] = "rules",
    tasks: Annotated[
        bool,
        typer.Option("--tasks", help="Also let the client list, answer and cancel waiting tasks."),
    ] = False,
    answer_as: Annotated[
        str, typer.Option(help="Who answers, in the task's record, with --tasks.")
    ] = "mcp client",
) -> None:
    """Serve the telemetry to MCP clients: SQL, traces, failures, diagnoses (read-only)."""
    from semtrace._connect import default_db
    from semtrace.mcp_server import build_server, serve
    from semtrace.store.database import missing_database_message, resolve_path

    if transport not in ("stdio", "http"):
        raise fail(f"--transport must be stdio or http, not {transport!r}")
    path = resolve_path(db) if db else default_db()
    if not os.path.exists(path):
        raise fail(missing_database_message(path))
    if transport == "http" and host not in _LOOPBACK:
        err_console.print(
            f"[bold yellow]warning:[/] serving {path} on {host}: anyone who can reach this "
            "port can read the telemetry.",
            highlight=False,
        )
    server = build_server(
        path, provider=provider, tasks=tasks, answer_as=answer_as, host=host, port=port
    )
    if transport == "http":
        err_console.print(f"semtrace MCP server on http://{host}:{port}/mcp for {path}")
    serve(server, "http" if transport == "http" else "stdio")
