"""The views of the SQL contract: the questions users ask most, answered by name.

Each view is one ``SELECT`` registered under its name. A writer recreates them every time it
opens a file; a read-only connection recreates them as temporary views, so an old file still
answers with today's definitions.
"""

from __future__ import annotations

import duckdb

from semtrace import semconv as sc

__all__ = [
    "FAILURES_SELECT",
    "SPAN_FAILURE",
    "VIEWS",
    "caught_select",
    "create_views",
    "log_failure_ctes",
    "register_view",
    "traces_select",
    "traces_view",
]

VIEWS: dict[str, str] = {}


def register_view(name: str, select_sql: str) -> None:
    """Add (or replace) a view of the contract; later views may use earlier ones."""
    VIEWS[name] = select_sql


def create_views(con: duckdb.DuckDBPyConnection, *, temporary: bool = False) -> None:
    """(Re)create every registered view on ``con``."""
    temp = "TEMP " if temporary else ""
    for name, select_sql in VIEWS.items():
        con.execute(f"CREATE OR REPLACE {temp}VIEW {name} AS {select_sql}")


# The error logs of spans that caught a failure (spans.caught_failure: they did not error, a
# failure below them did), written after it ended: the failure's impact sentences. Over the
# ``errored`` CTE (the ERROR spans: trace_id, span_id, end_time_ns at least) and
# ``unexplained`` (the error logs of spans that did not error: few, so the join stays small);
# ``spans`` names the spans to look in (all, or a CTE of a few traces' spans). Plain SQL: the
# Spark twins use the same text.
def caught_select(spans: str = "spans") -> str:
    """The SELECT of the caught error logs (see above)."""
    return f"""
        SELECT c.trace_id, c.caught_failure AS origin, l.log_id, l.message, l.event_name,
               l.time_ns
        FROM unexplained l
        JOIN {spans} c ON c.trace_id = l.trace_id AND c.span_id = l.span_id
        JOIN errored o ON o.trace_id = c.trace_id AND o.span_id = c.caught_failure
        WHERE c.caught_failure IS NOT NULL AND l.time_ns >= o.end_time_ns
"""


# A span that is a failure of its own: an ERROR span that is its own error_origin (one whose
# origin is unknown counts as its own, as the failures view's ``errored.origin`` does).
SPAN_FAILURE = "status_code = 'ERROR' AND coalesce(error_origin, span_id) = span_id"


def log_failure_ctes(spans: str = "spans", logs: str = "logs", *, inline: bool = False) -> str:
    """The CTEs that find the failures told by a log alone, for the ``failures`` and
    ``traces`` views (and the Spark ``traces`` twin: plain SQL): ``unexplained`` (the error
    logs of spans that did not error, or of no span), ``caught`` (those telling of a failure
    caught below: :func:`caught_select`) and ``failed_logs`` (the rest: each a failure).
    Needs an ``errored`` CTE before them; ``spans``/``logs`` name the rows to look in (a CTE
    or a parenthesized subquery keeps a few traces' only).

    Every part is joined on ``trace_id``, so a filter on one trace reaches every scan, but
    DuckDB computes a CTE used twice once, for every trace: ``inline`` (DuckDB only, for
    the traces view over every trace) asks it not to, so ``SELECT * FROM traces WHERE
    trace_id = ?`` reads that trace's rows. The failures view keeps ``unexplained`` (few
    rows) computed once."""
    hint = "NOT MATERIALIZED " if inline else ""
    return f"""
    unexplained AS {hint}(
        SELECT l.* FROM {logs} l
        LEFT JOIN (SELECT DISTINCT trace_id, span_id FROM errored) e
          ON e.trace_id = l.trace_id AND e.span_id = l.span_id
        WHERE l.severity IN ('ERROR', 'CRITICAL') AND e.span_id IS NULL
    ),
    caught AS ({caught_select(spans)}),
    failed_logs AS (
        SELECT l.* FROM unexplained l
        LEFT JOIN (SELECT DISTINCT trace_id, log_id FROM caught) k
          ON k.trace_id = l.trace_id AND k.log_id = l.log_id
        WHERE k.log_id IS NULL
    )"""


