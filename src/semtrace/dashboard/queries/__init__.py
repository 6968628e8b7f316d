"""Named query functions behind the dashboard: every SQL string its pages show lives here.

Each function takes a connection from :func:`semtrace.connect` (a DuckDB connection, or the
collector's client, which offers the same ``con.sql(q, params=...)``) and returns an Arrow
table or plain Python values; the pages only lay out what they return. Views that other
parts of semtrace add over time may be missing from an older file: the functions that read
them return ``None`` (or nothing) then, so a page can say so instead of failing.

The store's own read API, shared with the CLI and diagnose, is :mod:`semtrace.store.queries`;
this package holds what only the dashboard asks. One module per page's questions.
"""

from __future__ import annotations

from semtrace.dashboard.queries._common import columns_of, relation_exists
from semtrace.dashboard.queries.agents import (
    agent_edges,
    agent_stats,
    cost_by_model,
    message_list,
    orchestration_pattern,
    orchestration_patterns,
)
from semtrace.dashboard.queries.compare import MAX_COMPARED_SPANS, run_spans, similar_traces
from semtrace.dashboard.queries.failures import (
    FINDING_KINDS,
    diagnosis_detail,
    failure_groups,
    findings,
    trace_failures,
)
from semtrace.dashboard.queries.replay import replay_events
from semtrace.dashboard.queries.runs import (
    CausalScope,
    Run,
    causal_scope,
    run_keys,
    run_list,
    runs_of,
    session_list,
    session_turns,
)
from semtrace.dashboard.queries.sql import EXAMPLE_QUERIES, schema_catalog
from semtrace.dashboard.queries.tasks import task_list, task_state_changes, task_summaries
from semtrace.dashboard.queries.trace import (
    SKELETON_COLUMNS,
    span_detail,
    span_hints,
    trace_log_window,
    trace_markers,
    trace_overview,
    trace_skeleton,
)
from semtrace.dashboard.queries.traces import (
    TraceLookup,
    filter_options,
    find_trace,
    running_traces,
    trace_list,
    trace_summaries,
)
from semtrace.dashboard.tree import TraceTree

__all__ = [
    "EXAMPLE_QUERIES",
    "FINDING_KINDS",
    "MAX_COMPARED_SPANS",
    "SKELETON_COLUMNS",
    "CausalScope",
    "Run",
    "TraceLookup",
    "TraceTree",
    "agent_edges",
    "agent_stats",
    "causal_scope",
    "columns_of",
    "cost_by_model",
    "diagnosis_detail",
    "failure_groups",
    "filter_options",
    "find_trace",
    "findings",
    "message_list",
    "orchestration_pattern",
    "orchestration_patterns",
    "relation_exists",
    "replay_events",
    "run_keys",
    "run_list",
    "run_spans",
    "running_traces",
    "runs_of",
    "schema_catalog",
    "session_list",
    "session_turns",
    "similar_traces",
    "span_detail",
    "span_hints",
    "task_list",
    "task_state_changes",
    "task_summaries",
    "trace_failures",
    "trace_list",
    "trace_log_window",
    "trace_markers",
    "trace_overview",
    "trace_skeleton",
    "trace_summaries",
]
