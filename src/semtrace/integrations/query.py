"""Query results as pandas, polars or Arrow, and a trace that draws itself in Jupyter.

``semtrace.query("select * from agents")`` returns a DataFrame; ``semtrace.trace(trace_id)``
returns a :class:`Trace` whose ``_repr_html_`` renders its span tree with logs and timing bars.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from semtrace._connect import connect
from semtrace.exceptions import ConfigurationError, QueryError
from semtrace.store import queries

__all__ = ["Trace", "query", "trace"]

OutputFormat = Literal["pandas", "polars", "arrow"]


def _convert(table: pa.Table, format: str) -> Any:
    if format == "arrow":
        return table
    if format == "pandas":
        return table.to_pandas()
    if format == "polars":
        try:
            import polars as pl
        except ImportError as exc:
            raise ConfigurationError(
                "format='polars' needs polars: pip install 'semtrace[polars]'"
            ) from exc
        return pl.from_arrow(table)
    raise ConfigurationError(f"format must be 'pandas', 'polars' or 'arrow'; got {format!r}")


def query(
    sql: str,
    params: list[Any] | None = None,
    *,
    db: str | os.PathLike[str] | None = None,
    format: OutputFormat = "pandas",
) -> Any:
    """Run ``sql`` against the semtrace database and return a pandas/polars DataFrame or Arrow.

    ``db`` defaults to the configured database (then ``SEMTRACE_DB``, then ``semtrace.duckdb``);
    everything this process queued is flushed first, so a query sees its own spans.
    """
    if format not in ("pandas", "polars", "arrow"):
        raise ConfigurationError(f"format must be 'pandas', 'polars' or 'arrow'; got {format!r}")
    con = connect(db)
    try:
        table = queries.run_sql(con, sql, params)
    finally:
        con.close()
    return _convert(table, format)


@dataclass(frozen=True)
class SpanNode:
    """One span of a :class:`Trace` with its children, in start order."""

    row: dict[str, Any]
    children: tuple[SpanNode, ...]

    @property
    def name(self) -> str:
        return str(self.row["name"])


@dataclass(frozen=True)
class Trace:
    """One trace: its spans and logs (Arrow tables) and its tree, drawn as HTML in Jupyter."""

    trace_id: str
    spans: pa.Table
    logs: pa.Table

    @property
    def roots(self) -> tuple[SpanNode, ...]:
        rows = self.spans.to_pylist()
        ids = {r["span_id"] for r in rows}
        children: dict[str | None, list[dict[str, Any]]] = {}
        for r in rows:
            parent = r["parent_span_id"] if r["parent_span_id"] in ids else None
            children.setdefault(parent, []).append(r)

        def build(r: dict[str, Any]) -> SpanNode:
            return SpanNode(r, tuple(build(c) for c in children.get(r["span_id"], [])))

        return tuple(build(r) for r in children.get(None, []))

    def walk(self) -> Iterator[tuple[int, SpanNode]]:
        """Every span with its depth, depth-first in start order."""

        def visit(node: SpanNode, depth: int) -> Iterator[tuple[int, SpanNode]]:
            yield depth, node
            for child in node.children:
                yield from visit(child, depth + 1)

        for root in self.roots:
            yield from visit(root, 0)

    def to_pandas(self) -> Any:
        return self.spans.to_pandas()

    def _bounds(self) -> tuple[int, int]:
        starts = self.spans.column("start_time_ns").to_pylist()
        ends = self.spans.column("end_time_ns").to_pylist()
        return (min(starts), max(ends)) if starts else (0, 0)

    def __repr__(self) -> str:
        lines = [f"Trace {self.trace_id} ({self.spans.num_rows} spans, {self.logs.num_rows} logs)"]
        for depth, node in self.walk():
            r = node.row
            mark = " ✗" if r["status_code"] == "ERROR" else ""
            lines.append(f"{'  ' * (depth + 1)}{r['name']}  {r['duration_ms']:.1f} ms{mark}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        start, end = self._bounds()
        total = max(end - start, 1)
        logs_by_span: dict[str | None, list[dict[str, Any]]] = {}
        for log in self.logs.to_pylist():
            logs_by_span.setdefault(log["span_id"], []).append(log)
        esc = html.escape
        rows: list[str] = []
        for depth, node in self.walk():
            r = node.row
            left = 100 * (r["start_time_ns"] - start) / total
            width = max(100 * (r["end_time_ns"] - r["start_time_ns"]) / total, 0.3)
            error = r["status_code"] == "ERROR"
            colour = "#d9534f" if error else "#5b8def"
            detail = " · ".join(
                esc(str(v))
                for v in (
                    r.get("agent_name"),
                    r.get("operation"),
                    r.get("model"),
                    f"{r['input_tokens']}→{r['output_tokens']} tok"
                    if r.get("input_tokens") is not None
                    else None,
                )
                if v
            )
            status = (
                f'<div style="color:#d9534f">{esc(str(r["status_message"] or ""))}</div>'
                if error
                else ""
            )
            logs = "".join(
                f'<div style="color:#666;font-size:90%">{esc(log["severity"])}: '
                f"{esc(log['message'])}</div>"
                for log in logs_by_span.get(r["span_id"], [])
                if not (error and log["message"] == r["status_message"])  # shown once
            )
            rows.append(
                f'<tr class="semtrace-span"><td style="padding-left:{depth * 18 + 4}px;'
                f'text-align:left;white-space:nowrap">{esc(r["name"])}'
                f'<div style="color:#888;font-size:85%">{detail}</div>{status}{logs}</td>'
                f'<td style="text-align:right;white-space:nowrap">{r["duration_ms"]:.1f} ms</td>'
                f'<td style="width:40%"><div style="position:relative;height:10px">'
                f'<div style="position:absolute;left:{left:.2f}%;width:{width:.2f}%;'
                f'height:10px;background:{colour}"></div></div></td></tr>'
            )
        return (
            f'<div class="semtrace-trace"><b>Trace</b> <code>{esc(self.trace_id)}</code> '
            f"{self.spans.num_rows} spans, {self.logs.num_rows} logs"
            f'<table style="width:100%;border-collapse:collapse">{"".join(rows)}</table></div>'
        )


def trace(trace_id: str, *, db: str | os.PathLike[str] | None = None) -> Trace:
    """The trace with this id (or a unique prefix of one), ready to display in a notebook."""
    con = connect(db)
    try:
        full = queries.resolve_trace_id(con, trace_id)
        if full is None:
            raise QueryError(f"no trace with id {trace_id!r} in the database")
        spans = queries.trace_spans(con, full)
        logs = queries.trace_logs(con, full)
    finally:
        con.close()
    return Trace(full, spans, logs)
