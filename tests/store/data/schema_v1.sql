-- The schema semtrace wrote at version 1 (before tables were declared once), kept as test
-- data so the migration from a file of that era stays tested.
CREATE TABLE semtrace_schema (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE spans (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    name VARCHAR NOT NULL,
    kind VARCHAR,
    start_time TIMESTAMPTZ NOT NULL,
    end_time TIMESTAMPTZ NOT NULL,
    start_time_ns BIGINT NOT NULL,
    end_time_ns BIGINT NOT NULL,
    duration_ms DOUBLE NOT NULL,
    status_code VARCHAR NOT NULL,
    status_message VARCHAR,
    service_name VARCHAR,
    scope_name VARCHAR,
    agent_name VARCHAR,
    operation VARCHAR,
    tool_name VARCHAR,
    model VARCHAR,
    provider VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cost_usd DOUBLE,
    session_id VARCHAR,
    task_id VARCHAR,
    error_type VARCHAR,
    attributes JSON,
    resource JSON
);
CREATE TABLE span_events (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    time TIMESTAMPTZ NOT NULL,
    time_ns BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    exception_type VARCHAR,
    exception_message VARCHAR,
    exception_stacktrace VARCHAR,
    attributes JSON
);
CREATE TABLE span_links (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    linked_trace_id VARCHAR NOT NULL,
    linked_span_id VARCHAR NOT NULL,
    attributes JSON
);
CREATE TABLE logs (
    log_id VARCHAR NOT NULL,
    time TIMESTAMPTZ NOT NULL,
    time_ns BIGINT NOT NULL,
    trace_id VARCHAR,
    span_id VARCHAR,
    severity VARCHAR NOT NULL,
    severity_number INTEGER,
    service_name VARCHAR,
    agent_name VARCHAR,
    logger_name VARCHAR,
    event_name VARCHAR,
    message VARCHAR NOT NULL,
    template VARCHAR,
    action VARCHAR,
    cause VARCHAR,
    impact VARCHAR,
    attributes JSON
);
CREATE TABLE diagnoses (
    fingerprint VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    status VARCHAR NOT NULL,
    summary VARCHAR,
    root_cause VARCHAR,
    category VARCHAR,
    evidence JSON,
    remediations JSON,
    occurrences BIGINT,
    trace_count BIGINT,
    provider VARCHAR,
    model VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cost_usd DOUBLE,
    latency_ms DOUBLE,
    error VARCHAR,
    context JSON
);
CREATE TABLE failure_fingerprints (
    fingerprint VARCHAR NOT NULL,
    trace_id VARCHAR,
    span_id VARCHAR,
    log_id VARCHAR,
    failure_kind VARCHAR,
    time TIMESTAMPTZ
);
CREATE TABLE heal_attempts (
    time TIMESTAMPTZ NOT NULL,
    trace_id VARCHAR,
    span_id VARCHAR,
    fingerprint VARCHAR,
    step VARCHAR,
    attempt INTEGER,
    action VARCHAR,
    parameters JSON,
    outcome VARCHAR,
    error VARCHAR,
    duration_ms DOUBLE
);
CREATE TABLE semtrace_stats (
    time TIMESTAMPTZ NOT NULL,
    pid INTEGER,
    component VARCHAR,
    spans_written BIGINT,
    logs_written BIGINT,
    spans_dropped BIGINT,
    logs_dropped BIGINT,
    spooled BIGINT,
    retries BIGINT,
    export_errors BIGINT,
    export_latency_ms DOUBLE
);
INSERT INTO semtrace_schema (version) VALUES (1);
