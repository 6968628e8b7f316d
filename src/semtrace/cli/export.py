"""``semtrace export`` / ``semtrace import``: Hive-partitioned Parquet out of and into a database."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from semtrace._connect import connect
from semtrace.cli import app
from semtrace.cli._common import DbOption, console, fail, progress_bar
from semtrace.exceptions import SemtraceError
from semtrace.integrations.parquet import export_parquet, import_parquet, parse_since, plan_export


class ExportFormat(StrEnum):
    parquet = "parquet"


def _os_reason(exc: OSError) -> str:
    """What went wrong and where, without Python's ``[Errno N]`` prefix."""
    reason = exc.strerror or str(exc)
    return f"{reason} ({exc.filename})" if exc.filename else reason


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the Parquet tree to.")],
    db: DbOption = None,
    format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ExportFormat.parquet,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only days from this long ago (1d, 12h, 2w) or an ISO date; whole UTC days."
        ),
    ] = None,
) -> None:
    """Export every table as Parquet partitioned by date (and service for spans and logs).

    Re-exporting a day replaces it, so a daily `--since 1d` never duplicates rows. Read it
    back with DuckDB `read_parquet('OUT/spans/**/*.parquet', hive_partitioning=true)`,
    polars or Spark, or load it into another database with `semtrace import OUT`.
    """
    try:
        start = parse_since(since)
        con = connect(db)
        try:
            plan = plan_export(con, start)
        finally:
            con.close()
        with progress_bar("[bold]{task.description}") as progress:
            task = progress.add_task("exporting", total=max(plan.total_rows, 1))

            def advance(table: str, day: date | None, rows: int) -> None:
                progress.update(task, advance=rows, description=f"{table} {day or ''}")

            written = export_parquet(db, out, since, plan=plan, progress=advance)
    except (SemtraceError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:  # the folder is under a file, not writable, the disk is full...
        raise fail(f"cannot export to {out}: {_os_reason(exc)}") from None
    total = sum(written.values())
    detail = ", ".join(f"{t} {n}" for t, n in written.items()) or "nothing to export"
    console.print(f"wrote {total} rows ({detail}) as {format.value} to {out}")


@app.command("import")
def import_(
    folder: Annotated[Path, typer.Argument(help="A folder written by `semtrace export`.")],
    db: DbOption = None,
) -> None:
    """Load a Parquet export into a database; rows already there are skipped (idempotent)."""
    try:
        with progress_bar("[bold]{task.description}") as progress:
            task = progress.add_task("importing", total=None)

            def advance(table: str, rows: int) -> None:
                progress.update(task, description=f"{table}: {rows} new rows")

            added = import_parquet(folder, db, progress=advance)
    except (SemtraceError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:  # an unreadable file in the folder, the database's disk full...
        raise fail(f"cannot import {folder}: {_os_reason(exc)}") from None
    total = sum(added.values())
    detail = ", ".join(f"{t} {n}" for t, n in added.items() if n) or "nothing new"
    console.print(f"imported {total} rows ({detail}) from {folder}")
