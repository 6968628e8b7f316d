"""``semtrace sql``, ``semtrace traces``, ``semtrace show``: read the store from a terminal."""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum
from typing import Annotated, Any

import duckdb
import typer
from rich.text import Text
from rich.tree import Tree

from semtrace._connect import connect
from semtrace._words import plural
from semtrace.cli import app
from semtrace.cli._common import DbOption, Format, console, fail, print_arrow
from semtrace.exceptions import QueryError, SemtraceError
from semtrace.store import queries
from semtrace.telemetry.sentences import fold_failure_logs

LakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake",
        help="Query a Parquet lake folder (semtrace serve --lake) instead of a database file.",
        show_default=False,
    ),
]


def _open(db: str | None, lake: str | None = None) -> Any:
    try:
        return connect(db, lake=lake)
    except (SemtraceError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    except (duckdb.Error, OSError) as exc:  # a folder, no permission, ...: say which file
        raise fail(f"cannot open {db or 'the database'}: {exc}") from None


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help='SQL to run, e.g. "select * from traces".')],
    db: DbOption = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    out: Annotated[str | None, typer.Option(help="Output file for --format parquet.")] = None,
    lake: LakeOption = None,
) -> None:
    """Run SQL against the store (tables: spans, logs, ...; views: traces, failures, agents, ...)."""
    if not query.strip():
        raise fail('the query is empty; try semtrace sql "select * from traces limit 10"')
    con = _open(db, lake)
    try:
        table = queries.run_sql(con, query)
    except QueryError as exc:
        raise fail(str(exc) + _read_only_hint(str(exc))) from None
    print_arrow(table, format, out=out, wide="records")


def _read_only_hint(message: str) -> str:
    """Why a write was refused: `semtrace sql` (and a collector's /v1/query) only read."""
    if "read-only" not in message and "read only" not in message:
        return ""
    return (
        "\n\nhint: `semtrace sql` is read-only on purpose (so is a collector's /v1/query "
        "endpoint): telemetry is evidence, and a reader must never block or corrupt the "
        "process writing it. To change data, open the file with DuckDB itself while nothing "
        "writes to it (duckdb.connect(FILE) in Python, or the duckdb CLI)."
    )


class Status(StrEnum):
    OK = "OK"
    ERROR = "ERROR"


_TRACE_COLUMNS = [
    "trace_id",
    "root_name",
    "agents",
    "start_time",
    "duration_ms",
    "span_count",
    "failure_count",
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
    "failures",
    "status",
    "cost $",
]

# On a narrow terminal these go first, in this order: the id, root and status always stay.
_TRACE_HIDE = ["cost $", "spans", "failures", "start (UTC)", "agents", "ms"]


@app.command()
def traces(
    db: DbOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many traces.", min=1)] = 20,
    status: Annotated[
        Status | None,
        typer.Option(help="Only traces with this status (either case).", case_sensitive=False),
    ] = None,
    service: Annotated[str | None, typer.Option(help="Only traces touching this service.")] = None,
    agent: Annotated[str | None, typer.Option(help="Only traces touching this agent.")] = None,
    format: Annotated[
        Format,
        typer.Option("--format", "-f", help="Output format (csv and json keep every column)."),
    ] = Format.table,
    out: Annotated[str | None, typer.Option(help="Output file for --format parquet.")] = None,
    lake: LakeOption = None,
) -> None:
    """Recent traces, newest first."""
    con = _open(db, lake)
    table = queries.list_traces(
        con, limit=limit, status=status.value if status else None, service=service, agent=agent
    )
    if format is Format.table:  # what fits a terminal; csv/json keep every column
        table = table.select(_TRACE_COLUMNS).rename_columns(_TRACE_HEADERS)
    print_arrow(table, format, title="traces", out=out, hide=_TRACE_HIDE)


_LOG_STYLE = {"ERROR": "red", "WARNING": "yellow", "CRITICAL": "bold red"}


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
    max_spans: Annotated[int, typer.Option(help="Show at most this many spans.", min=1)] = 2000,
    lake: LakeOption = None,
) -> None:
    """The span tree of one trace, errors highlighted, log sentences under their spans."""
    con = _open(db, lake)
    try:
        full = queries.resolve_trace_id(con, trace_id)
    except QueryError as exc:
        raise fail(str(exc)) from None
    if full is None:
        raise fail(f"no trace with id {trace_id!r}; list them with `semtrace traces`")
    spans = queries.trace_spans(con, full).to_pylist()
    log_rows = queries.trace_logs(con, full).to_pylist() if logs else []
    ids = {s["span_id"] for s in spans}
    # Under each span (and under the trace, for logs outside any span): its logs and child
    # spans in the order they happened, as (time_ns, is_span, row).
    children: dict[str | None, list[tuple[int, bool, dict[str, Any]]]] = defaultdict(list)
    for s in spans:
        parent = s["parent_span_id"] if s["parent_span_id"] in ids else None
        children[parent].append((s["start_time_ns"] or 0, True, s))
    for log in fold_failure_logs(spans, log_rows):  # a failure and its impact: one ✗ line
        span_id = log["span_id"] if log["span_id"] in ids else None
        children[span_id].append((log["time_ns"] or 0, False, log))
    for items in children.values():
        items.sort(key=lambda item: (item[0], item[1]))
    errors = sum(1 for s in spans if s["status_code"] == "ERROR")
    failures = queries.failure_count(con, trace_id=full)  # as the failures view counts them
    root = Tree(
        Text.assemble(
            ("trace ", "dim"),
            (full, "bold"),
            f"  {plural(len(spans), 'span')}, ",
            (plural(failures, "failure"), "red" if failures else "green"),
            f" ({plural(errors, 'ERROR span')})",
        ),
    )
    shown = 0

    def add(node: Tree, parent: str | None) -> None:
        nonlocal shown
        for _, is_span, row in children.get(parent, []):
            if not is_span:
                style = _LOG_STYLE.get(row["severity"], "dim")
                node.add(Text(f"{row['severity']}: {row['message']}", style=style))
                continue
            if shown >= max_spans:
                return
            shown += 1
            add(node.add(_label(row)), row["span_id"])

    add(root, None)
    console.print(root)
    if shown < len(spans):
        console.print(
            f"[yellow]showing {shown} of {len(spans)} spans; raise --max-spans to see more[/]"
        )
