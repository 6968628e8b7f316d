"""Helpers for the framework tests: the normalised rows every framework must produce."""

from __future__ import annotations

from typing import Any

import duckdb


def orphans_under_agents(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of spans with no agent although an ancestor has one (must be none)."""
    rows = con.sql(
        """
        WITH RECURSIVE up AS (
            SELECT trace_id, span_id, parent_span_id AS ancestor, name FROM spans
            WHERE agent_name IS NULL AND parent_span_id IS NOT NULL
            UNION ALL
            SELECT up.trace_id, up.span_id, s.parent_span_id, up.name
            FROM up JOIN spans s ON s.trace_id = up.trace_id AND s.span_id = up.ancestor
            WHERE s.agent_name IS NULL AND s.parent_span_id IS NOT NULL
        )
        SELECT DISTINCT up.name FROM up
        JOIN spans a ON a.trace_id = up.trace_id AND a.span_id = up.ancestor
        WHERE a.agent_name IS NOT NULL
        """
    ).fetchall()
    return [r[0] for r in rows]


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    return con.sql(sql).to_arrow_table().to_pylist()
