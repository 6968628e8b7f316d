"""``semtrace demo``: run the built-in scenarios, print what happened, serve the dashboard."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Annotated

import typer

from semtrace.cli import app
from semtrace.cli._common import console, fail, progress_bar
from semtrace.exceptions import SemtraceError


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
    port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Port for the dashboard (default: 8501, or the next free one).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run built-in multi-agent scenarios offline, diagnose their failures, serve the dashboard."""
    from semtrace.demo.choreography import start_inbox_review
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
    # The story leaves one review waiting in the Inbox while the dashboard is served.
    review = start_inbox_review(summary.db, seed) if traces is None else None
    try:
        if review is not None:
            console.print(review.announce(), highlight=False)
        _serve_dashboard(summary.db, port)
    finally:
        if review is not None:
            review.stop()


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


def _serve_dashboard(db: str, port: int | None) -> None:
    from semtrace.dashboard import DEFAULT_PORT, choose_port, launch

    try:
        chosen = choose_port(port)
    except SemtraceError as exc:
        raise fail(
            f"{exc}\nOr open the dashboard later with: semtrace dashboard --db {db}"
        ) from None
    if port is None and chosen != DEFAULT_PORT:
        console.print(f"Port {DEFAULT_PORT} is in use; serving on {chosen} instead.")
    console.print(
        f"Serving the dashboard for {db} on [bold]http://127.0.0.1:{chosen}[/] (Ctrl+C stops)"
    )
    code = 0
    with contextlib.suppress(KeyboardInterrupt):
        code = launch(db=db, port=chosen) or 0
    if code:
        raise typer.Exit(code)
