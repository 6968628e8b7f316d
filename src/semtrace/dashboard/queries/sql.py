"""The SQL page: the schema beside the editor, and example queries."""

from __future__ import annotations

import pyarrow as pa

from semtrace.dashboard.queries._common import Con, arrow

__all__ = ["EXAMPLE_QUERIES", "schema_catalog"]


def schema_catalog(con: Con) -> pa.Table:
    """Every table and view with its columns and types, for the SQL page's sidebar."""
    return arrow(
        con,
        """SELECT c.table_name, c.column_name, any_value(c.data_type) AS data_type,
                  any_value(t.table_type) AS table_type
           FROM information_schema.columns c
           JOIN information_schema.tables t
             ON t.table_name = c.table_name AND t.table_schema = c.table_schema
            AND t.table_catalog = c.table_catalog
           WHERE c.table_schema = 'main' AND NOT starts_with(c.table_name, '__')
           GROUP BY c.table_name, c.column_name
           ORDER BY any_value(t.table_type) DESC, c.table_name, min(c.ordinal_position)""",
    )


EXAMPLE_QUERIES: dict[str, str] = {
    "Slowest traces": (
        "SELECT trace_id, root_name, agents, round(duration_ms) AS ms, failure_count\n"
        "FROM traces ORDER BY duration_ms DESC LIMIT 20"
    ),
    "Failure sentences today": (
        "SELECT time, agent_name, message, diagnosis\nFROM failures\n"
        "WHERE time > now() - INTERVAL 1 DAY ORDER BY time DESC"
    ),
    "Tokens and cost by model": (
        "SELECT model, count(*) AS calls, sum(input_tokens) AS input_tokens,\n"
        "       sum(output_tokens) AS output_tokens, round(sum(cost_usd), 4) AS cost_usd\n"
        "FROM llm_calls GROUP BY model ORDER BY cost_usd DESC"
    ),
    "Agent latency percentiles": (
        "SELECT agent_name, calls, round(p50_ms) AS p50_ms, round(p95_ms) AS p95_ms,\n"
        "       round(error_rate, 3) AS error_rate\nFROM agents ORDER BY calls DESC"
    ),
    "Tool error rates": (
        "SELECT tool_name, count(*) AS calls,\n"
        "       count(*) FILTER (WHERE status_code = 'ERROR') AS errors\n"
        "FROM tool_calls GROUP BY tool_name ORDER BY errors DESC"
    ),
    "Search log sentences": (
        "SELECT time, agent_name, severity, message\nFROM logs\n"
        "WHERE message ILIKE '%vendor%' ORDER BY time DESC LIMIT 50"
    ),
}
