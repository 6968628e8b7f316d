"""``semtrace serve``: run the OTLP/HTTP collector that owns a database file."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from semtrace.cli import app
from semtrace.cli._common import DbOption, err_console, fail
from semtrace.exceptions import SemtraceError

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port (4318 is OTLP/HTTP's; 0 picks one).")
    ] = 4318,
    token: Annotated[
        str | None,
        typer.Option(help="Bearer token every request must carry.", envvar="SEMTRACE_TOKEN"),
    ] = None,
    max_body_mb: Annotated[
        float, typer.Option(help="Largest request body, after decompression (MiB).")
    ] = 64.0,
    workers: Annotated[
        int,
        typer.Option(help="Processes decoding requests (0: in the collector; try cores - 1)."),
    ] = 0,
) -> None:
    """Receive OTLP/HTTP traces and logs into the database and answer read-only SQL."""
    from semtrace._connect import default_db
    from semtrace.collector.announce import read_announcement
    from semtrace.collector.server import Collector, CollectorConfig
    from semtrace.store.database import resolve_path

    path = resolve_path(db) if db else default_db()
    owner = read_announcement(path)
    if owner is not None and owner.pid != os.getpid():
        raise fail(f"{path} is already served by the collector at {owner.url} (pid {owner.pid})")
    if host not in _LOOPBACK and not token:
        err_console.print(
            f"[bold yellow]warning:[/] listening on {host} without a token: anyone who can "
            "reach this port can write telemetry and read it with SQL. Pass --token or set "
            "SEMTRACE_TOKEN.",
            highlight=False,
        )
    config = CollectorConfig(
        db=path,
        host=host,
        port=port,
        token=token or None,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        decode_workers=max(0, workers),
    )
    try:
        collector = Collector(config)
    except (SemtraceError, OSError) as exc:
        raise fail(str(exc)) from None

    auth = " (token required)" if token else ""
    err_console.print(
        f"semtrace collector on {collector.url}{auth} owns {path}\n"
        f"  OTLP/HTTP: {collector.url}/v1/traces, {collector.url}/v1/logs; "
        f"SQL: {collector.url}/v1/query",
        highlight=False,
    )
    collector.serve_until_signal()
    st = collector.ingest.stats
    err_console.print(
        f"semtrace collector stopped: {st.spans_committed} spans and {st.logs_committed} logs "
        "committed",
        highlight=False,
    )
