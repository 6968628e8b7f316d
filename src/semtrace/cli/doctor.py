"""``semtrace doctor``: semtrace's own health, with a fix for each problem."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from semtrace._connect import default_db
from semtrace.cli import app
from semtrace.cli._common import DbOption, console
from semtrace.doctor import run_checks
from semtrace.store.resilient import get_writer

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


@app.command()
def doctor(
    db: DbOption = None,
    replay: Annotated[bool, typer.Option(help="Replay spooled batches into the file now.")] = False,
) -> None:
    """Check the database, its owner, the spool and the telemetry counters; print fixes."""
    path = db or default_db()
    if replay:
        n = get_writer(path, component="doctor").flush_spool()
        console.print(f"replayed {n} spooled batch{'es' if n != 1 else ''}")
    checks = run_checks(path)
    table = Table(title="semtrace doctor", header_style="bold cyan")
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col, overflow="fold")
    for c in checks:
        table.add_row(c.name, f"[{_STYLE[c.status]}]{c.status}[/]", c.detail, c.fix)
    console.print(table)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)
