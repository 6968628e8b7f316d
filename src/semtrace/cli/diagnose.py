"""``semtrace diagnose``: explain the failures in a database and propose what to do."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from semtrace._words import plural
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
    counts = _counts(db, since, trace)
    table = Table(title="diagnoses", header_style="bold cyan", show_lines=True)
    for col in ("fingerprint", "kind", "category", "seen", "summary", "do first", "provider"):
        table.add_column(col, overflow="fold")
    for d in diagnoses:
        top = max(d.remediations, key=lambda r: r.confidence, default=None)
        style = _CATEGORY_STYLE.get(d.category.value, "")
        status = "" if d.status == "ok" else f"\n[red]failed: {d.error}[/]"
        table.add_row(
            d.fingerprint,
            counts.kind_of.get(d.fingerprint, "failure"),
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
        f"[dim]{counts.sentence()}; {plural(len(diagnoses), 'diagnosis', 'diagnoses')}, one "
        f"per kind of failure or finding: {calls} new, {len(diagnoses) - calls} from cache; "
        f'{tokens} tokens, ${cost:.4f}. Query them: semtrace sql "select * from failures"[/]'
    )


@dataclass(frozen=True)
class _Counts:
    """What the database holds after the run, counted by the store's queries as the
    dashboard's Failures page and the demo story count it."""

    failures: int
    kinds: int
    diagnosed: int
    findings: int
    kind_of: dict[str, str]  # fingerprint -> kind of finding ("slow step"), for findings

    def sentence(self) -> str:
        """``8 failures of 5 kinds, 8 diagnosed · 1 finding (...)``: the page's words."""
        return (
            f"{plural(self.failures, 'failure')} of {plural(self.kinds, 'kind')}, "
            f"{self.diagnosed} diagnosed · {plural(self.findings, 'finding')} "
            "(slow steps, loops, stuck tasks)"
        )


def _counts(db: str | None, since: str | None, trace: str | None) -> _Counts:
    """Failures, their kinds and diagnoses, and findings in the scope diagnosed (``since``,
    ``trace``), through :mod:`semtrace.store.queries`."""
    from semtrace._connect import connect
    from semtrace.diagnose.extract import parse_since
    from semtrace.store import queries as store

    cutoff = parse_since(since)
    con = connect(db)
    try:
        found = store.findings(con, since=cutoff, trace_id=trace).to_pylist()
        if trace is None:
            kinds = store.failure_kinds(con, since=cutoff)
            failures = store.failure_count(con, since=cutoff)
            diagnosed = sum(k["diagnosed"] for k in kinds)
            n_kinds = len(kinds)
        else:  # failure_kinds spans every trace: the trace's own failures, by fingerprint
            rows = store.failures(con, since=cutoff, trace_id=trace).to_pylist()
            failures = len(rows)
            diagnosed = sum(1 for r in rows if r["diagnosis"])
            n_kinds = len({r["fingerprint"] or r["span_id"] or r["log_id"] for r in rows})
    finally:
        con.close()
    kind_of = {f["fingerprint"]: store.FINDING_KINDS.get(f["kind"], f["kind"]) for f in found}
    return _Counts(failures, n_kinds, diagnosed, len(found), kind_of)
