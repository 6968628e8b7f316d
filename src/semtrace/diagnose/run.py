"""``semtrace.diagnose.run()``: find failures, fingerprint, pack context, ask, store.

Each fingerprint is diagnosed once per provider: a later run finds the stored diagnosis and
makes no provider call (``Diagnosis.cached``). Failed provider answers are stored as failed
diagnoses (and tried again next run), never raised.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from semtrace.diagnose.context import DEFAULT_TOKEN_BUDGET, build_context
from semtrace.diagnose.extract import (
    DEFAULT_LOOP_MIN,
    DEFAULT_SLOW_MS,
    DEFAULT_SLOW_SHARE,
    DEFAULT_STUCK_S,
    Failure,
    extract_failures,
)
from semtrace.diagnose.models import Category, Diagnosis, Evidence, Remediation
from semtrace.diagnose.providers import Budget, Provider, ProviderError, get_provider
from semtrace.exceptions import DatabaseLockedError
from semtrace.store import schema
from semtrace.store.database import Store, get_open_store, open_store, resolve_path
from semtrace.store.queries import arrow

__all__ = [
    "DIAGNOSIS_SCHEMA",
    "FINGERPRINT_SCHEMA",
    "Diagnoses",
    "ProgressCallback",
    "RowSink",
    "cached_diagnosis",
    "diagnose_failures",
    "run",
]

_log = logging.getLogger("semtrace.diagnose")

# Called after each fingerprint: (done, total, diagnosis).
ProgressCallback = Callable[[int, int, Diagnosis], None]


class RowSink(Protocol):
    """Where diagnoses and occurrences are appended: a :class:`Store`, or a collector."""

    def append_arrow(self, table_name: str, table: pa.Table) -> None: ...


class Diagnoses(list[Diagnosis]):
    """What :func:`run` returns: the diagnoses, and whether they were stored in the file.

    ``stored`` is ``False`` when another process (a ``semtrace serve`` collector, say) owns
    the database; ``not_stored_reason`` then says why and what to do.
    """

    stored: bool = True
    not_stored_reason: str | None = None


def _load_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def cached_diagnosis(
    con: duckdb.DuckDBPyConnection, fingerprint: str, provider: str
) -> Diagnosis | None:
    """The latest good diagnosis of ``fingerprint`` by ``provider``, if one is stored."""
    rows = arrow(
        con,
        f"""SELECT * FROM {schema.DIAGNOSES}
            WHERE fingerprint = ? AND status = 'ok' AND provider = ?
            ORDER BY created_at DESC LIMIT 1""",
        [fingerprint, provider],
    ).to_pylist()
    if not rows:
        return None
    r = rows[0]
    return Diagnosis(
        fingerprint=r["fingerprint"],
        status="ok",
        summary=r["summary"] or "",
        root_cause=r["root_cause"] or "",
        category=Category(r["category"] or "unknown"),
        evidence=[Evidence.model_validate(e) for e in _load_json(r["evidence"]) or []],
        remediations=[Remediation.model_validate(x) for x in _load_json(r["remediations"]) or []],
        occurrences=r["occurrences"] or 1,
        trace_count=r["trace_count"] or 1,
        provider=r["provider"],
        model=r["model"],
        input_tokens=r["input_tokens"] or 0,
        output_tokens=r["output_tokens"] or 0,
        cost_usd=r["cost_usd"] or 0.0,
        latency_ms=r["latency_ms"] or 0.0,
        created_at=r["created_at"],
        context=_load_json(r["context"]),
        cached=True,
    )


def _diagnosis_row(d: Diagnosis) -> dict[str, Any]:
    return {
        "fingerprint": d.fingerprint,
        "created_at": d.created_at,
        "status": d.status,
        "summary": d.summary,
        "root_cause": d.root_cause,
        "category": d.category.value,
        "evidence": json.dumps([e.model_dump(mode="json") for e in d.evidence]),
        "remediations": json.dumps([r.model_dump(mode="json") for r in d.remediations]),
        "occurrences": d.occurrences,
        "trace_count": d.trace_count,
        "provider": d.provider,
        "model": d.model,
        "input_tokens": d.input_tokens,
        "output_tokens": d.output_tokens,
        "cost_usd": d.cost_usd,
        "latency_ms": d.latency_ms,
        "error": d.error,
        "context": json.dumps(d.context, default=str) if d.context is not None else None,
    }


DIAGNOSIS_SCHEMA = schema.DIAGNOSES_TABLE.arrow
FINGERPRINT_SCHEMA = schema.FINGERPRINTS_TABLE.arrow


def _occurrence_key(f: Failure) -> tuple[str | None, str | None, str | None]:
    return (f.trace_id, f.span_id if f.log_id is None else None, f.log_id)


def _record_occurrences(
    store: RowSink | None, con: duckdb.DuckDBPyConnection, fp: str, group: Sequence[Failure]
) -> tuple[int, int]:
    """Store new occurrences of ``fp``; return its (occurrences, traces) over all runs."""
    existing = {
        (r[0], r[1], r[2])
        for r in con.execute(
            f"SELECT trace_id, span_id, log_id FROM {schema.FAILURE_FINGERPRINTS} "
            "WHERE fingerprint = ?",
            [fp],
        ).fetchall()
    }
    fresh: dict[tuple[str | None, str | None, str | None], Failure] = {}
    for f in group:
        key = _occurrence_key(f)
        if key not in existing:
            fresh.setdefault(key, f)
    if store is not None and fresh:
        rows = [
            {
                "fingerprint": fp,
                "trace_id": key[0],
                "span_id": key[1],
                "log_id": key[2],
                "failure_kind": f.kind,
                "time": f.time,
            }
            for key, f in fresh.items()
        ]
        store.append_arrow(
            schema.FAILURE_FINGERPRINTS, pa.Table.from_pylist(rows, schema=FINGERPRINT_SCHEMA)
        )
    keys = existing | set(fresh)
    return len(keys), len({k[0] for k in keys if k[0] is not None}) or 1


def diagnose_failures(
    con: duckdb.DuckDBPyConnection,
    failures: Sequence[Failure],
    provider: Provider,
    *,
    store: RowSink | None = None,
    limit: int | None = None,
    show_context: bool = False,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    on_progress: ProgressCallback | None = None,
) -> list[Diagnosis]:
    """Diagnose ``failures`` grouped by fingerprint (most recent first), storing the results."""
    groups: dict[str, list[Failure]] = {}
    for f in failures:
        groups.setdefault(f.fingerprint, []).append(f)
    floor = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(groups.items(), key=lambda kv: kv[1][-1].time or floor, reverse=True)
    if limit is not None:
        ordered = ordered[: max(limit, 0)]
    out: list[Diagnosis] = []
    for i, (fp, group) in enumerate(ordered, 1):
        occurrences, traces = _record_occurrences(store, con, fp, group)
        latest = group[-1]
        cached = cached_diagnosis(con, fp, provider.name)
        if cached is not None:
            cached.occurrences, cached.trace_count = occurrences, traces
            if not show_context:
                cached.context = None
            diagnosis = cached
        else:
            pack = build_context(
                con,
                latest,
                group,
                occurrences=occurrences,
                trace_count=traces,
                token_budget=token_budget,
            )
            diagnosis = _ask(provider, fp, pack, occurrences, traces)
            if store is not None:
                store.append_arrow(
                    schema.DIAGNOSES,
                    pa.Table.from_pylist([_diagnosis_row(diagnosis)], schema=DIAGNOSIS_SCHEMA),
                )
            if not show_context:
                diagnosis.context = None
        out.append(diagnosis)
        if on_progress is not None:
            on_progress(i, len(ordered), diagnosis)
    return out


def _ask(
    provider: Provider, fp: str, pack: dict[str, Any], occurrences: int, traces: int
) -> Diagnosis:
    started = time.perf_counter()
    common: dict[str, Any] = {
        "fingerprint": fp,
        "occurrences": occurrences,
        "trace_count": traces,
        "provider": provider.name,
        "model": provider.model,
        "context": pack,
    }
    try:
        result = provider.diagnose(pack)
    except ProviderError as exc:
        failure = pack.get("failure") or {}
        return Diagnosis(
            status="failed",
            summary=f"Could not diagnose: {exc}"[:1000],
            root_cause="",
            error=str(exc),
            input_tokens=exc.input_tokens,
            output_tokens=exc.output_tokens,
            latency_ms=(time.perf_counter() - started) * 1000,
            evidence=[
                Evidence(
                    kind="span",
                    id=failure["span_id"],
                    trace_id=failure.get("trace_id"),
                    why="the failing span",
                )
            ]
            if failure.get("span_id")
            else [],
            **common,
        )
    common["model"] = result.model or provider.model
    return Diagnosis.from_draft(
        result.draft,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        cost_usd=result.cost_usd,
        latency_ms=(time.perf_counter() - started) * 1000,
        **common,
    )


def _not_stored_reason(path: str) -> str:
    try:
        from semtrace.store.ownership import read_announcement

        ann = read_announcement(path)
    except Exception:  # an unreadable announcement only makes the message vaguer
        ann = None
    if ann is not None:
        return (
            f"diagnoses were NOT stored: the collector at {ann.url} (pid {ann.pid}) owns {path} "
            "and offers no endpoint to store them; stop `semtrace serve` and run again to "
            "store them (the diagnoses above are still correct)"
        )
    return (
        f"diagnoses were NOT stored: another process holds {path} open for writing; run "
        "again once it has exited to store them"
    )


class _CollectorSink:
    """Rows for a collector-owned file, sent to its ``/v1/records``; after the first refusal
    nothing more is sent and ``reason`` says why the diagnoses were not stored."""

    def __init__(self, url: str, path: str) -> None:
        from semtrace.collector.client import RecordsClient

        self.url = url
        self.path = path
        self.client = RecordsClient(url)
        self.reason: str | None = None

    def append_arrow(self, table_name: str, table: pa.Table) -> None:
        from semtrace.collector.client import RecordsUnavailable

        if self.reason is not None:
            return
        try:
            self.client.append_arrow(table_name, table)
        except RecordsUnavailable as exc:
            self.reason = (
                f"diagnoses were NOT stored: the collector at {self.url} owns {self.path} and "
                f"did not take them ({exc}); stop `semtrace serve` and run again to store them "
                "(the diagnoses shown are still correct)"
            )
            _log.warning("semtrace diagnose: %s", self.reason)


def _collector_sink(path: str) -> _CollectorSink | None:
    try:
        from semtrace.store.ownership import read_announcement

        ann = read_announcement(path)
    except Exception:  # no collector package, or an unreadable announcement
        return None
    return _CollectorSink(ann.url, path) if ann is not None else None


def _open(path: str) -> tuple[RowSink | None, duckdb.DuckDBPyConnection, bool, str | None]:
    """(where rows go or None, connection, whether we opened a writer and must close it, and
    why nothing can be stored when rows have nowhere to go)."""
    store = get_open_store(path)
    if store is not None:
        return store, store.cursor(), False, None
    if not os.path.exists(path):
        from semtrace.store.database import missing_database_message

        raise FileNotFoundError(missing_database_message(path))
    try:
        store = open_store(path)
    except DatabaseLockedError:
        from semtrace._connect import connect

        sink = _collector_sink(path)
        if sink is not None:  # a collector owns the file: rows go through it
            return sink, connect(path), False, None
        reason = _not_stored_reason(path)
        _log.warning("semtrace diagnose: %s", reason)
        return None, connect(path), False, reason
    return store, store.cursor(), True, None


def run(
    db: str | os.PathLike[str] | None = None,
    since: str | datetime | timedelta | None = None,
    trace_id: str | None = None,
    provider: str | Provider = "rules",
    limit: int | None = None,
    show_context: bool = False,
    *,
    slow_ms: float = DEFAULT_SLOW_MS,
    slow_share: float = DEFAULT_SLOW_SHARE,
    stuck_s: float = DEFAULT_STUCK_S,
    loop_min: int = DEFAULT_LOOP_MIN,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    budget: Budget | None = None,
    on_progress: ProgressCallback | None = None,
    fingerprint: str | None = None,
    **provider_options: Any,
) -> Diagnoses:
    """Diagnose the failures in ``db`` and store the diagnoses; returns them, newest first.

    ``since`` is a duration ("1h", "30m") or a time; ``trace_id`` a trace id or a unique
    prefix; ``provider`` is ``"rules"`` (offline), ``"openai"``, ``"anthropic"`` or a provider
    object; ``limit`` caps how many fingerprints are diagnosed. A step is "slow" when it is
    its trace's single point of timeout: its own time (human waits not counted) is at least
    ``slow_share`` of the trace's and at least ``slow_ms``. ``provider_options`` (model,
    base_url, api_key, timeout_s, max_retries) go to the provider.
    ``fingerprint`` diagnoses only the failures with that fingerprint. When another process
    (a ``semtrace serve`` collector) owns the file, the diagnoses are computed but not stored:
    the result's ``stored`` is ``False`` and ``not_stored_reason`` says why.
    """
    from semtrace._connect import default_db
    from semtrace.tracer.setup import STATE, force_flush

    path = resolve_path(db) if db is not None else default_db()
    if STATE.settings is not None and STATE.settings.db == path:
        force_flush()
    chosen = get_provider(provider, budget=budget or Budget(), **provider_options)
    store, con, opened, not_stored = _open(path)
    try:
        if trace_id is not None:
            from semtrace.store.queries import resolve_trace_id

            trace_id = resolve_trace_id(con, trace_id) or trace_id
        failures = extract_failures(
            con,
            since=since,
            trace_id=trace_id,
            slow_ms=slow_ms,
            slow_share=slow_share,
            stuck_s=stuck_s,
            loop_min=loop_min,
        )
        if fingerprint is not None:
            failures = [f for f in failures if f.fingerprint == fingerprint]
        result = Diagnoses(
            diagnose_failures(
                con,
                failures,
                chosen,
                store=store,
                limit=limit,
                show_context=show_context,
                token_budget=token_budget,
                on_progress=on_progress,
            )
        )
        if isinstance(store, _CollectorSink) and store.reason is not None:
            not_stored = store.reason
        if not_stored is not None:
            result.stored, result.not_stored_reason = False, not_stored
        return result
    finally:
        con.close()
        if opened and isinstance(store, Store):
            store.close()