def traces_view(
    per_trace: str,
    *,
    spans: str = "spans",
    logs: str = "logs",
    first: str = "",
    inline: bool = False,
) -> str:
    """The ``traces`` view around ``per_trace``, plain SQL for both engines (the Spark twin
    passes its own dialect's aggregates): ``per_trace`` is the SELECT of each trace's
    aggregates over ``spans``, with ``span_failures`` counting :data:`SPAN_FAILURE`; each
    trace's ``failure_count`` adds the failures told by a log alone (``failed_logs``), as
    the failures view counts them. ``spans``/``logs``/``inline`` as for
    :func:`log_failure_ctes`; ``first``: CTEs that define them (ending in a comma)."""
    return f"""
    WITH {first}
    errored AS {"NOT MATERIALIZED " if inline else ""}(
        SELECT trace_id, span_id, end_time_ns FROM {spans} WHERE status_code = 'ERROR'
    ),
    {log_failure_ctes(spans, logs, inline=inline)},
    per_trace AS ({per_trace}),
    log_failure_counts AS (SELECT trace_id, count(*) AS n FROM failed_logs GROUP BY trace_id)
    SELECT t.trace_id, t.root_name, t.root_agent, t.services, t.agents, t.start_time,
           t.end_time, t.duration_ms, t.span_count, t.error_count,
           t.span_failures + coalesce(f.n, 0) AS failure_count,
           -- ERROR when the trace has a failure: an ERROR span, or an error log telling one
           CASE WHEN t.status = 'ERROR' OR f.n > 0 THEN 'ERROR' ELSE 'OK' END AS status,
           t.input_tokens,
           t.output_tokens, t.cost_usd, t.session_id
    FROM per_trace t LEFT JOIN log_failure_counts f ON f.trace_id = t.trace_id
"""


# The spans columns the traces view reads (what a chosen few traces' spans are kept with).
_TRACE_SPAN_COLUMNS = (
    "trace_id, span_id, parent_span_id, name, agent_name, service_name, start_time, end_time, "
    "start_time_ns, end_time_ns, status_code, error_origin, caught_failure, input_tokens, "
    "output_tokens, cost_usd, session_id"
)


def traces_select(where: str = "") -> str:
    """The ``traces`` view's SELECT, one row per trace, over the traces ``where`` keeps: a
    ``WHERE`` clause on spans that names traces by ``trace_id`` (``WHERE trace_id IN
    (...)``), or empty for every trace. The recent-traces query, the dashboard and the
    compare page run it over a few chosen traces: their spans are read once (``where``
    appears once in the text, so its ``?`` parameters are given once) and only their logs
    are searched for failures, so it stays fast on tens of millions of spans."""
    spans, logs, first = "spans", "logs", ""
    if where:
        spans = "scoped"
        logs = "(SELECT * FROM logs WHERE trace_id IN (SELECT trace_id FROM scoped))"
        first = f"scoped AS MATERIALIZED (SELECT {_TRACE_SPAN_COLUMNS} FROM spans {where}),"
    per_trace = f"""
        SELECT
            trace_id,
            coalesce(arg_min(name, start_time_ns) FILTER (WHERE parent_span_id IS NULL),
                     arg_min(name, start_time_ns)) AS root_name,
            coalesce(arg_min(agent_name, start_time_ns) FILTER (WHERE parent_span_id IS NULL),
                     arg_min(agent_name, start_time_ns) FILTER (WHERE agent_name IS NOT NULL))
                AS root_agent,
            -- list_distinct of a plain list, not list(DISTINCT ...): a DISTINCT aggregate
            -- builds a hash table per aggregate over every span (3x the view's time at 10M)
            CASE WHEN count(service_name) > 0
                 THEN list_sort(list_distinct(list(service_name))) END AS services,
            CASE WHEN count(agent_name) > 0
                 THEN list_sort(list_distinct(list(agent_name))) END AS agents,
            min(start_time) AS start_time,
            max(end_time) AS end_time,
            (max(end_time_ns) - min(start_time_ns)) / 1e6 AS duration_ms,
            count(*) AS span_count,
            count(*) FILTER (WHERE status_code = 'ERROR') AS error_count,
            count(*) FILTER (WHERE {SPAN_FAILURE}) AS span_failures,
            CASE WHEN count(*) FILTER (WHERE status_code = 'ERROR') > 0 THEN 'ERROR'
                 ELSE 'OK' END AS status,
            sum(input_tokens)::BIGINT AS input_tokens,
            sum(output_tokens)::BIGINT AS output_tokens,
            sum(cost_usd) AS cost_usd,
            any_value(session_id) FILTER (WHERE session_id IS NOT NULL) AS session_id
        FROM {spans}
        GROUP BY trace_id
    """
    # Over every trace, a query for one trace (WHERE trace_id = ?) reads that trace's rows
    # only; over a few chosen ones, their error logs are read once.
    return traces_view(per_trace, spans=spans, logs=logs, first=first, inline=not where)


