"""What the MCP tools answer, as plain methods returning compact text (the server wraps them).

Each answer names the stable ids to drill down with: ``trace_id`` for :meth:`get_trace`,
``failure_id`` for :meth:`get_failure`, ``fingerprint`` for :meth:`diagnose_failure`. Bad input
raises :class:`ToolInputError` (or the sandbox's ``QueryRefused``/``QueryTimeout``), which the
server turns into an MCP error result with the message.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Any

import pyarrow as pa

from semtrace import diagnose
from semtrace.diagnose.extract import extract_failures, parse_since
from semtrace.exceptions import QueryError, SemtraceError
from semtrace.inbox import AnswerRefused, answer_task, cancel_task
from semtrace.integrations.query import Trace
from semtrace.mcp_server._reads import Reader
from semtrace.mcp_server._text import MAX_CHARS, cell, clip, count, duration, rows_text, table_text
from semtrace.store import queries
from semtrace.telemetry.sentences import fold_failure_logs

__all__ = ["RELATIONS", "TelemetryTools", "ToolInputError"]

# One line per relation of the SQL contract (the README's "SQL contract" section in short).
RELATIONS: dict[str, str] = {
    "spans": "one row per span (agent_name, operation, tool_name, model, tokens, cost, status)",
    "span_events": "events on spans, exceptions with type, message and stacktrace included",
    "span_links": "links between spans (a consumer to the producer of its message)",
    "logs": "semantic log sentences (message) with their facts: action, cause, impact",
    "diagnoses": "one row per diagnosis of a failure fingerprint: root cause, remediations",
    "failure_fingerprints": "which failure occurrence has which fingerprint",
    "heal_attempts": "what the runtime tried when healing a failure, and how it ended",
    "semtrace_stats": "semtrace's own counters: written, dropped, spooled, retried",
    "task_answers": "answers given to tasks waiting for a human, and whether the agent took them",
    "semtrace_batches": "ids of the batches an owner committed (a replay is not stored twice)",
    "traces": "view: one row per trace (root, agents, duration, span and error counts, cost)",
    "failures": "view: failures with the sentence that explains them and their diagnosis",
    "agents": "view: one row per agent (calls, latency percentiles, error rate, tokens, cost)",
    "llm_calls": "view: one row per model call (model, tokens, cost)",
    "tool_calls": "view: one row per tool call (tool_name, status, arguments)",
    "messages": "view: one row per message between agents (producer, consumers, queue wait)",
    "tasks": "view: one row per long-running task (status history, human wait, who answered)",
    "recoveries": "view: how runtime healing went per failure fingerprint (MTTR)",
}

EXAMPLES = """\
-- latency, errors and cost per agent
select agent_name, calls, round(p95_ms, 1) as p95_ms, error_rate, cost_usd from agents;
-- failure sentences of the last hour
select time, agent_name, message, diagnosis from failures
where time > now() - interval 1 hour order by time desc;
-- the spans of one trace in order
select span_id, parent_span_id, name, agent_name, duration_ms, status_code
from spans where trace_id = '<trace_id>' order by start_time_ns;
-- a span attribute without a column of its own
select name, attributes->>'$."gen_ai.response.model"' as response_model from spans
where operation = 'chat';"""


class ToolInputError(ValueError):
    """The arguments of a tool call cannot be answered; the message says what to pass."""


def _since(since: str | None) -> Any:
    if not since:
        return None
    try:
        return parse_since(since)
    except SemtraceError as exc:
        raise ToolInputError(str(exc)) from None


class TelemetryTools:
    """The read tools over one database (``diagnose_failure`` also stores its diagnosis)."""

    def __init__(
        self, db: str | os.PathLike[str], *, provider: str = "rules", answer_as: str = "mcp"
    ) -> None:
        self.reader = Reader(db)
        self.provider = provider
        self.answer_as = answer_as

    # -- SQL ---------------------------------------------------------------------------------
    def query_sql(self, sql: str, limit: int = 50) -> str:
        """Run one read-only SQL query (DuckDB dialect: SELECT, WITH or FROM only) on the
        telemetry and get at most `limit` rows (up to 500) as `a | b` lines. Tables: spans,
        span_events, span_links, logs, diagnoses, failure_fingerprints, heal_attempts; views:
        traces, failures, agents, llm_calls, tool_calls, messages, tasks, recoveries."""
        result = self.reader.sql(sql, limit)
        n = result.table.num_rows
        head = count(n, "row")
        if result.truncated:
            head += f" (cut at the limit of {n}; raise limit, up to {self.reader.max_rows})"
        return f"{head}\n{table_text(result.table)}"

    def describe_schema(self, relation: str | None = None) -> str:
        """List the tables and views with their columns and example queries, or, given a
        relation name, that relation's columns with their types."""
        catalog = self.reader.catalog()
        if relation:
            if relation not in catalog:
                raise ToolInputError(
                    f"no relation {relation!r}; the tables and views are: {', '.join(catalog)}"
                )
            lines = [f"{relation}: {RELATIONS.get(relation, '')}"]
            lines += [f"  {name} {type_}" for name, type_ in catalog[relation]]
            return "\n".join(lines)
        lines = ["Tables and views (describe_schema(relation) gives column types):"]
        for name, cols in catalog.items():
            about = RELATIONS.get(name, "")
            lines.append(f"- {name}: {about}\n  columns: {', '.join(c for c, _ in cols)}")
        lines.append("Example queries (DuckDB SQL):\n" + EXAMPLES)
        return "\n".join(lines)

    # -- traces ------------------------------------------------------------------------------
    def list_traces(
        self,
        limit: int = 20,
        status: str | None = None,
        agent: str | None = None,
        service: str | None = None,
        text: str | None = None,
        since: str | None = None,
    ) -> str:
        """Recent traces, newest first: trace_id, start, root span, agents, duration, span and
        error counts. Filters: status (OK or ERROR), agent, service, text (searched in the log
        sentences and error messages), since (a duration like 30m, 2h, 1d, or an ISO time)."""
        cutoff = _since(since)
        with self.reader.connection() as con:
            table = queries.recent_traces(
                con,
                since=cutoff.isoformat() if cutoff else None,
                status=status.upper() if status else None,
                agents=[agent] if agent else (),
                services=[service] if service else (),
                text=text,
                limit=max(1, min(limit, 200)),
            )
        rows = [
            [
                r["trace_id"],
                r["start_time"],
                r["root_name"],
                ",".join(r["agents"] or []),
                duration(r["duration_ms"]),
                r["span_count"],
                r["failure_count"],
                r["status"],
                r["matched_sentence"] if text else None,
            ]
            for r in table.to_pylist()
        ]
        if not rows:
            return "no traces match; try without filters, or a longer since"
        columns = ["trace_id", "start", "root", "agents", "duration", "spans", "failures", "status"]
        if not text:
            rows = [r[:-1] for r in rows]
        else:
            columns.append("matched")
        head = f"{count(len(rows), 'trace')}, newest first (get_trace(trace_id) for one)"
        return f"{head}\n{rows_text(columns, rows)}"

    def get_trace(self, trace_id: str, max_spans: int = 150) -> str:
        """One trace as an indented span tree, with each span's agent, duration, errors and
        the log sentences written inside it. trace_id may be a unique prefix."""
        with self.reader.connection() as con:
            try:
                full = queries.resolve_trace_id(con, trace_id)
            except QueryError as exc:
                raise ToolInputError(str(exc)) from None
            if full is None:
                raise ToolInputError(f"no trace with id {trace_id!r}; list_traces() shows them")
            trace = Trace(full, queries.trace_spans(con, full), queries.trace_logs(con, full))
            failures = queries.failure_count(con, trace_id=full)
        return _trace_text(trace, failures, max(1, max_spans))

    # -- failures ----------------------------------------------------------------------------
    def list_failures(
        self,
        limit: int = 20,
        agent: str | None = None,
        trace_id: str | None = None,
        since: str | None = None,
    ) -> str:
        """Recent failures, newest first, each with its failure_id, agent, step, error type,
        the sentence that explains it, and its diagnosis once there is one. Filters: agent,
        trace_id, since (a duration like 30m, 2h, 1d, or an ISO time)."""
        with self.reader.connection() as con:
            table = queries.recent_failures(
                con,
                limit=max(1, min(limit, 200)),
                agent=agent,
                trace_id=trace_id,
                since=_since(since),
            )
            table = _step_names(con, table)
        if table.num_rows == 0:
            return "no failures match"
        return (
            f"{count(table.num_rows, 'failure')}, newest first (get_failure(failure_id) for "
            "details)\n" + table_text(table)
        )

    def get_failure(self, failure_id: str) -> str:
        """One failure in detail: its sentence, fingerprint, latest diagnosis (root cause,
        category, remediation steps) and the other occurrences of the same fingerprint."""
        with self.reader.connection() as con:
            row = queries.failure(con, failure_id)
            if row is None:
                raise ToolInputError(
                    f"no failure with id {failure_id!r}; list_failures() shows their ids"
                )
            fp = row.get("fingerprint") or _fingerprint_of(con, row)
            diag = queries.latest_diagnosis(con, fp) if fp else None
            similar = queries.fingerprint_occurrences(con, fp, limit=10) if fp else None
        lines = [
            f"failure {row['failure_id']} ({row['source']}) in trace {row['trace_id']}",
            f"time: {cell(row['time'])}",
            "where: "
            + " · ".join(
                f"{k} {row[k]}" for k in ("agent_name", "name", "error_type") if row.get(k)
            ),
            f"sentence: {clip(row['message'] or row.get('status_message') or '', 600)}",
        ]
        if row.get("impact_count"):
            ended = f", up to {row['ended_in']}" if row.get("ended_in") else ""
            lines.append(f"impact: {count(row['impact_count'], 'span')} failed with it{ended}")
        if fp is None:
            lines.append("fingerprint: none (this failure is not one diagnose() recognises)")
            return "\n".join(lines)
        lines.append(f"fingerprint: {fp}")
        if diag is None:
            lines.append(f"diagnosis: none yet; diagnose_failure('{fp}') makes one")
        else:
            lines += _diagnosis_lines(diag)
        if similar is not None and similar.num_rows:
            lines.append("occurrences of this fingerprint (newest first):")
            lines.append(table_text(similar, max_chars=MAX_CHARS // 3))
        return "\n".join(lines)

    def diagnose_failure(self, fingerprint: str) -> str:
        """Diagnose the failures that share a fingerprint (from get_failure): root cause,
        category and remediation steps. The diagnosis is stored (cached: a second call for
        the same fingerprint reuses it)."""
        result = diagnose.run(self.reader.db, fingerprint=fingerprint, provider=self.provider)
        if not result:
            raise ToolInputError(
                f"no failure has the fingerprint {fingerprint!r}; get_failure(failure_id) "
                "shows a failure's fingerprint"
            )
        d = result[0]
        lines = _diagnosis_lines(d.model_dump(mode="json"))
        if d.cached:
            lines.append("(a stored diagnosis: this fingerprint was diagnosed before)")
        if not result.stored:
            lines.append(f"note: {result.not_stored_reason}")
        return "\n".join(lines)

    # -- tasks waiting for a human (only with --tasks) -----------------------------------------
    def list_waiting_tasks(self, limit: int = 20) -> str:
        """Tasks waiting for a human answer (input_required), longest waiting first: task_id,
        agent, task name, the question, how long it has waited, and whether an answer was
        already given."""
        with self.reader.connection() as con:
            table = queries.waiting_tasks(con, limit=max(1, min(limit, 200)))
        if table.num_rows == 0:
            return "no task is waiting for a human"
        rows = [
            [
                r["task_id"],
                r["agent_name"],
                r["name"],
                r["question"],
                duration(r["waited_ms"]),
                f"answered by {r['answered_by']}" if r["answered_by"] else "",
                r["trace_id"],
            ]
            for r in table.to_pylist()
        ]
        head = f"{count(len(rows), 'task')} waiting (answer_task(task_id, answer) answers one)"
        cols = ["task_id", "agent", "task", "question", "waited", "answer", "trace_id"]
        return f"{head}\n{rows_text(cols, rows)}"

    def answer_task(
        self, task_id: str, answer: str | None = None, decision: str | None = None
    ) -> str:
        """Answer a task waiting for a human: free text, and/or decision "approve" or
        "reject". The waiting agent takes the answer and continues; a task that is not
        waiting, or already answered, refuses it (the error says why)."""
        if decision is not None and decision not in ("approve", "reject"):
            raise ToolInputError("decision is approve or reject (or leave it out)")
        if not answer and decision is None:
            raise ToolInputError("give an answer, a decision (approve or reject), or both")
        try:
            given = answer_task(
                task_id, answer or None, decision=decision, by=self.answer_as, db=self.reader.db
            )
        except AnswerRefused as exc:
            raise ToolInputError(f"answer refused: {exc}") from None
        return (
            f"answer {given['answer_id']} recorded for task {task_id} "
            f"({given.get('task_name')}, agent {given.get('agent_name')}); "
            "its agent takes it at its next poll"
        )

    def cancel_task(self, task_id: str, reason: str | None = None) -> str:
        """Cancel a task waiting for a human (it ends cancelled)."""
        try:
            cancel_task(task_id, by=self.answer_as, reason=reason, db=self.reader.db)
        except AnswerRefused as exc:
            raise ToolInputError(f"cancel refused: {exc}") from None
        return f"cancel recorded for task {task_id}; its agent ends it at its next poll"


def _step_names(con: Any, table: pa.Table) -> pa.Table:
    """``table`` (from ``recent_failures``) with ``name`` the step each failure happened in,
    as the dashboard names it: a failure from a log sentence has its template there, so it
    takes the name of the span it was written in (``a step`` when it has none)."""
    if table.num_rows == 0:
        return table
    keys = list(zip(table["trace_id"].to_pylist(), table["failure_id"].to_pylist(), strict=True))
    spans = queries.span_names(con, keys)  # a span's failure_id is its span_id
    logs = {t for t, f in keys if (t, f) not in spans}
    span_of = {
        (t, log["log_id"]): log["span_id"]
        for t in sorted(logs)
        for log in queries.trace_logs(con, t).select(["log_id", "span_id"]).to_pylist()
    }
    steps = queries.span_names(con, [(t, s) for (t, _), s in span_of.items()])
    names = [
        spans.get((t, f)) or steps.get((t, span_of.get((t, f)) or "")) or "a step" for t, f in keys
    ]
    return table.set_column(table.schema.get_field_index("name"), "name", pa.array(names))


def _fingerprint_of(con: Any, row: dict[str, Any]) -> str | None:
    """The fingerprint diagnose() gives this failure, computed (not stored) when it has none."""
    for f in extract_failures(con, trace_id=row["trace_id"]):
        if (row["source"] == "log" and f.log_id == row["log_id"]) or (
            row["source"] == "span" and f.log_id is None and f.span_id == row["span_id"]
        ):
            return f.fingerprint
    return None


def _diagnosis_lines(d: dict[str, Any]) -> list[str]:
    """A stored (or fresh) diagnosis as a few lines: category, root cause, remediations."""
    made = f"{d.get('provider')}" + (f"/{d['model']}" if d.get("model") else "")
    lines = [
        f"diagnosis ({made}, {cell(d.get('created_at'))}, status {d.get('status')}): "
        f"category {d.get('category')}",
        f"  summary: {clip(d.get('summary') or '', 600)}",
        f"  root cause: {clip(d.get('root_cause') or '', 800)}",
    ]
    if d.get("occurrences"):
        lines.append(f"  seen {d['occurrences']} times in {d.get('trace_count') or 1} traces")
    for i, r in enumerate(d.get("remediations") or [], 1):
        params = json.dumps(r.get("parameters") or {}, separators=(",", ":"))
        lines.append(
            f"  remediation {i}: {r.get('action')} {params} (confidence "
            f"{r.get('confidence')}): {clip(r.get('rationale') or '', 300)}"
        )
    if d.get("error"):
        lines.append(f"  error: {clip(d['error'], 300)}")
    return lines


def _trace_text(trace: Trace, failures: int, max_spans: int) -> str:
    """``failures``: the trace's failures as the failures view counts them (where they
    started), beside its ERROR spans (a failure's impact errors too)."""
    spans = trace.spans.to_pylist()
    errors = sum(1 for s in spans if s["status_code"] == "ERROR")
    agents = sorted({s["agent_name"] for s in spans if s.get("agent_name")})
    start, end = (
        (min(s["start_time_ns"] for s in spans), max(s["end_time_ns"] for s in spans))
        if spans
        else (0, 0)
    )
    head = (
        f"trace {trace.trace_id}: {count(len(spans), 'span')}, {count(failures, 'failure')} "
        f"({count(errors, 'ERROR span')}), "
        f"{duration((end - start) / 1e6)}"
        + (f", agents {', '.join(agents)}" if agents else "")
        + "\n(line: name [agent] duration (span_id); ✗ marks a failed span, > a log sentence)"
    )
    logs_by_span: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    ids = {s["span_id"] for s in spans}
    # a failure's sentence and the ERROR log adding its impact: one ✗ line
    for log in fold_failure_logs(spans, trace.logs.to_pylist()):
        logs_by_span[log["span_id"] if log["span_id"] in ids else None].append(log)
    folded = {s["span_id"]: s for s in spans}
    lines = [head]
    used = len(head)
    shown = 0
    for depth, node in trace.walk():
        if shown >= max_spans or used > MAX_CHARS:
            break
        shown += 1
        r = folded.get(node.row["span_id"], node.row)
        pad = "  " * depth
        entry = [_span_line(pad, r)]
        for log in logs_by_span.get(r["span_id"], []):
            entry.append(f"{pad}  > {log['severity']}: {clip(log['message'] or '', 300)}")
        lines += entry
        used += sum(len(e) + 1 for e in entry)
    if shown < len(spans):
        lines.append(
            f"… {len(spans) - shown} more spans not shown (raise max_spans, or query_sql "
            f"on spans where trace_id = '{trace.trace_id}')"
        )
    for log in logs_by_span.get(None, [])[:20]:
        lines.append(f"> {log['severity']}: {clip(log['message'] or '', 300)} (no span)")
    return "\n".join(lines)


def _span_line(pad: str, r: dict[str, Any]) -> str:
    error = r["status_code"] == "ERROR"
    parts = [f"{pad}{'✗ ' if error else ''}{r['name']}"]
    if r.get("agent_name"):
        parts.append(f"[{r['agent_name']}]")
    parts.append(duration(r["duration_ms"]))
    if r.get("input_tokens") is not None:
        parts.append(f"tokens {r['input_tokens']}/{r.get('output_tokens') or 0}")
    parts.append(f"({r['span_id']})")
    line = " ".join(parts)
    if error:
        line += f" ERROR: {clip(r.get('status_message') or r.get('error_type') or 'error', 300)}"
    return line
