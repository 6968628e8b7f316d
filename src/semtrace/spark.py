"""The SQL contract in Spark: ``semtrace.spark.register(spark, DIR)`` over a semtrace lake.

Each table of the contract becomes a temporary view over the lake's visible files (the same
list DuckDB reads, :func:`semtrace.lake.files.visible_files`, so a compaction in progress
counts no row twice), with the declared columns and types; then every view of the contract
is created in Spark SQL. The view definitions below are the DuckDB ones
(:mod:`semtrace.store.views`) written in Spark's dialect; a test runs both engines over the
same lake and compares every view row by row, so the two cannot drift apart unseen.

Where the dialects differ, the Spark text does what DuckDB does: DuckDB's ``arg_min``/
``arg_max``/``any_value`` skip NULL values (``min_by ... FILTER (WHERE x IS NOT NULL)``,
``any_value(x, true)``), an aggregate list over no rows is NULL (``CASE WHEN count(..) > 0``),
``list(x ORDER BY k)`` is a sorted ``collect_list`` of ``(k, x)`` structs, ``QUALIFY`` is a
filtered subquery and JSON paths use ``get_json_object`` with ``$['dotted.key']``.

Needs ``pip install 'semtrace[spark]'`` (pyspark) and Java 17 or newer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semtrace import semconv as sc
from semtrace.exceptions import ConfigurationError
from semtrace.lake.files import visible_files
from semtrace.lake.layout import DATE_KEY
from semtrace.lake.read import is_lake
from semtrace.store import schema
from semtrace.store.views import SPAN_FAILURE, log_failure_ctes, traces_view

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SPARK_VIEWS", "local_session", "register", "spark_schema"]

_LLM_OPS = sc.LLM_OPERATIONS_SQL


def _json(column: str, key: str) -> str:
    """DuckDB's ``json_extract_string(column, '$."key"')`` in Spark."""
    return f"get_json_object({column}, \"$['{key}']\")"


SPARK_VIEWS: dict[str, str] = {}

SPARK_VIEWS["traces"] = traces_view(f"""
    SELECT
        trace_id,
        coalesce(
            min_by(name, start_time_ns) FILTER (WHERE parent_span_id IS NULL AND name IS NOT NULL),
            min_by(name, start_time_ns) FILTER (WHERE name IS NOT NULL)) AS root_name,
        coalesce(
            min_by(agent_name, start_time_ns)
                FILTER (WHERE parent_span_id IS NULL AND agent_name IS NOT NULL),
            min_by(agent_name, start_time_ns) FILTER (WHERE agent_name IS NOT NULL))
            AS root_agent,
        CASE WHEN count(service_name) > 0 THEN array_sort(collect_set(service_name)) END
            AS services,
        CASE WHEN count(agent_name) > 0 THEN array_sort(collect_set(agent_name)) END AS agents,
        min(start_time) AS start_time,
        max(end_time) AS end_time,
        (max(end_time_ns) - min(start_time_ns)) / 1e6 AS duration_ms,
        count(*) AS span_count,
        count(*) FILTER (WHERE status_code = 'ERROR') AS error_count,
        count(*) FILTER (WHERE {SPAN_FAILURE}) AS span_failures,
        CASE WHEN count(*) FILTER (WHERE status_code = 'ERROR') > 0 THEN 'ERROR' ELSE 'OK' END
            AS status,
        CAST(sum(input_tokens) AS BIGINT) AS input_tokens,
        CAST(sum(output_tokens) AS BIGINT) AS output_tokens,
        sum(cost_usd) AS cost_usd,
        any_value(session_id, true) AS session_id
    FROM spans
    GROUP BY trace_id
""")