# One row per trace: its root, agents, times, counts, tokens and cost; failure_count is its
# failures as the failures view counts them (log sentences included). traces_select() runs
# the same SELECT over a few chosen traces (the recent-traces query, the dashboard).
register_view("traces", traces_select())

register_view(
    "llm_calls",
    f"""
    SELECT trace_id, span_id, parent_span_id, name, start_time, duration_ms, status_code,
           agent_name, operation, provider, model, input_tokens, output_tokens,
           CASE WHEN input_tokens IS NOT NULL OR output_tokens IS NOT NULL
                THEN coalesce(input_tokens, 0) + coalesce(output_tokens, 0) END AS total_tokens,
           cost_usd, error_type, session_id, service_name,
           input AS prompt, output AS response
    FROM spans
    WHERE operation IN {sc.LLM_OPERATIONS_SQL}
    """,
)

register_view(
    "tool_calls",
    """
    SELECT trace_id, span_id, parent_span_id, name, start_time, duration_ms, status_code,
           status_message, agent_name, tool_name, error_type, session_id, service_name,
           coalesce(input, json_extract_string(attributes, '$."gen_ai.tool.call.arguments"'))
               AS arguments,
           coalesce(output, json_extract_string(attributes, '$."gen_ai.tool.call.result"'))
               AS result
    FROM spans
    WHERE operation = 'execute_tool'
    """,
)

# One row per agent. A call is where one run of the agent starts (agent_call: an invoke_agent
# span, a message handler's CONSUMER span, a root, a span under another agent), so agents
# driven by messages count like the ones called directly. errors counts the failures that
# started in the agent's own spans, its tools' and its LLM calls' (one per failure, as the
# failures view); failed_calls the calls that ended in error.
register_view(
    "agents",
    f"""
    SELECT
        agent_name,
        count(*) FILTER (WHERE agent_call) AS calls,
        count(DISTINCT trace_id) AS traces,
        quantile_cont(duration_ms, 0.5) FILTER (WHERE agent_call) AS p50_ms,
        quantile_cont(duration_ms, 0.95) FILTER (WHERE agent_call) AS p95_ms,
        quantile_cont(duration_ms, 0.99) FILTER (WHERE agent_call) AS p99_ms,
        count(*) FILTER (WHERE status_code = 'ERROR' AND error_origin = span_id) AS errors,
        count(*) FILTER (WHERE agent_call AND status_code = 'ERROR') AS failed_calls,
        coalesce(
            count(*) FILTER (WHERE agent_call AND status_code = 'ERROR')
                / nullif(count(*) FILTER (WHERE agent_call), 0),
            0.0) AS error_rate,
        count(*) FILTER (WHERE operation = 'execute_tool') AS tool_calls,
        count(*) FILTER (WHERE operation IN {sc.LLM_OPERATIONS_SQL}) AS llm_calls,
        sum(input_tokens)::BIGINT AS input_tokens,
        sum(output_tokens)::BIGINT AS output_tokens,
        sum(cost_usd) AS cost_usd
    FROM spans
    WHERE agent_name IS NOT NULL
    GROUP BY agent_name
    """,
)

