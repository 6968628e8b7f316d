"""``semtrace sql``, ``semtrace traces``, ``semtrace show``: read the store from a terminal."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

import typer
from rich.text import Text
from rich.tree import Tree

from semtrace._connect import connect
from semtrace.cli import app
from semtrace.cli._common import DbOption, Format, console, fail, print_arrow
from semtrace.exceptions import QueryError, SemtraceError
from semtrace.store import queries


def _open(db: str | None) -> Any:
    try:
        return connect(db)
    except (SemtraceError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help='SQL to run, e.g. "select * from traces".')],
    db: DbOption = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    out: Annotated[str | None, typer.Option(help="Output file for --format parquet.")] = None,
) -> None:
    """Run SQL against the store (tables: spans, logs, ...; views: traces, failures, agents, ...)."""
    con = _open(db)
    try:
        table = queries.run_sql(con, query)
    except QueryError as exc:
        raise fail(str(exc)) from None
    print_arrow(table, format, out=out)


_TRACE_COLUMNS = [
    "trace_id",
    "root_name",
    "agents",
    "start_time",
    "duration_ms",
    "span_count",
    "error_count",
    "status",
    "cost_usd",
]
_TRACE_HEADERS = [
    "trace_id",
    "root",
    "agents",
    "start (UTC)",
    "ms",
    "spans",
    "errors",
    "status",
    "cost $",
]


@app.command()
def traces(
    db: DbOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many traces.")] = 20,
    status: Annotated[str | None, typer.Option(help="OK or ERROR.")] = None,
    service: Annotated[str | None, typer.Option(help="Only traces touching this service.")] = None,
    agent: Annotated[str | None, typer.Option(help="Only traces touching this agent.")] = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Recent traces, newest first."""
    con = _open(db)
    table = queries.list_traces(con, limit=limit, status=status, service=service, agent=agent)
    if format is Format.table:  # what fits a terminal; csv/json keep every column
        table = table.select(_TRACE_COLUMNS).rename_columns(_TRACE_HEADERS)
    print_arrow(table, format, title="traces")


def _label(row: dict[str, Any]) -> Text:
    error = row["status_code"] == "ERROR"
    text = Text()
    text.append(row["name"], style="bold red" if error else "bold")
    text.append(f"  {row['duration_ms']:.1f} ms", style="cyan")
    if row.get("agent_name"):
        text.append(f"  agent={row['agent_name']}", style="magenta")
    if row.get("model"):
        text.append(f"  model={row['model']}", style="green")
    if row.get("input_tokens") is not None:
        text.append(
            f"  tokens={row['input_tokens']}/{row.get('output_tokens') or 0}", style="green"
        )
    if error:
        text.append(
            f"\n  ✗ {row.get('status_message') or row.get('error_type') or 'error'}", style="red"
        )
    return text


@app.command()
def show(
    trace_id: Annotated[str, typer.Argument(help="Trace id or a unique prefix of one.")],
    db: DbOption = None,
    logs: Annotated[
        bool, typer.Option("--logs/--no-logs", help="Interleave log sentences.")
    ] = True,
    max_spans: Annotated[int, typer.Option(help="Show at most this many spans.")] = 2000,
) -> None:
    """The span tree of one trace, errors highlighted, log sentences under their spans."""
    con = _open(db)
    try:
        full = queries.resolve_trace_id(con, trace_id)
    except QueryError as exc:
        raise fail(str(exc)) from None
    if full is None:
        raise fail(f"no trace with id {trace_id!r}; list them with `semtrace traces`")
    spans = queries.trace_spans(con, full).to_pylist()
    log_rows = queries.trace_logs(con, full).to_pylist() if logs else []
    logs_by_span: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for log in log_rows:
        logs_by_span[log["span_id"]].append(log)
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for s in spans:
        parent = s["parent_span_id"] if s["parent_span_id"] in ids else None
        children[parent].append(s)
    errors = sum(1 for s in spans if s["status_code"] == "ERROR")
    root = Tree(
        Text.assemble(
            ("trace ", "dim"),
            (full, "bold"),
            f"  {len(spans)} spans, ",
            (f"{errors} errors", "red" if errors else "green"),
        ),
    )
    shown = 0

    def add(node: Tree, parent: str | None) -> None:
        nonlocal shown
        for s in children.get(parent, []):
            if shown >= max_spans:
                return
            shown += 1
            branch = node.add(_label(s))
            for log in logs_by_span.get(s["span_id"], []):
                style = {"ERROR": "red", "WARNING": "yellow", "CRITICAL": "bold red"}.get(
                    log["severity"], "dim"
                )
                branch.add(Text(f"{log['severity']}: {log['message']}", style=style))
            add(branch, s["span_id"])

    add(root, None)
    console.print(root)
    if shown < len(spans):
        console.print(
            f"[yellow]showing {shown} of {len(spans)} spans; raise --max-spans to see more[/]"
        )
