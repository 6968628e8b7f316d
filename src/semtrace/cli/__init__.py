"""The ``semtrace`` command: one module per command group; commands parse and call library code."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="semtrace",
    help="Semantic telemetry for AI agents: traces and sentences in DuckDB, queried with SQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from semtrace import __version__

        typer.echo(f"semtrace {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print semtrace's version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Semantic telemetry for AI agents: traces and sentences in DuckDB, queried with SQL."""


# Each module registers its commands on `app` when imported. A missing module (a feature not
# built yet in this checkout) leaves its commands out instead of breaking the CLI.
_COMMAND_MODULES = (
    "query",
    "serve",
    "diagnose",
    "dashboard",
    "demo",
    "export",
    "doctor",
    "mcp",
    "tasks",
    "lake",
)

for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"semtrace.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"semtrace.cli.{_name}":
            raise


def main() -> None:
    app()