# One row per failure, counted where it started: an ERROR span that is its own error_origin
# (see semtrace.store.lineage), with the spans it took down (the ancestors that errored
# because of it) as its impact and the span it ended in; plus the error logs that belong to
# no failed span and to no failure caught below them. Each with the sentence that explains
# it and its latest diagnosis. An error log written on a span that did not error, after a
# failure below it ended (the span caught it: spans.caught_failure), is that failure's impact
# sentence: the failure's message when its own span has no semantic sentence (log.failure).
FAILURES_SELECT = f"""
    WITH errored AS (
        SELECT trace_id, span_id, parent_span_id, name, start_time, start_time_ns,
               end_time_ns, service_name, agent_name, operation, tool_name, error_type,
               duration_ms, status_message, task_id, coalesce(error_origin, span_id) AS origin
        FROM spans WHERE status_code = 'ERROR'
    ),
    chains AS (
        SELECT trace_id, origin,
               count(*) - 1 AS impact_count,
               list(span_id ORDER BY start_time_ns) FILTER (WHERE span_id <> origin)
                   AS impacted_span_ids,
               arg_min(span_id, start_time_ns) AS ended_in_span_id,
               arg_min(name, start_time_ns) AS ended_in,
               bool_or(parent_span_id IS NULL) AS reached_root
        FROM errored GROUP BY trace_id, origin
    ),
    {log_failure_ctes()},
    sentences AS (
        -- a semantic failure (log.failure) of its own span explains best, then one of the
        -- span that caught it; else the latest error sentence on the span (the automatic
        -- exception sentence)
        SELECT trace_id, span_id AS origin, message, time_ns,
               CASE WHEN event_name IS NOT DISTINCT FROM 'failure' THEN 2 ELSE 0 END AS rank
        FROM logs WHERE severity IN ('ERROR', 'CRITICAL')
        UNION ALL
        SELECT trace_id, origin, message, time_ns, 1 FROM caught WHERE event_name = 'failure'
    ),
    span_failures AS (
        SELECT 'span' AS source, s.trace_id, s.span_id, NULL::VARCHAR AS log_id,
               s.start_time AS time, s.service_name, s.agent_name, s.name, s.operation,
               s.tool_name, s.error_type, s.duration_ms, s.task_id,
               coalesce(
                   (SELECT arg_max(x.message, (x.rank, x.time_ns)) FROM sentences x
                     WHERE x.trace_id = s.trace_id AND x.origin = s.span_id),
                   s.status_message) AS message,
               s.status_message,
               (SELECT arg_min(e.exception_message, e.time_ns) FROM span_events e
                 WHERE e.trace_id = s.trace_id AND e.span_id = s.span_id
                   AND e.name = 'exception') AS exception_message,
               c.impact_count, c.impacted_span_ids, c.ended_in_span_id, c.ended_in,
               c.reached_root
        FROM errored s
        JOIN chains c ON c.trace_id = s.trace_id AND c.origin = s.span_id
        WHERE s.origin = s.span_id
    ),
    log_failures AS (
        SELECT 'log' AS source, l.trace_id, l.span_id, l.log_id, l.time, l.service_name,
               l.agent_name, coalesce(l.template, l.message) AS name, NULL AS operation,
               NULL AS tool_name, json_extract_string(l.attributes, '$."error.type"')
                   AS error_type,
               NULL::DOUBLE AS duration_ms, NULL AS task_id, l.message,
               NULL AS status_message,
               NULL AS exception_message, 0::BIGINT AS impact_count,
               NULL::VARCHAR[] AS impacted_span_ids, NULL AS ended_in_span_id,
               NULL AS ended_in, NULL::BOOLEAN AS reached_root
        FROM failed_logs l
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
"""

register_view("failures", FAILURES_SELECT)

# One row per published message (a PRODUCER span): who sent it, who consumed it and how it
# went. Consumers are CONSUMER spans that link to the producer (the messaging conventions'
# default) or, for a single message handled with as_parent, have it as their parent. Queue
# wait runs from the publish (producer start) to the first consumer's start.
register_view(
    "messages",
    """
    WITH producers AS (
        SELECT trace_id, span_id, name, start_time, start_time_ns, agent_name, service_name,
               json_extract_string(attributes, '$."messaging.destination.name"') AS topic,
               json_extract_string(attributes, '$."messaging.message.id"') AS message_id,
               json_extract_string(attributes, '$."messaging.system"') AS system
        FROM spans
        WHERE kind = 'PRODUCER'
    ),
    consumer_spans AS (
        SELECT l.linked_trace_id AS producer_trace_id, l.linked_span_id AS producer_span_id,
               s.trace_id, s.span_id, s.start_time, s.start_time_ns, s.duration_ms,
               s.agent_name, s.service_name, s.status_code, s.status_message
        FROM spans s
        JOIN span_links l ON l.trace_id = s.trace_id AND l.span_id = s.span_id
        WHERE s.kind = 'CONSUMER'
          AND json_extract_string(l.attributes, '$."semtrace.link.kind"') IS DISTINCT FROM
              'ambient'
        UNION
        SELECT s.trace_id, s.parent_span_id, s.trace_id, s.span_id, s.start_time,
               s.start_time_ns, s.duration_ms, s.agent_name, s.service_name, s.status_code,
               s.status_message
        FROM spans s
        WHERE s.kind = 'CONSUMER' AND s.parent_span_id IS NOT NULL
    )
    SELECT p.message_id, p.topic, p.system, p.agent_name AS producer_agent,
           p.service_name AS producer_service, p.trace_id AS producer_trace_id,
           p.span_id AS producer_span_id, p.start_time AS publish_time,
           min(c.start_time) AS consume_time,
           greatest(min(c.start_time_ns) - p.start_time_ns, 0) / 1e6 AS queue_wait_ms,
           list(c.agent_name ORDER BY c.start_time_ns) FILTER (WHERE c.span_id IS NOT NULL)
               AS consumer_agents,
           count(c.span_id) AS consumer_count,
           CASE WHEN count(c.span_id) = 0 THEN 'pending'
                WHEN bool_or(c.status_code = 'ERROR') THEN 'error'
                ELSE 'ok' END AS outcome,
           arg_min(c.status_message, c.start_time_ns) FILTER (WHERE c.status_code = 'ERROR')
               AS error_message,
           list({'agent': c.agent_name, 'service': c.service_name, 'trace_id': c.trace_id,
                 'span_id': c.span_id, 'start_time': c.start_time,
                 'duration_ms': c.duration_ms, 'status_code': c.status_code}
                ORDER BY c.start_time_ns) FILTER (WHERE c.span_id IS NOT NULL) AS consumers
    FROM producers p
    LEFT JOIN consumer_spans c
      ON c.producer_trace_id = p.trace_id AND c.producer_span_id = p.span_id
    GROUP BY p.message_id, p.topic, p.system, p.agent_name, p.service_name, p.trace_id,
             p.span_id, p.start_time, p.start_time_ns
    """,
)

