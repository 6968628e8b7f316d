"""``semtrace dashboard``: open the Streamlit dashboard on a database or a collector."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from semtrace.cli import app
from semtrace.cli._common import DbOption, console, err_console, fail
from semtrace.exceptions import DatabaseLockedError, SemtraceError

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _check_readable(path: str) -> None:
    """Raise the SemtraceError saying why ``path`` cannot be read (a folder, not DuckDB, ...)
    before Streamlit starts; a file a writer holds is fine (the dashboard goes through it)."""
    import semtrace

    with contextlib.suppress(DatabaseLockedError):
        semtrace.connect(path).close()


@app.command()
def dashboard(
    db: DbOption = None,
    server: Annotated[
        str | None,
        typer.Option("--server", help="Read through a collector at this URL instead of a file."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Port to serve the dashboard on (default: 8501, or the next free one).",
            show_default=False,
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    collector: Annotated[
        bool,
        typer.Option(
            "--collector",
            help="Start a collector for --db first (unless one owns it), so agents can keep "
            "writing to the file while you watch.",
        ),
    ] = False,
    lake: Annotated[
        str | None,
        typer.Option("--lake", help="Read a Parquet lake folder (semtrace serve --lake)."),
    ] = None,
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
    from semtrace.dashboard import DEFAULT_PORT, choose_port, launch, resolve_db

    if db and server:
        raise fail("give either --db or --server, not both")
    if lake and (db or server):
        raise fail("give either --lake or --db/--server, not both")
    if host not in _LOOPBACK and not public:
        err_console.print(
            f"[bold yellow]warning:[/] serving the dashboard on {host} without authentication: "
            "anyone who can reach this port can read all telemetry (its SQL page runs any "
            "read-only query). Keep it on 127.0.0.1 and use an SSH tunnel or an authenticating "
            "proxy, or pass --public to say this is intended.",
            highlight=False,
        )
    try:
        if lake:
            from semtrace.lake import connect_lake

            connect_lake(lake).close()  # says what is wrong before Streamlit starts
        target = lake or server or resolve_db(db)
        if not server and not lake and Path(target).exists():
            _check_readable(target)
        chosen = choose_port(port, host)
    except SemtraceError as exc:
        raise fail(str(exc)) from None
    if not server and not lake and not Path(target).exists():
        console.print(
            f"No database at {target} yet: the dashboard waits for the first spans an agent "
            "writes there (or run `semtrace demo`)."
        )
    if port is None and chosen != DEFAULT_PORT:
        console.print(f"Port {DEFAULT_PORT} is in use; serving on {chosen} instead.")
    console.print(
        f"semtrace dashboard for {target} on [bold]http://{host}:{chosen}[/] (Ctrl+C stops)"
    )
    code = launch(
        db=None if server or lake else target,
        server=server,
        port=chosen,
        host=host,
        collector=collector,
        lake=lake,
    )
    raise typer.Exit(code)
