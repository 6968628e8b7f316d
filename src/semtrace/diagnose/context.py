"""Context packs: what a provider is told about one failure fingerprint.

A pack holds the failing span, its ancestors and siblings (timings, statuses), the log
sentences around it, its attributes and exception, the upstream message or task that led to
it, and a few similar occurrences. It is redacted and cut to a token budget *before* any
provider sees it, and ``semtrace diagnose --show-context`` prints exactly this.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import duckdb

from semtrace.diagnose._redact import redact_value
from semtrace.diagnose.extract import Failure
from semtrace.store.queries import arrow

__all__ = [
    "DEFAULT_TOKEN_BUDGET",
    "build_context",
    "context_from_exception",
    "estimate_tokens",
    "fit_budget",
]

DEFAULT_TOKEN_BUDGET = 3000
MAX_SIMILAR = 5
MAX_LOGS = 20
MAX_SIBLINGS = 20
MAX_ANCESTORS = 10


def estimate_tokens(value: Any) -> int:
    """A rough token count (4 characters a token) of a value's JSON form."""
    return len(json.dumps(value, default=str)) // 4 + 1


def _failure_dict(f: Failure) -> dict[str, Any]:
    return {
        k: v
        for k, v in {
            "kind": f.kind,
            "fingerprint": f.fingerprint,
            "time": f.time.isoformat() if isinstance(f.time, datetime) else None,
            "trace_id": f.trace_id,
            "span_id": f.span_id,
            "log_id": f.log_id,
            "task_id": f.task_id,
            "agent": f.agent,
            "target": f.target,
            "operation": f.operation,
            "error_type": f.error_type,
            "message": f.message,
            "duration_ms": f.duration_ms,
            "details": f.details or None,
        }.items()
        if v is not None
    }


def _span_row(con: duckdb.DuckDBPyConnection, trace_id: str, span_id: str) -> dict[str, Any] | None:
    rows = arrow(
        con,
        """SELECT span_id, parent_span_id, name, operation, agent_name, tool_name, model,
                  status_code, status_message, duration_ms, start_time_ns, task_id, attributes
           FROM spans WHERE trace_id = ? AND span_id = ? LIMIT 1""",
        [trace_id, span_id],
    ).to_pylist()
    return rows[0] if rows else None


def _brief(row: dict[str, Any], origin_ns: int | None = None) -> dict[str, Any]:
    out = {
        "span_id": row["span_id"],
        "name": row["name"],
        "agent": row.get("agent_name"),
        "status": row["status_code"],
        "duration_ms": round(float(row["duration_ms"]), 1),
    }
    if origin_ns is not None and row.get("start_time_ns") is not None:
        out["start_offset_ms"] = round((row["start_time_ns"] - origin_ns) / 1e6, 1)
    if row.get("status_message") and row["status_code"] == "ERROR":
        out["status_message"] = row["status_message"]
    return {k: v for k, v in out.items() if v is not None}


