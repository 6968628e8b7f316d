"""Options and output helpers shared by the CLI's command modules."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from semtrace.store.columns import with_unique_names

__all__ = ["DbOption", "Format", "console", "err_console", "fail", "print_arrow", "progress_bar"]

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


# A column narrower than this (ids excepted) is folded into unreadable slivers.
_MIN_COLUMN = 10


def _too_wide(names: list[str], cells: list[list[str]], width: int) -> bool:
    """Whether a table of these cells cannot give every column a readable width."""
    need = 1  # the left border; each column adds its text, two spaces of padding and a border
    for i, name in enumerate(names):
        natural = max([len(name), *(len(row[i]) for row in cells)])
        need += (natural if name.endswith("_id") else min(natural, _MIN_COLUMN)) + 3
    return need > width


def _print_records(names: list[str], cells: list[list[str]]) -> None:
    """One block per row, a column name and its value per line (psql's expanded display)."""
    label_width = max(len(n) for n in names)
    for number, row in enumerate(cells, 1):
        console.print(Text(f"-[ row {number} ]" + "-" * max(0, label_width - 6), style="dim"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold cyan", no_wrap=True)
        grid.add_column(overflow="fold")
        for name, value in zip(names, row, strict=True):
            grid.add_row(Text(name), Text(value))
        console.print(grid)


def print_arrow(
    table: pa.Table,
    fmt: Format,
    *,
    title: str | None = None,
    out: str | None = None,
    wide: Literal["fold", "records"] = "fold",
    hide: Sequence[str] = (),
) -> None:
    """Print a query result in the requested format.

    A table too wide for the terminal: ``hide`` names columns to leave out, first ones first,
    until it fits; then ``wide="records"`` prints one block per row instead of folding every
    column into slivers.
    """
    table = with_unique_names(table)  # select s.name, e.name: keep both, as name and name_1
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

        try:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, out)
        except (OSError, pa.ArrowException) as exc:
            raise fail(f"cannot write {out}: {exc}") from None
        err_console.print(Text(f"wrote {table.num_rows} rows to {out}"))
        return
    names = table.column_names
    cells = [[_table_cell(v) for v in row.values()] for row in rows]
    hidden: list[str] = []
    for name in hide:
        if not cells or not _too_wide(names, cells, console.width):
            break
        if name in names:
            i = names.index(name)
            names = names[:i] + names[i + 1 :]
            cells = [row[:i] + row[i + 1 :] for row in cells]
            hidden.append(name)
    if wide == "records" and cells and _too_wide(names, cells, console.width):
        _print_records(names, cells)
        console.print(
            f"[dim]{table.num_rows} row{'s' if table.num_rows != 1 else ''}, one block each "
            "(too wide for the terminal; --format csv or json keeps one line per row)[/]"
        )
        return
    t = Table(title=title, show_lines=False, header_style="bold cyan")
    for name in names:
        # Ids are copied whole (`semtrace show ID`): keep them on one line, fold the rest.
        t.add_column(Text(name), overflow="fold", no_wrap=name.endswith("_id"))
    for row_cells in cells:
        t.add_row(*(Text(c) for c in row_cells))
    console.print(t)
    note = (
        f"; {', '.join(hidden)} hidden to fit the terminal (widen it, or --format csv or json)"
        if hidden
        else ""
    )
    console.print(Text(f"{table.num_rows} row{'s' if table.num_rows != 1 else ''}{note}", "dim"))


def progress_bar(label: str, *, detail: bool = False, quiet: bool = False) -> Progress:
    """The CLI's progress bar: on stderr (stdout stays the command's output), gone when done,
    and off in a pipe or a log (no bar, nor its blank line). ``label`` may use
    ``{task.description}``; ``detail`` adds the description as its own column."""
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if detail:
        columns.append(TextColumn("{task.description}"))
    columns.append(TimeElapsedColumn())
    return Progress(
        *columns,
        console=err_console,
        transient=True,
        disable=quiet or not err_console.is_terminal,
    )
