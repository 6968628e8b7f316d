"""The views of the SQL contract: the questions users ask most, answered by name.

Each view is one ``SELECT`` registered under its name. A writer recreates them every time it
opens a file; a read-only connection recreates them as temporary views, so an old file still
answers with today's definitions.
"""

from __future__ import annotations

import duckdb

__all__ = ["VIEWS", "create_views", "register_view"]

VIEWS: dict[str, str] = {}


def register_view(name: str, select_sql: str) -> None:
    """Add (or replace) a view of the contract; later views may use earlier ones."""
    VIEWS[name] = select_sql


def create_views(con: duckdb.DuckDBPyConnection, *, temporary: bool = False) -> None:
    """(Re)create every registered view on ``con``."""
    temp = "TEMP " if temporary else ""
    for name, select_sql in VIEWS.items():
        con.execute(f"CREATE OR REPLACE {temp}VIEW {name} AS {select_sql}")


_LLM_OPS = "('chat', 'text_completion', 'generate_content', 'embeddings')"

register_view(
    "traces",
    """
    SELECT
        trace_id,
        coalesce(arg_min(name, start_time_ns) FILTER (WHERE parent_span_id IS NULL),
                 arg_min(name, start_time_ns)) AS root_name,
        coalesce(arg_min(agent_name, start_time_ns) FILTER (WHERE parent_span_id IS NULL),
                 arg_min(agent_name, start_time_ns) FILTER (WHERE agent_name IS NOT NULL))
            AS root_agent,
        list_sort(list(DISTINCT service_name) FILTER (WHERE service_name IS NOT NULL))
            AS services,
        list_sort(list(DISTINCT agent_name) FILTER (WHERE agent_name IS NOT NULL)) AS agents,
        min(start_time) AS start_time,
        max(end_time) AS end_time,
        (max(end_time_ns) - min(start_time_ns)) / 1e6 AS duration_ms,
        count(*) AS span_count,
        count(*) FILTER (WHERE status_code = 'ERROR') AS error_count,
        CASE WHEN count(*) FILTER (WHERE status_code = 'ERROR') > 0 THEN 'ERROR' ELSE 'OK' END
            AS status,
        sum(input_tokens)::BIGINT AS input_tokens,
        sum(output_tokens)::BIGINT AS output_tokens,
        sum(cost_usd) AS cost_usd,
        any_value(session_id) FILTER (WHERE session_id IS NOT NULL) AS session_id
    FROM spans
    GROUP BY trace_id
    """,
)

register_view(
    "llm_calls",
    f"""
    SELECT trace_id, span_id, parent_span_id, name, start_time, duration_ms, status_code,
           agent_name, operation, provider, model, input_tokens, output_tokens,
           coalesce(input_tokens, 0) + coalesce(output_tokens, 0) AS total_tokens,
           cost_usd, error_type, session_id, service_name
    FROM spans
    WHERE operation IN {_LLM_OPS}
    """,
)

register_view(
    "tool_calls",
    """
    SELECT trace_id, span_id, parent_span_id, name, start_time, duration_ms, status_code,
           status_message, agent_name, tool_name, error_type, session_id, service_name,
           json_extract_string(attributes, '$."gen_ai.tool.call.arguments"') AS arguments
    FROM spans
    WHERE operation = 'execute_tool'
    """,
)

register_view(
    "agents",
    """
    SELECT
        agent_name,
        count(*) FILTER (WHERE operation = 'invoke_agent') AS calls,
        count(DISTINCT trace_id) AS traces,
        quantile_cont(duration_ms, 0.5) FILTER (WHERE operation = 'invoke_agent') AS p50_ms,
        quantile_cont(duration_ms, 0.95) FILTER (WHERE operation = 'invoke_agent') AS p95_ms,
        quantile_cont(duration_ms, 0.99) FILTER (WHERE operation = 'invoke_agent') AS p99_ms,
        count(*) FILTER (WHERE operation = 'invoke_agent' AND status_code = 'ERROR') AS errors,
        coalesce(
            count(*) FILTER (WHERE operation = 'invoke_agent' AND status_code = 'ERROR')
                / nullif(count(*) FILTER (WHERE operation = 'invoke_agent'), 0),
            0.0) AS error_rate,
        count(*) FILTER (WHERE operation = 'execute_tool') AS tool_calls,
        count(*) FILTER (WHERE operation IN ('chat', 'text_completion', 'generate_content',
                                             'embeddings')) AS llm_calls,
        sum(input_tokens)::BIGINT AS input_tokens,
        sum(output_tokens)::BIGINT AS output_tokens,
        sum(cost_usd) AS cost_usd
    FROM spans
    WHERE agent_name IS NOT NULL
    GROUP BY agent_name
    """,
)

# Failed spans with the sentence that explains them, plus error logs that belong to no failed
# span, each with its diagnosis when one exists.
register_view(
    "failures",
    """
    WITH span_failures AS (
        SELECT 'span' AS source, s.trace_id, s.span_id, NULL::VARCHAR AS log_id,
               s.start_time AS time, s.service_name, s.agent_name, s.name, s.operation,
               s.tool_name, s.error_type, s.duration_ms,
               coalesce(
                   (SELECT arg_max(l.message, l.time_ns) FROM logs l
                     WHERE l.trace_id = s.trace_id AND l.span_id = s.span_id
                       AND l.severity IN ('ERROR', 'CRITICAL')),
                   s.status_message) AS message,
               s.status_message
        FROM spans s
        WHERE s.status_code = 'ERROR'
    ),
    log_failures AS (
        SELECT 'log' AS source, l.trace_id, l.span_id, l.log_id, l.time, l.service_name,
               l.agent_name, coalesce(l.template, l.message) AS name, NULL AS operation,
               NULL AS tool_name, json_extract_string(l.attributes, '$."error.type"')
                   AS error_type,
               NULL::DOUBLE AS duration_ms, l.message, NULL AS status_message
        FROM logs l
        WHERE l.severity IN ('ERROR', 'CRITICAL')
          AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = l.trace_id
                            AND s.span_id = l.span_id AND s.status_code = 'ERROR')
    ),
    all_failures AS (
        SELECT * FROM span_failures UNION ALL BY NAME SELECT * FROM log_failures
    ),
    latest_diagnosis AS (
        SELECT * FROM diagnoses QUALIFY row_number() OVER (
            PARTITION BY fingerprint ORDER BY created_at DESC) = 1
    )
    SELECT f.*, fp.fingerprint, d.summary AS diagnosis, d.root_cause, d.category,
           d.remediations, d.provider AS diagnosis_provider
    FROM all_failures f
    LEFT JOIN (SELECT DISTINCT fingerprint, trace_id, span_id, log_id
               FROM failure_fingerprints) fp
      ON (f.source = 'span' AND fp.log_id IS NULL
          AND fp.trace_id = f.trace_id AND fp.span_id = f.span_id)
      OR (f.source = 'log' AND fp.log_id = f.log_id)
    LEFT JOIN latest_diagnosis d ON d.fingerprint = fp.fingerprint
    """,
)