# One row per long-running task (MCP Tasks), from its ``mcp.task.status`` span events,
# wherever they came from: the state history, the time spent in each state, the human wait
# (time in input_required) and who answered. Repeated identical events (a task followed by
# both client and server) count once.
register_view(
    "tasks",
    """
    WITH ev_all AS (
        SELECT trace_id, span_id, time, time_ns, attributes, NULL::VARCHAR AS agent_name
        FROM span_events WHERE name = 'mcp.task.status'
        UNION ALL
        SELECT trace_id, span_id, time, time_ns, attributes, agent_name
        FROM logs WHERE event_name = 'mcp.task.status'
    ),
    ev AS (
        SELECT trace_id, span_id, time, time_ns, agent_name,
               json_extract_string(attributes, '$."mcp.task.id"') AS task_id,
               json_extract_string(attributes, '$."mcp.task.status"') AS status,
               json_extract_string(attributes, '$."mcp.task.status_message"') AS message,
               json_extract_string(attributes, '$."semtrace.task.name"') AS task_name
        FROM ev_all
    ),
    dedup AS (
        SELECT * FROM ev
        WHERE task_id IS NOT NULL AND status IS NOT NULL
        WINDOW w AS (PARTITION BY task_id ORDER BY time_ns, span_id)
        QUALIFY lag(status) OVER w IS DISTINCT FROM status
             OR lag(message) OVER w IS DISTINCT FROM message
    ),
    seg AS (
        SELECT *,
               coalesce(lead(time_ns) OVER (PARTITION BY task_id ORDER BY time_ns, span_id),
                        CASE WHEN status IN ('completed', 'failed', 'cancelled') THEN time_ns
                             ELSE epoch_ns(now()) END) - time_ns AS dur_ns
        FROM dedup
    ),
    input_events AS (
        SELECT time, time_ns, attributes FROM span_events WHERE name = 'semtrace.task.input'
        UNION ALL
        SELECT time, time_ns, attributes FROM logs WHERE event_name = 'semtrace.task.input'
    ),
    answers AS (
        SELECT json_extract_string(attributes, '$."mcp.task.id"') AS task_id,
               arg_max(json_extract_string(attributes, '$."semtrace.task.answered_by"'),
                       time_ns) AS answered_by,
               max(time) AS answered_at,
               count(DISTINCT time_ns) AS answers
        FROM input_events
        GROUP BY 1
    ),
    per_task AS (
        SELECT task_id,
               arg_min(trace_id, time_ns) AS trace_id,
               arg_min(span_id, time_ns) AS span_id,
               any_value(task_name) AS task_name,
               any_value(agent_name) AS log_agent_name,
               min(time) AS created_at,
               max(time) FILTER (WHERE status IN ('completed', 'failed', 'cancelled'))
                   AS ended_at,
               arg_max(status, time_ns) AS status,
               list(message ORDER BY time_ns, span_id)[-1] AS status_message,
               list({'status': status, 'time': time, 'message': message,
                     'duration_ms': dur_ns / 1e6} ORDER BY time_ns, span_id) AS history,
               coalesce(sum(dur_ns) FILTER (WHERE status = 'working'), 0) / 1e6 AS working_ms,
               coalesce(sum(dur_ns) FILTER (WHERE status = 'input_required'), 0) / 1e6
                   AS input_required_ms,
               count(*) FILTER (WHERE status = 'input_required') AS input_requests,
               sum(dur_ns) / 1e6 AS duration_ms
        FROM seg
        GROUP BY task_id
    )
    SELECT t.task_id,
           coalesce(t.task_name, json_extract_string(s.attributes, '$."semtrace.task.name"'),
                    s.name) AS name,
           coalesce(s.agent_name, t.log_agent_name) AS agent_name, s.service_name,
           t.trace_id, t.span_id, t.created_at, t.ended_at,
           t.status, t.status_message, t.history, t.working_ms, t.input_required_ms,
           t.input_required_ms AS human_wait_ms, t.input_requests, t.duration_ms,
           a.answered_by, a.answered_at, coalesce(a.answers, 0) AS answers,
           TRY_CAST(json_extract(s.attributes, '$."semtrace.task.polls"') AS BIGINT) AS polls
    FROM per_task t
    LEFT JOIN spans s ON s.trace_id = t.trace_id AND s.span_id = t.span_id
    LEFT JOIN answers a ON a.task_id = t.task_id
    """,
)