SPARK_VIEWS["llm_calls"] = f"""
    SELECT trace_id, span_id, parent_span_id, name, start_time, duration_ms, status_code,
           agent_name, operation, provider, model, input_tokens, output_tokens,
           CASE WHEN input_tokens IS NOT NULL OR output_tokens IS NOT NULL
                THEN coalesce(input_tokens, 0) + coalesce(output_tokens, 0) END AS total_tokens,
           cost_usd, error_type, session_id, service_name,
           input AS prompt, output AS response
    FROM spans
    WHERE operation IN {_LLM_OPS}
"""

SPARK_VIEWS["tool_calls"] = f"""
    SELECT trace_id, span_id, parent_span_id, name, start_time, duration_ms, status_code,
           status_message, agent_name, tool_name, error_type, session_id, service_name,
           coalesce(input, {_json("attributes", "gen_ai.tool.call.arguments")}) AS arguments,
           coalesce(output, {_json("attributes", "gen_ai.tool.call.result")}) AS result
    FROM spans
    WHERE operation = 'execute_tool'
"""

SPARK_VIEWS["agents"] = f"""
    SELECT
        agent_name,
        count(*) FILTER (WHERE agent_call) AS calls,
        count(DISTINCT trace_id) AS traces,
        percentile(duration_ms, 0.5) FILTER (WHERE agent_call) AS p50_ms,
        percentile(duration_ms, 0.95) FILTER (WHERE agent_call) AS p95_ms,
        percentile(duration_ms, 0.99) FILTER (WHERE agent_call) AS p99_ms,
        count(*) FILTER (WHERE status_code = 'ERROR' AND error_origin = span_id) AS errors,
        count(*) FILTER (WHERE agent_call AND status_code = 'ERROR') AS failed_calls,
        coalesce(
            count(*) FILTER (WHERE agent_call AND status_code = 'ERROR')
                / nullif(count(*) FILTER (WHERE agent_call), 0),
            0.0) AS error_rate,
        count(*) FILTER (WHERE operation = 'execute_tool') AS tool_calls,
        count(*) FILTER (WHERE operation IN {_LLM_OPS}) AS llm_calls,
        CAST(sum(input_tokens) AS BIGINT) AS input_tokens,
        CAST(sum(output_tokens) AS BIGINT) AS output_tokens,
        sum(cost_usd) AS cost_usd
    FROM spans
    WHERE agent_name IS NOT NULL
    GROUP BY agent_name
"""

