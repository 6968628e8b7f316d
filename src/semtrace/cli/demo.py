"""``semtrace demo``: run the built-in scenarios, print what happened, serve the dashboard."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import Annotated, Any

import typer

from semtrace.cli import app
from semtrace.cli._common import console, fail, progress_bar
from semtrace.exceptions import SemtraceError

# The dashboard's launcher, imported only when the dashboard is served (it pulls in more).
_DASHBOARD_LAUNCHER = ("semtrace.dashboard", "launch")


@app.command()
def demo(
    db: Annotated[
        str, typer.Option("--db", help="DuckDB file to write (an earlier demo file is replaced).")
    ] = "semtrace-demo.duckdb",
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same story.")] = 7,
    traces: Annotated[
        int | None,
        typer.Option(
            "--traces",
            "-n",
            help="Run N scenario runs (shared among the three patterns, no pacing) instead "
            "of the default story, e.g. 30000 for about a million spans.",
            show_default=False,
        ),
    ] = None,
    no_dashboard: Annotated[
        bool, typer.Option("--no-dashboard", help="Stop after the summary.")
    ] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for the dashboard.")] = 8501,
) -> None:
    """Run built-in multi-agent scenarios offline, diagnose their failures, serve the dashboard."""
    from semtrace.demo.runner import run_demo

    try:
        with _progress() as (update, finish):
            summary = run_demo(db, seed=seed, traces=traces, progress=update)
            finish()
    except SemtraceError as exc:
        raise fail(str(exc)) from None
    summary.render(console)
    if no_dashboard:
        console.print(f"Open the dashboard with: [bold]semtrace dashboard --db {summary.db}[/]")
        return
    _serve_dashboard(summary.db, port)


class _progress:
    """A rich progress bar fed by ``run_demo``'s ``progress(done, total)`` callback."""

    def __enter__(self) -> tuple[Callable[[int, int], None], Callable[[], None]]:
        self.bar = progress_bar("[cyan]{task.description}")
        self.task = self.bar.add_task("running scenarios", total=None)
        self.bar.start()
        return self.update, self.finish

    def update(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def finish(self) -> None:
        self.bar.update(self.task, description="diagnosing")

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


def _find_launcher() -> Callable[..., Any] | None:
    module_name, attr = _DASHBOARD_LAUNCHER
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    launcher = getattr(module, attr, None)
    return launcher if callable(launcher) else None


def _serve_dashboard(db: str, port: int) -> None:
    launcher = _find_launcher()
    if launcher is None:
        console.print(
            "The dashboard is not available in this installation; open it later with "
            f"[bold]semtrace dashboard --db {db}[/]"
        )
        return
    console.print(
        f"Serving the dashboard for {db} on [bold]http://127.0.0.1:{port}[/] (Ctrl+C stops)"
    )
    code = 0
    with contextlib.suppress(KeyboardInterrupt):
        code = launcher(db=db, port=port) or 0
    if code:
        raise typer.Exit(code)
