"""Options and output helpers shared by the CLI's command modules."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import pyarrow as pa
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["DbOption", "Format", "console", "err_console", "fail", "print_arrow"]

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="DuckDB file (default: $SEMTRACE_DB or ./semtrace.duckdb).",
        envvar="SEMTRACE_DB",
        show_default=False,
    ),
]


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error the user can act on and return the Exit to raise (no traceback)."""
    # Messages carry user text (queries, DuckDB errors): never read them as rich markup.
    err_console.print(Text.assemble(("error:", "bold red"), " ", message))
    return typer.Exit(code)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def _table_cell(value: Any) -> str:
    """A cell for a terminal table: short forms of times and lists of names."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return _cell(value)


def print_arrow(
    table: pa.Table, fmt: Format, *, title: str | None = None, out: str | None = None
) -> None:
    """Print a query result in the requested format."""
    rows = table.to_pylist()
    if fmt is Format.json:
        sys.stdout.write(json.dumps(rows, default=str, indent=None) + "\n")
        return
    if fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(table.column_names)
        for row in rows:
            writer.writerow([_cell(v) for v in row.values()])
        sys.stdout.write(buf.getvalue())
        return
    if fmt is Format.parquet:
        if not out:
            raise fail("--format parquet needs --out FILE.parquet")
        import pyarrow.parquet as pq

        pq.write_table(table, out)
        err_console.print(Text(f"wrote {table.num_rows} rows to {out}"))
        return
    t = Table(title=title, show_lines=False, header_style="bold cyan")
    for name in table.column_names:
        # Ids are copied whole (`semtrace show ID`): keep them on one line, fold the rest.
        t.add_column(Text(name), overflow="fold", no_wrap=name.endswith("_id"))
    for row in rows:
        t.add_row(*(Text(_table_cell(v)) for v in row.values()))
    console.print(t)
    console.print(f"[dim]{table.num_rows} row{'s' if table.num_rows != 1 else ''}[/]")