SPARK_VIEWS["failures"] = f"""
    WITH errored AS (
        SELECT trace_id, span_id, parent_span_id, name, start_time, start_time_ns,
               end_time_ns, service_name, agent_name, operation, tool_name, error_type,
               duration_ms, status_message, task_id, coalesce(error_origin, span_id) AS origin
        FROM spans WHERE status_code = 'ERROR'
    ),
    chains AS (
        SELECT trace_id, origin,
               count(*) - 1 AS impact_count,
               CASE WHEN count(*) FILTER (WHERE span_id <> origin) > 0 THEN transform(
                   array_sort(collect_list(named_struct('k', start_time_ns, 'v', span_id))
                       FILTER (WHERE span_id <> origin)),
                   x -> x.v) END AS impacted_span_ids,
               min_by(span_id, start_time_ns) FILTER (WHERE span_id IS NOT NULL)
                   AS ended_in_span_id,
               min_by(name, start_time_ns) FILTER (WHERE name IS NOT NULL) AS ended_in,
               bool_or(parent_span_id IS NULL) AS reached_root
        FROM errored GROUP BY trace_id, origin
    ),
    {log_failure_ctes()},
    error_sentences AS (
        -- a semantic failure (log.failure) of its own span explains best, then one of the
        -- span that caught it; else the latest error sentence
        SELECT trace_id, origin AS span_id,
               max_by(message, named_struct('rank', rank, 'time_ns', time_ns)) AS message
        FROM (
            SELECT trace_id, span_id AS origin, message, time_ns,
                   CASE WHEN event_name <=> 'failure' THEN 2 ELSE 0 END AS rank
            FROM logs WHERE severity IN ('ERROR', 'CRITICAL')
            UNION ALL
            SELECT trace_id, origin, message, time_ns, 1 FROM caught
            WHERE event_name = 'failure'
        )
        WHERE message IS NOT NULL
        GROUP BY trace_id, origin
    ),
    exceptions AS (
        SELECT trace_id, span_id,
               min_by(exception_message, time_ns) FILTER (WHERE exception_message IS NOT NULL)
                   AS exception_message
        FROM span_events WHERE name = 'exception'
        GROUP BY trace_id, span_id
    ),
    span_failures AS (
        SELECT 'span' AS source, s.trace_id, s.span_id, CAST(NULL AS STRING) AS log_id,
               s.start_time AS time, s.service_name, s.agent_name, s.name, s.operation,
               s.tool_name, s.error_type, s.duration_ms, s.task_id,
               coalesce(m.message, s.status_message) AS message, s.status_message,
               x.exception_message,
               c.impact_count, c.impacted_span_ids, c.ended_in_span_id, c.ended_in,
               c.reached_root
        FROM errored s
        JOIN chains c ON c.trace_id = s.trace_id AND c.origin = s.span_id
        LEFT JOIN error_sentences m ON m.trace_id = s.trace_id AND m.span_id = s.span_id
        LEFT JOIN exceptions x ON x.trace_id = s.trace_id AND x.span_id = s.span_id
        WHERE s.origin = s.span_id
    ),
    log_failures AS (
        SELECT 'log' AS source, l.trace_id, l.span_id, l.log_id, l.time, l.service_name,
               l.agent_name, coalesce(l.template, l.message) AS name,
               CAST(NULL AS STRING) AS operation, CAST(NULL AS STRING) AS tool_name,
               {_json("l.attributes", "error.type")} AS error_type,
               CAST(NULL AS DOUBLE) AS duration_ms, CAST(NULL AS STRING) AS task_id,
               l.message, CAST(NULL AS STRING) AS status_message,
               CAST(NULL AS STRING) AS exception_message, CAST(0 AS BIGINT) AS impact_count,
               CAST(NULL AS ARRAY<STRING>) AS impacted_span_ids,
               CAST(NULL AS STRING) AS ended_in_span_id, CAST(NULL AS STRING) AS ended_in,
               CAST(NULL AS BOOLEAN) AS reached_root
        FROM failed_logs l
    ),
    all_failures AS (
        SELECT * FROM span_failures UNION ALL SELECT * FROM log_failures
    ),
    latest_diagnosis AS (
        SELECT * FROM (
            SELECT *, row_number() OVER (PARTITION BY fingerprint ORDER BY created_at DESC)
                AS _rank
            FROM diagnoses
        ) WHERE _rank = 1
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

SPARK_VIEWS["messages"] = f"""
    WITH producers AS (
        SELECT trace_id, span_id, name, start_time, start_time_ns, agent_name, service_name,
               {_json("attributes", "messaging.destination.name")} AS topic,
               {_json("attributes", "messaging.message.id")} AS message_id,
               {_json("attributes", "messaging.system")} AS system
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
          AND NOT ({_json("l.attributes", "semtrace.link.kind")} <=> 'ambient')
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
           CASE WHEN count(c.span_id) > 0 THEN transform(
               array_sort(collect_list(named_struct('k', c.start_time_ns, 'v', c.agent_name))
                   FILTER (WHERE c.span_id IS NOT NULL)),
               x -> x.v) END AS consumer_agents,
           count(c.span_id) AS consumer_count,
           CASE WHEN count(c.span_id) = 0 THEN 'pending'
                WHEN bool_or(c.status_code = 'ERROR') THEN 'error'
                ELSE 'ok' END AS outcome,
           min_by(c.status_message, c.start_time_ns)
               FILTER (WHERE c.status_code = 'ERROR' AND c.status_message IS NOT NULL)
               AS error_message,
           CASE WHEN count(c.span_id) > 0 THEN transform(
               array_sort(collect_list(named_struct(
                   'k', c.start_time_ns,
                   'v', named_struct('agent', c.agent_name, 'service', c.service_name,
                                     'trace_id', c.trace_id, 'span_id', c.span_id,
                                     'start_time', c.start_time,
                                     'duration_ms', c.duration_ms,
                                     'status_code', c.status_code)))
                   FILTER (WHERE c.span_id IS NOT NULL)),
               x -> x.v) END AS consumers
    FROM producers p
    LEFT JOIN consumer_spans c
      ON c.producer_trace_id = p.trace_id AND c.producer_span_id = p.span_id
    GROUP BY p.message_id, p.topic, p.system, p.agent_name, p.service_name, p.trace_id,
             p.span_id, p.start_time, p.start_time_ns
"""

SPARK_VIEWS["tasks"] = f"""
    WITH ev_all AS (
        SELECT trace_id, span_id, time, time_ns, attributes, CAST(NULL AS STRING) AS agent_name
        FROM span_events WHERE name = 'mcp.task.status'
        UNION ALL
        SELECT trace_id, span_id, time, time_ns, attributes, agent_name
        FROM logs WHERE event_name = 'mcp.task.status'
    ),
    ev AS (
        SELECT trace_id, span_id, time, time_ns, agent_name,
               {_json("attributes", "mcp.task.id")} AS task_id,
               {_json("attributes", "mcp.task.status")} AS status,
               {_json("attributes", "mcp.task.status_message")} AS message,
               {_json("attributes", "semtrace.task.name")} AS task_name
        FROM ev_all
    ),
    dedup AS (
        SELECT trace_id, span_id, time, time_ns, agent_name, task_id, status, message,
               task_name
        FROM (
            SELECT *, lag(status) OVER w AS _prev_status, lag(message) OVER w AS _prev_message
            FROM ev
            WHERE task_id IS NOT NULL AND status IS NOT NULL
            WINDOW w AS (PARTITION BY task_id ORDER BY time_ns, span_id)
        )
        WHERE NOT (_prev_status <=> status) OR NOT (_prev_message <=> message)
    ),
    seg AS (
        SELECT *,
               coalesce(lead(time_ns) OVER (PARTITION BY task_id ORDER BY time_ns, span_id),
                        CASE WHEN status IN ('completed', 'failed', 'cancelled') THEN time_ns
                             ELSE unix_micros(current_timestamp()) * 1000 END) - time_ns
                   AS dur_ns
        FROM dedup
    ),
    input_events AS (
        SELECT time, time_ns, attributes FROM span_events WHERE name = 'semtrace.task.input'
        UNION ALL
        SELECT time, time_ns, attributes FROM logs WHERE event_name = 'semtrace.task.input'
    ),
    answers AS (
        SELECT task_id,
               max_by(answered_by, time_ns) FILTER (WHERE answered_by IS NOT NULL)
                   AS answered_by,
               max(time) AS answered_at,
               count(DISTINCT time_ns) AS answers
        FROM (
            SELECT {_json("attributes", "mcp.task.id")} AS task_id,
                   {_json("attributes", "semtrace.task.answered_by")} AS answered_by,
                   time, time_ns
            FROM input_events
        )
        GROUP BY task_id
    ),
    per_task AS (
        SELECT task_id,
               min_by(trace_id, time_ns) FILTER (WHERE trace_id IS NOT NULL) AS trace_id,
               min_by(span_id, time_ns) FILTER (WHERE span_id IS NOT NULL) AS span_id,
               any_value(task_name, true) AS task_name,
               any_value(agent_name, true) AS log_agent_name,
               min(time) AS created_at,
               max(time) FILTER (WHERE status IN ('completed', 'failed', 'cancelled'))
                   AS ended_at,
               max_by(status, time_ns) AS status,
               element_at(array_sort(collect_list(named_struct(
                   't', time_ns, 's', span_id, 'v', message))), -1).v AS status_message,
               transform(array_sort(collect_list(named_struct(
                   't', time_ns, 's', span_id,
                   'v', named_struct('status', status, 'time', time, 'message', message,
                                     'duration_ms', dur_ns / 1e6)))),
                   x -> x.v) AS history,
               coalesce(sum(dur_ns) FILTER (WHERE status = 'working'), 0) / 1e6 AS working_ms,
               coalesce(sum(dur_ns) FILTER (WHERE status = 'input_required'), 0) / 1e6
                   AS input_required_ms,
               count(*) FILTER (WHERE status = 'input_required') AS input_requests,
               sum(dur_ns) / 1e6 AS duration_ms
        FROM seg
        GROUP BY task_id
    )
    SELECT t.task_id,
           coalesce(t.task_name, {_json("s.attributes", "semtrace.task.name")}, s.name) AS name,
           coalesce(s.agent_name, t.log_agent_name) AS agent_name, s.service_name,
           t.trace_id, t.span_id, t.created_at, t.ended_at,
           t.status, t.status_message, t.history, t.working_ms, t.input_required_ms,
           t.input_required_ms AS human_wait_ms, t.input_requests, t.duration_ms,
           a.answered_by, a.answered_at, coalesce(a.answers, 0) AS answers,
           try_cast({_json("s.attributes", "semtrace.task.polls")} AS BIGINT) AS polls
    FROM per_task t
    LEFT JOIN spans s ON s.trace_id = t.trace_id AND s.span_id = t.span_id
    LEFT JOIN answers a ON a.task_id = t.task_id
"""

SPARK_VIEWS["recoveries"] = """
    WITH episodes AS (
        SELECT get_json_object(parameters, '$.episode_id') AS episode_id,
               any_value(fingerprint, true) AS fingerprint,
               any_value(step, true) AS step,
               min(time) AS started_at,
               max(time) AS ended_at,
               bool_or(outcome = 'recovered') AS recovered,
               max(duration_ms) FILTER (WHERE outcome = 'recovered') AS recovery_ms,
               any_value(get_json_object(parameters, '$.run_id'), true) AS run_id,
               count(*) FILTER (WHERE outcome IN ('recovered', 'failed')) AS attempts,
               min_by(action, time) FILTER (WHERE action IS NOT NULL) AS first_action,
               max_by(action, time) FILTER (WHERE action IS NOT NULL) AS last_action,
               max_by(outcome, time) FILTER (WHERE outcome IS NOT NULL) AS last_outcome
        FROM heal_attempts
        WHERE get_json_object(parameters, '$.episode_id') IS NOT NULL
        GROUP BY 1
    ),
    runs AS (
        SELECT fingerprint, coalesce(run_id, episode_id) AS run_id,
               min(started_at) AS started_at, count(*) AS episodes,
               count(*) FILTER (WHERE recovered) AS recovered,
               avg(recovery_ms) AS recovery_ms,
               avg(attempts) AS attempts,
               min_by(first_action, started_at) FILTER (WHERE first_action IS NOT NULL)
                   AS first_action
        FROM episodes
        GROUP BY 1, 2
    ),
    by_run AS (
        SELECT fingerprint,
               transform(
                   array_sort(collect_list(named_struct(
                       'at', started_at, 'id', run_id,
                       'run', named_struct('run_id', run_id, 'started_at', started_at,
                                           'episodes', episodes, 'recovered', recovered,
                                           'recovery_ms', recovery_ms, 'attempts', attempts,
                                           'first_action', first_action)))),
                   x -> x.run) AS runs
        FROM runs
        GROUP BY fingerprint
    )
    SELECT e.fingerprint,
           any_value(e.step, true) AS step,
           count(*) AS episodes,
           count(*) FILTER (WHERE e.recovered) AS recovered,
           count(*) FILTER (WHERE NOT e.recovered) AS not_recovered,
           count(*) FILTER (WHERE e.recovered) / count(*) AS recovery_rate,
           avg(e.recovery_ms) AS mttr_ms,
           percentile(e.recovery_ms, 0.95) AS p95_recovery_ms,
           avg(e.attempts) AS avg_attempts,
           mode(e.last_action, true) FILTER (WHERE e.recovered) AS usual_fix,
           count(*) FILTER (WHERE e.last_outcome = 'escalated') AS escalated,
           min(e.started_at) AS first_seen,
           max(e.ended_at) AS last_seen,
           any_value(b.runs, true) AS runs
    FROM episodes e
    LEFT JOIN by_run b ON b.fingerprint <=> e.fingerprint
    GROUP BY e.fingerprint
"""


def _types() -> dict[str, Any]:
    try:
        from pyspark.sql import types as t
    except ImportError:
        raise ConfigurationError(
            "semtrace.spark needs pyspark: pip install 'semtrace[spark]' (and Java 17 or newer)"
        ) from None
    return {
        "VARCHAR": t.StringType(),
        "JSON": t.StringType(),
        "BIGINT": t.LongType(),
        "INTEGER": t.IntegerType(),
        "DOUBLE": t.DoubleType(),
        "BOOLEAN": t.BooleanType(),
        "TIMESTAMPTZ": t.TimestampType(),
        "DATE": t.DateType(),
        "_struct": t.StructType,
        "_field": t.StructField,
    }


def spark_schema(table: str, *, with_partitions: bool = False) -> Any:
    """The Spark ``StructType`` of a table of the contract (plus the lake's partition keys)."""
    types = _types()
    fields = [types["_field"](c.name, types[c.type.sql], True) for c in schema.table(table).columns]
    if with_partitions:
        fields.append(types["_field"](DATE_KEY, types["DATE"], True))
    return types["_struct"](fields)


_DEBIAN_JAVA_17 = Path("/usr/lib/jvm/java-17-openjdk-amd64")


def local_session(
    *, cores: int = 2, memory: str = "2g", shuffle_partitions: int = 4, name: str = "semtrace"
) -> SparkSession:
    """A SparkSession in local mode for trying the contract on one machine: loopback only,
    no UI, UTC (timestamps print as stored), Debian's Java 17 when ``JAVA_HOME`` is unset."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigurationError(
            "semtrace.spark needs pyspark: pip install 'semtrace[spark]' (and Java 17 or newer)"
        ) from None
    if not os.environ.get("JAVA_HOME") and _DEBIAN_JAVA_17.is_dir():
        os.environ["JAVA_HOME"] = str(_DEBIAN_JAVA_17)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", memory)
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def register(spark: SparkSession, lake: str | os.PathLike[str]) -> list[str]:
    """Create the contract's tables and views as temporary views in ``spark``, over the files
    the lake holds now; returns their names. Call again to see files published since."""
    root = Path(lake).expanduser().resolve()
    if not is_lake(root):
        raise ConfigurationError(
            f"{root} is not a semtrace lake (no spans/, logs/, ... folders). Write one with "
            "`semtrace serve --lake DIR` or `semtrace export --out DIR`."
        )
    for table in schema.TABLES:
        declared = [c.name for c in schema.table(table).columns]
        files = [str(f) for f in visible_files(root, table)]
        if files:
            # Partition columns come from the paths; their types from this schema (a service
            # named "200" stays a string), columns a file lacks read as NULL.
            frame = (
                spark.read.schema(spark_schema(table, with_partitions=True))
                .option("basePath", str(root / table))
                .parquet(*files)
                .select(*declared)
            )
        else:
            frame = spark.createDataFrame([], spark_schema(table))
        frame.createOrReplaceTempView(table)
    for name, sql in SPARK_VIEWS.items():
        spark.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
    return [*schema.TABLES, *SPARK_VIEWS]
