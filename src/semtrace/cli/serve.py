"""``semtrace serve``: run the collector that owns a database file, or ask about / stop it."""

from __future__ import annotations

import gc
import os
import secrets
from typing import Annotated

import typer

from semtrace.cli import app
from semtrace.cli._common import DbOption, console, err_console, fail
from semtrace.exceptions import SemtraceError
from semtrace.lake.sink import DEFAULT_SETTLE_S

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_GC_YOUNG = 20_000  # allocations between young collections (Python's default is 700)


@app.command()
def serve(
    file: Annotated[
        str | None, typer.Argument(help="DuckDB file (the same as --db).", show_default=False)
    ] = None,
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
    lake: Annotated[
        str | None,
        typer.Option(
            help="Also publish every commit to this Parquet lake folder (shared by many owners).",
            envvar="SEMTRACE_LAKE",
        ),
    ] = None,
    lake_settle: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Publish a row to the lake once it is this many seconds old, so the writer's "
            "fixes for late parents travel with it (cycles run this often, 5 s at most).",
            envvar="SEMTRACE_LAKE_SETTLE",
        ),
    ] = DEFAULT_SETTLE_S,
    workers: Annotated[
        int,
        typer.Option(help="Processes decoding requests (0: in the collector; try cores - 1)."),
    ] = 0,
    idle_timeout: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds with no client and nothing pending."),
    ] = None,
    on_demand: Annotated[
        bool,
        typer.Option(
            "--on-demand",
            hidden=True,
            help="Started by a process that needed the file: a free loopback port, a random "
            "token, an idle timeout.",
        ),
    ] = False,
    status: Annotated[
        bool, typer.Option("--status", help="Show who owns the file, then exit.")
    ] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the file's owner cleanly.")] = False,
) -> None:
    """Own a database file: receive OTLP/HTTP and semtrace batches, answer read-only SQL.

    Agents in owner mode start one on demand; run it by hand for a fixed port, other
    machines' OTLP senders, or a service that outlives the agents."""
    from semtrace._connect import default_db
    from semtrace.store.database import resolve_path

    given = file or db
    path = resolve_path(given) if given else default_db()
    if status:
        _status(path)
        return
    if stop:
        _stop(path)
        return
    _serve(
        path, host, port, token, max_body_mb, workers, idle_timeout, on_demand, lake, lake_settle
    )


def _status(path: str) -> None:
    from semtrace.doctor import owner_status

    lines = owner_status(path)
    if lines is None:
        console.print(f"no owner: nothing serves {path}", highlight=False)
        raise typer.Exit(1)
    for name, value in lines:
        console.print(f"{name + ':':<12} {value}", highlight=False)


def _stop(path: str) -> None:
    from semtrace.store.ownership import stop_owner

    try:
        pid = stop_owner(path)
    except SemtraceError as exc:
        raise fail(str(exc)) from None
    if pid is None:
        console.print(f"no owner: nothing serves {path}", highlight=False)
        return
    console.print(f"stopped the owner of {path} (pid {pid})", highlight=False)


def _serve(
    path: str,
    host: str,
    port: int,
    token: str | None,
    max_body_mb: float,
    workers: int,
    idle_timeout: float | None,
    on_demand: bool,
    lake: str | None = None,
    lake_settle: float = DEFAULT_SETTLE_S,
) -> None:
    from semtrace.collector.server import Collector, CollectorConfig
    from semtrace.config import DEFAULT_IDLE_TIMEOUT_S
    from semtrace.store.ownership import read_announcement, watch_owner_log

    owner = read_announcement(path)
    if owner is not None and owner.pid != os.getpid():
        raise fail(f"{path} is already served by the collector at {owner.url} (pid {owner.pid})")
    if on_demand:
        # Only this user's processes can read the token (the announcement is mode 0600).
        host, port, token = "127.0.0.1", 0, secrets.token_urlsafe(32)
        idle_timeout = DEFAULT_IDLE_TIMEOUT_S if idle_timeout is None else idle_timeout
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
        idle_timeout_s=idle_timeout if idle_timeout and idle_timeout > 0 else None,
        on_demand=on_demand,
        lake=lake or None,
        lake_settle_s=lake_settle,
    )
    try:
        collector = Collector(config)
    except (SemtraceError, OSError) as exc:
        raise fail(str(exc)) from None

    auth = " (token required)" if token else ""
    idle = f"; stops after {config.idle_timeout_s:g} s idle" if config.idle_timeout_s else ""
    err_console.print(
        f"semtrace collector on {collector.url}{auth} owns {path} (pid {os.getpid()}){idle}\n"
        f"  OTLP/HTTP: {collector.url}/v1/traces, {collector.url}/v1/logs; "
        f"SQL: {collector.url}/v1/query"
        + (
            f"\n  lake: {collector.lake.lake} (owner {collector.lake.owner})"
            if collector.lake
            else ""
        ),
        highlight=False,
    )
    if on_demand:  # its stdout and stderr are the log beside the file: keep it rotated
        watch_owner_log(path)
    _tune_gc()
    collector.serve_until_signal()
    st = collector.ingest.stats
    err_console.print(
        f"semtrace collector stopped: {st.spans_committed} spans and {st.logs_committed} logs "
        "committed",
        highlight=False,
    )


def _tune_gc() -> None:
    """This process only serves: what it has imported and opened by now lives as long as it
    does, so collections need not scan it again (``gc.freeze``); and a commit allocates tens
    of thousands of short-lived objects, so young collections run less often. Measured on
    the owner route at ~30k spans/s: GC went from ~25 % of the owner's CPU to under 5 %.
    pyarrow imports pandas the first time it converts Python values (half a second): done
    here, before the first batch waits on it and before the freeze."""
    import pyarrow as pa

    pa.array([0])
    gc.freeze()
    gc.set_threshold(_GC_YOUNG, 20, 20)
