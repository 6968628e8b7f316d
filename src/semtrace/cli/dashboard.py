"""``semtrace dashboard``: open the Streamlit dashboard on a database or a collector."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from semtrace.cli import app
from semtrace.cli._common import DbOption, console, err_console, fail
from semtrace.exceptions import DatabaseLockedError, SemtraceError

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _check_readable(path: str) -> None:
    """Raise the SemtraceError saying why ``path`` cannot be read (a folder, not DuckDB, ...)
    before Streamlit starts; a file a writer holds is fine (the dashboard goes through it)."""
    from semtrace.store.database import connect_readonly

    with contextlib.suppress(DatabaseLockedError):
        connect_readonly(path).close()


@app.command()
def dashboard(
    db: DbOption = None,
    server: Annotated[
        str | None,
        typer.Option("--server", help="Read through a collector at this URL instead of a file."),
    ] = None,
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port to serve the dashboard on.")
    ] = 8501,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    collector: Annotated[
        bool,
        typer.Option(
            "--collector",
            help="Start a collector for --db first (unless one owns it), so agents can keep "
            "writing to the file while you watch.",
        ),
    ] = False,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="With a --host other than loopback: you know anyone who reaches the port can "
            "read every trace and log (the SQL page); no warning.",
        ),
    ] = False,
) -> None:
    """Browse traces, replay runs, see failures and their diagnoses (Streamlit)."""
    from semtrace.dashboard import launch, resolve_db

    if db and server:
        raise fail("give either --db or --server, not both")
    if host not in _LOOPBACK and not public:
        err_console.print(
            f"[bold yellow]warning:[/] serving the dashboard on {host} without authentication: "
            "anyone who can reach this port can read all telemetry (its SQL page runs any "
            "read-only query). Keep it on 127.0.0.1 and use an SSH tunnel or an authenticating "
            "proxy, or pass --public to say this is intended.",
            highlight=False,
        )
    try:
        target = server or resolve_db(db)
        if not server:
            _check_readable(target)
    except (SemtraceError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    console.print(
        f"semtrace dashboard for {target} on [bold]http://{host}:{port}[/] (Ctrl+C stops)"
    )
    code = launch(
        db=None if server else target, server=server, port=port, host=host, collector=collector
    )
    raise typer.Exit(code)
