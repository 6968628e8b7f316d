"""The ``semtrace`` command: one module per command group; commands parse and call library code."""

from __future__ import annotations

import importlib

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="semtrace",
    help="Semantic telemetry for AI agents: traces and sentences in DuckDB, queried with SQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
)

for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"semtrace.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"semtrace.cli.{_name}":
            raise


def main() -> None:
    app()