# Mean time to recovery per failure fingerprint, from the heal policy's attempts. One episode
# is one failing call healed (parameters.episode_id); duration_ms on a row is the time from
# the call's first failure to that row's outcome, so a recovered row's value is the recovery.
# ``runs`` shows the learning: per run (a configure(), parameters.run_id), in order, the action
# heal tried first and how long recovery took.
register_view(
    "recoveries",
    """
    WITH episodes AS (
        SELECT json_extract_string(parameters, '$.episode_id') AS episode_id,
               any_value(fingerprint) AS fingerprint,
               any_value(step) AS step,
               any_value(json_extract_string(parameters, '$.run_id')) AS run_id,
               min(time) AS started_at,
               max(time) AS ended_at,
               bool_or(outcome = 'recovered') AS recovered,
               max(duration_ms) FILTER (WHERE outcome = 'recovered') AS recovery_ms,
               count(*) FILTER (WHERE outcome IN ('recovered', 'failed')) AS attempts,
               arg_min(action, time) AS first_action,
               arg_max(action, time) AS last_action,
               arg_max(outcome, time) AS last_outcome
        FROM heal_attempts
        WHERE json_extract_string(parameters, '$.episode_id') IS NOT NULL
        GROUP BY 1
    ),
    runs AS (
        SELECT fingerprint, coalesce(run_id, episode_id) AS run_id,
               min(started_at) AS started_at, count(*) AS episodes,
               count(*) FILTER (WHERE recovered) AS recovered,
               avg(recovery_ms) AS recovery_ms,
               avg(attempts) AS attempts,
               arg_min(first_action, started_at) AS first_action
        FROM episodes
        GROUP BY 1, 2
    ),
    by_run AS (
        SELECT fingerprint,
               list({'run_id': run_id, 'started_at': started_at, 'episodes': episodes,
                     'recovered': recovered, 'recovery_ms': recovery_ms, 'attempts': attempts,
                     'first_action': first_action} ORDER BY started_at) AS runs
        FROM runs
        GROUP BY fingerprint
    )
    SELECT e.fingerprint,
           any_value(e.step) AS step,
           count(*) AS episodes,
           count(*) FILTER (WHERE e.recovered) AS recovered,
           count(*) FILTER (WHERE NOT e.recovered) AS not_recovered,
           count(*) FILTER (WHERE e.recovered) / count(*) AS recovery_rate,
           avg(e.recovery_ms) AS mttr_ms,
           quantile_cont(e.recovery_ms, 0.95) AS p95_recovery_ms,
           avg(e.attempts) AS avg_attempts,
           mode(e.last_action) FILTER (WHERE e.recovered) AS usual_fix,
           count(*) FILTER (WHERE e.last_outcome = 'escalated') AS escalated,
           min(e.started_at) AS first_seen,
           max(e.ended_at) AS last_seen,
           any_value(b.runs) AS runs
    FROM episodes e
    LEFT JOIN by_run b ON b.fingerprint IS NOT DISTINCT FROM e.fingerprint
    GROUP BY e.fingerprint
    """,
)