def _attributes(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return dict(raw) if isinstance(raw, dict) else {}


def _span_parts(con: duckdb.DuckDBPyConnection, f: Failure, pack: dict[str, Any]) -> None:
    if not f.trace_id or not f.span_id:
        return
    row = _span_row(con, f.trace_id, f.span_id)
    if row is None:
        return
    pack["span"] = {
        "name": row["name"],
        "operation": row["operation"],
        "agent": row["agent_name"],
        "tool": row["tool_name"],
        "model": row["model"],
        "status": row["status_code"],
        "status_message": row["status_message"],
        "duration_ms": row["duration_ms"],
        "attributes": _attributes(row["attributes"]),
    }
    ancestors: list[dict[str, Any]] = []
    parent = row["parent_span_id"]
    root_ns = row["start_time_ns"]
    while parent and len(ancestors) < MAX_ANCESTORS:
        prow = _span_row(con, f.trace_id, parent)
        if prow is None:
            break
        ancestors.append(prow)
        root_ns = prow["start_time_ns"]
        parent = prow["parent_span_id"]
    pack["ancestors"] = [_brief(a, root_ns) for a in reversed(ancestors)]
    if row["parent_span_id"]:
        sibs = arrow(
            con,
            """SELECT span_id, name, agent_name, status_code, status_message, duration_ms,
                      start_time_ns
               FROM spans WHERE trace_id = ? AND parent_span_id = ? AND span_id <> ?
               ORDER BY start_time_ns LIMIT ?""",
            [f.trace_id, row["parent_span_id"], f.span_id, MAX_SIBLINGS],
        ).to_pylist()
        pack["siblings"] = [_brief(s, root_ns) for s in sibs]
    exc = arrow(
        con,
        """SELECT exception_type, exception_message, exception_stacktrace FROM span_events
           WHERE trace_id = ? AND span_id = ? AND name = 'exception'
           ORDER BY time_ns DESC LIMIT 1""",
        [f.trace_id, f.span_id],
    ).to_pylist()
    if exc:
        pack["exception"] = {
            "type": exc[0]["exception_type"],
            "message": exc[0]["exception_message"],
            "stacktrace": exc[0]["exception_stacktrace"],
        }
    ids = [f.span_id, *(a["span_id"] for a in ancestors)]
    links = arrow(
        con,
        f"""SELECT l.span_id, l.linked_trace_id, l.linked_span_id, s.name, s.agent_name
            FROM span_links l LEFT JOIN spans s
              ON s.trace_id = l.linked_trace_id AND s.span_id = l.linked_span_id
            WHERE l.trace_id = ? AND l.span_id IN ({", ".join("?" for _ in ids)})
            LIMIT 5""",
        [f.trace_id, *ids],
    ).to_pylist()
    upstream: list[dict[str, Any]] = [
        {
            "relation": "message link",
            "from_span": lk["span_id"],
            "trace_id": lk["linked_trace_id"],
            "span_id": lk["linked_span_id"],
            "name": lk["name"],
            "agent": lk["agent_name"],
        }
        for lk in links
    ]
    task_id = row["task_id"] or next((a["task_id"] for a in ancestors if a.get("task_id")), None)
    if task_id:
        upstream.append({"relation": "task", "task_id": task_id})
    if upstream:
        pack["upstream"] = upstream


def _logs(con: duckdb.DuckDBPyConnection, f: Failure, pack: dict[str, Any]) -> None:
    if not f.trace_id:
        return
    anchor = f.time
    rows = arrow(
        con,
        """SELECT log_id, time, severity, agent_name, span_id, message FROM logs
           WHERE trace_id = ?
           ORDER BY CASE WHEN ? IS NULL THEN 0
                         ELSE abs(epoch_ms(time) - epoch_ms(?::TIMESTAMPTZ)) END, time_ns
           LIMIT ?""",
        [f.trace_id, anchor, anchor, MAX_LOGS],
    ).to_pylist()
    rows.sort(key=lambda r: r["time"])
    if rows:
        pack["logs"] = [
            {
                "log_id": r["log_id"],
                "time": r["time"].isoformat(),
                "severity": r["severity"],
                "agent": r["agent_name"],
                "on_failing_span": r["span_id"] == f.span_id if f.span_id else None,
                "message": r["message"],
            }
            for r in rows
        ]


def build_context(
    con: duckdb.DuckDBPyConnection,
    failure: Failure,
    similar: Sequence[Failure] = (),
    *,
    occurrences: int = 1,
    trace_count: int = 1,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
) -> dict[str, Any]:
    """The redacted, budgeted context pack for ``failure`` (the fingerprint's latest one)."""
    pack: dict[str, Any] = {
        "failure": _failure_dict(failure),
        "occurrences": occurrences,
        "trace_count": trace_count,
    }
    _span_parts(con, failure, pack)
    _logs(con, failure, pack)
    others = [s for s in similar if s is not failure][-MAX_SIMILAR:]
    if others:
        pack["similar"] = [
            {
                "trace_id": s.trace_id,
                "span_id": s.span_id,
                "log_id": s.log_id,
                "time": s.time.isoformat() if isinstance(s.time, datetime) else None,
                "message": s.message,
            }
            for s in others
        ]
    return fit_budget(redact_value(pack), token_budget)


def context_from_exception(
    exc: BaseException,
    *,
    fingerprint: str,
    agent: str | None,
    target: str,
    error_type: str,
    attempt: int,
    input_text: str | None = None,
    span_attributes: dict[str, Any] | None = None,
    operation: str | None = None,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
) -> dict[str, Any]:
    """An in-process pack for ``heal``: the exception and the step, no store round-trip.
    ``span_attributes`` are the facts the exception carries (telemetry.errors), ``operation``
    the kind of traced call it escaped from (``execute_tool``, ``chat``)."""

    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    pack: dict[str, Any] = {
        "failure": {
            "kind": "error",
            "fingerprint": fingerprint,
            "agent": agent,
            "target": target,
            "error_type": error_type,
            "message": str(exc),
            "attempt": attempt,
        },
        "exception": {"type": error_type, "message": str(exc), "stacktrace": stack},
    }
    if input_text:
        pack["failure"]["input"] = input_text
    if operation:
        pack["failure"]["operation"] = operation
    if span_attributes:
        pack["span"] = {"attributes": dict(span_attributes)}
    return fit_budget(redact_value(pack), token_budget)


def _cut(text: Any, limit: int) -> Any:
    if isinstance(text, str) and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def _cut_strings(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return _cut(value, limit)
    if isinstance(value, dict):
        return {k: _cut_strings(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v, limit) for v in value]
    return value


def _trim_list(key: str, keep: int) -> Callable[[dict[str, Any]], None]:
    def trim(pack: dict[str, Any]) -> None:
        if isinstance(pack.get(key), list) and len(pack[key]) > keep:
            pack[key] = pack[key][-keep:] if key == "ancestors" else pack[key][:keep]

    return trim


def _trim_stack(limit: int) -> Callable[[dict[str, Any]], None]:
    def trim(pack: dict[str, Any]) -> None:
        exc = pack.get("exception")
        if isinstance(exc, dict) and isinstance(exc.get("stacktrace"), str):
            st = exc["stacktrace"]
            # The end of a stack trace is where the error is: keep that.
            exc["stacktrace"] = st if len(st) <= limit else "…" + st[-limit:]

    return trim


def _trim_attributes(limit: int) -> Callable[[dict[str, Any]], None]:
    def trim(pack: dict[str, Any]) -> None:
        span = pack.get("span")
        if isinstance(span, dict) and isinstance(span.get("attributes"), dict):
            span["attributes"] = _cut_strings(span["attributes"], limit)

    return trim


def _trim_logs_around(keep: int) -> Callable[[dict[str, Any]], None]:
    def trim(pack: dict[str, Any]) -> None:
        logs = pack.get("logs")
        if isinstance(logs, list) and len(logs) > keep:
            mine = [lg for lg in logs if lg.get("on_failing_span")]
            rest = [lg for lg in logs if not lg.get("on_failing_span")]
            pack["logs"] = (mine + rest)[:keep]

    return trim


_STEPS: list[Callable[[dict[str, Any]], None]] = [
    _trim_stack(2000),
    _trim_attributes(300),
    _trim_list("similar", 3),
    _trim_logs_around(10),
    _trim_list("siblings", 8),
    _trim_stack(600),
    _trim_list("similar", 1),
    _trim_logs_around(4),
    _trim_list("siblings", 3),
    _trim_list("ancestors", 3),
    _trim_attributes(80),
    _trim_stack(200),
]


def fit_budget(pack: dict[str, Any], token_budget: int) -> dict[str, Any]:
    """Cut ``pack`` down step by step (least useful parts first) until it fits the budget."""
    pack = json.loads(json.dumps(pack, default=str))
    for step in _STEPS:
        if estimate_tokens(pack) <= token_budget:
            break
        step(pack)
    limit = 400
    while estimate_tokens(pack) > token_budget and limit >= 20:
        pack = _cut_strings(pack, limit)
        limit //= 2
    if estimate_tokens(pack) > token_budget:
        pack = {k: pack[k] for k in ("failure", "exception", "occurrences") if k in pack}
        pack = _cut_strings(pack, 60)
    pack["token_budget"] = token_budget
    return pack
