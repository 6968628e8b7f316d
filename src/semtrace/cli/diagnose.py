"""``semtrace diagnose``: explain the failures in a database and propose what to do."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from semtrace.cli import app
from semtrace.cli._common import DbOption, console, err_console, fail, progress_bar
from semtrace.diagnose.extract import DEFAULT_SLOW_MS, DEFAULT_SLOW_SHARE
from semtrace.exceptions import SemtraceError


class ProviderName(StrEnum):
    rules = "rules"
    openai = "openai"
    anthropic = "anthropic"


_CATEGORY_STYLE = {
    "unknown": "dim",
    "needs_human": "yellow",
    "auth": "red",
    "dependency_down": "red",
    "timeout": "magenta",
    "rate_limit": "magenta",
}


def _resolve_trace(db: str | None, trace: str) -> str:
    """The full id of the trace ``--trace`` names, or exit with an error (as `semtrace show`)."""
    from semtrace._connect import connect
    from semtrace.store.queries import resolve_trace_id

    try:
        con = connect(db)
        try:
            full = resolve_trace_id(con, trace)
        finally:
            con.close()
    except (SemtraceError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    if full is None:
        raise fail(f"no trace with id {trace!r}; list them with `semtrace traces`")
    return full


@app.command()
def diagnose(
    db: DbOption = None,
    since: Annotated[
        str | None, typer.Option(help="Only failures this recent: 30m, 1h, 2d, or an ISO time.")
    ] = None,
    trace: Annotated[
        str | None, typer.Option("--trace", help="Only this trace (id or prefix).")
    ] = None,
    provider: Annotated[
        ProviderName, typer.Option(help="rules (offline), openai (any compatible URL), anthropic.")
    ] = ProviderName.rules,
    limit: Annotated[int | None, typer.Option(help="Diagnose at most N fingerprints.")] = None,
    show_context: Annotated[
        bool, typer.Option("--show-context", help="Print the redacted context each provider gets.")
    ] = False,
    model: Annotated[
        str | None, typer.Option(help="LLM model (else from the environment).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="LLM endpoint (else SEMTRACE_OPENAI_BASE_URL etc.).")
    ] = None,
    slow_ms: Annotated[
        float,
        typer.Option(
            help="A step holding up its trace counts as slow only above this many ms "
            "(time waiting on a human not counted)."
        ),
    ] = DEFAULT_SLOW_MS,
    slow_share: Annotated[
        float,
        typer.Option(
            help="...and only when its own time is at least this share of its trace's "
            "(the single point of timeout)."
        ),
    ] = DEFAULT_SLOW_SHARE,
    as_json: Annotated[bool, typer.Option("--json", help="Print the diagnoses as JSON.")] = False,
) -> None:
    """Find failures, group them by fingerprint, and diagnose each group once (cached)."""
    from semtrace.diagnose import Diagnosis, run

    if trace is not None:
        trace = _resolve_trace(db, trace)
    options: dict[str, Any] = {}
    if model:
        options["model"] = model
    if base_url:
        options["base_url"] = base_url
    # stdout is the report (`semtrace diagnose > report.txt`): the bar goes to stderr.
    progress = progress_bar("[bold]diagnosing", detail=True, quiet=as_json)
    task_id = progress.add_task("", total=None)

    def on_progress(done: int, total: int, d: Diagnosis) -> None:
        progress.update(task_id, completed=done, total=total, description=d.category.value)

    try:
        with progress:
            diagnoses = run(
                db=db,
                since=since,
                trace_id=trace,
                provider=provider.value,
                limit=limit,
                show_context=show_context,
                slow_ms=slow_ms,
                slow_share=slow_share,
                on_progress=on_progress,
                **options,
            )
    except (SemtraceError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    reason = getattr(diagnoses, "not_stored_reason", None)
    if reason and diagnoses:
        err_console.print(Text.assemble(("warning:", "bold yellow"), " ", reason))
    if as_json:
        typer.echo(json.dumps([d.model_dump(mode="json") for d in diagnoses]))
        return
    if not diagnoses:
        console.print("[green]No failures found.[/]")
        return
    if show_context:
        for d in diagnoses:
            console.print(
                Panel(
                    JSON(json.dumps(d.context or {}, default=str)),
                    title=f"context sent for {d.fingerprint}",
                    subtitle="(redacted, token-bounded)",
                )
            )
    table = Table(title="diagnoses", header_style="bold cyan", show_lines=True)
    for col in ("fingerprint", "category", "seen", "summary", "do first", "provider"):
        table.add_column(col, overflow="fold")
    for d in diagnoses:
        top = max(d.remediations, key=lambda r: r.confidence, default=None)
        style = _CATEGORY_STYLE.get(d.category.value, "")
        status = "" if d.status == "ok" else f"\n[red]failed: {d.error}[/]"
        table.add_row(
            d.fingerprint,
            f"[{style}]{d.category.value}[/]" if style else d.category.value,
            f"{d.occurrences} in {d.trace_count} trace{'s' if d.trace_count != 1 else ''}",
            d.summary + status,
            f"{top.action.value} ({top.confidence:.0%})" if top else "",
            d.provider + (" (cached)" if d.cached else ""),
        )
    console.print(table)
    calls = sum(1 for d in diagnoses if not d.cached)
    tokens = sum(d.input_tokens + d.output_tokens for d in diagnoses if not d.cached)
    cost = sum(d.cost_usd for d in diagnoses if not d.cached)
    console.print(
        f"[dim]{len(diagnoses)} fingerprint(s); {calls} diagnosed now, "
        f"{len(diagnoses) - calls} from cache; {tokens} tokens, ${cost:.4f}. "
        'Query them: semtrace sql "select * from failures"[/]'
    )
