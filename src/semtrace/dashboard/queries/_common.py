"""What the dashboard's query modules share: the connection type, JSON parsing, optional
relations and columns, and the rule that tells a causal link from an ambient one."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from semtrace import semconv as sc
from semtrace.store.queries import arrow, span_names

__all__ = [
    "NOT_AMBIENT",
    "Con",
    "arrow",
    "columns_of",
    "parse_json",
    "relation_exists",
    "rows",
    "span_names",
]

Con = Any  # a DuckDB connection or the collector's client: both answer .sql(q, params=...)

# A link kept only to remember the ambient context (e.g. the HTTP request around an MCP
# call) is not a hand-off between agents. Written for a span_links alias ``k``.
NOT_AMBIENT = (
    f"json_extract_string(k.attributes, '$.\"{sc.SEMTRACE_LINK_KIND}\"') IS DISTINCT FROM 'ambient'"
)


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """An Arrow table as a list of dicts."""
    return table.to_pylist()


def parse_json(value: Any) -> Any:
    """A JSON string parsed (anything else, or text that is not JSON, as it is)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def relation_exists(con: Con, name: str) -> bool:
    """Whether a table or view called ``name`` exists (temporary views included)."""
    t = arrow(
        con,
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = ?",
        [name],
    )
    return bool(t.column("n")[0].as_py())


def columns_of(con: Con, relation: str) -> set[str]:
    """The column names of a table or view (empty when it does not exist)."""
    t = arrow(
        con,
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
        [relation],
    )
    return {str(v) for v in t.column("column_name").to_pylist()}
