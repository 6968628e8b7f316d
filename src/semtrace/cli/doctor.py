"""``semtrace doctor``: semtrace's own health, with a fix for each problem."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.table import Table
from rich.text import Text

from semtrace._connect import default_db
from semtrace.cli import app
from semtrace.cli._common import DbOption, console, fail
from semtrace.doctor import run_checks
from semtrace.exceptions import SemtraceError
from semtrace.store.resilient import get_writer
from semtrace.store.spool import spool_dir_for

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


@app.command()
def doctor(
    db: DbOption = None,
    replay: Annotated[bool, typer.Option(help="Replay spooled batches into the file now.")] = False,
) -> None:
    """Check the database, its owner, the spool and the telemetry counters; print fixes."""
    path = db or default_db()
    if replay:
        if not Path(path).exists() and not Path(spool_dir_for(path)).exists():
            raise fail(f"nothing to replay: neither {path} nor its spool folder exists")
        n = get_writer(path, component="doctor").flush_spool()
        console.print(f"replayed {n} spooled batch{'es' if n != 1 else ''}")
    try:
        checks = run_checks(path)
    except SemtraceError as exc:  # a folder, no permission, ...: the message names the file
        raise fail(str(exc)) from None
    except (duckdb.Error, OSError) as exc:
        raise fail(f"cannot check {path}: {exc}") from None
    table = Table(title="semtrace doctor", header_style="bold cyan")
    with_fix = any(c.fix for c in checks)  # no empty column when all is well
    for col in ("check", "status", "detail", "fix")[: 4 if with_fix else 3]:
        table.add_column(col, overflow="fold")
    for c in checks:
        status = Text(c.status, style=_STYLE[c.status])
        table.add_row(c.name, status, Text(c.detail), *([Text(c.fix)] if with_fix else []))
    console.print(table)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)
