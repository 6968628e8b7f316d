"""Health checks behind ``semtrace doctor``: is the database usable, who owns it, is anything
spooled or dropped, and what to do about each problem."""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson

from semtrace.collector.client import CollectorConnection
from semtrace.exceptions import DatabaseLockedError, NotADatabaseError
from semtrace.store import schema
from semtrace.store.database import (
    check_database_file,
    connect_readonly,
    get_open_store,
    resolve_path,
)
from semtrace.store.ownership import Announcement, owner_log_path, read_announcement
from semtrace.store.spool import Spool, spool_dir_for

__all__ = ["Check", "owner_health", "owner_status", "run_checks"]


@dataclass(frozen=True)
class Check:
    """One finding: ``status`` is ok, warn or fail; ``fix`` says what to do when not ok."""

    name: str
    status: str
    detail: str
    fix: str = ""


def owner_health(ann: Announcement) -> dict[str, Any] | None:
    """The owner's ``/health`` document, or None when it does not answer."""
    headers = {"Authorization": f"Bearer {ann.token}"} if ann.token else {}
    request = urllib.request.Request(f"{ann.url}/health", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            doc = orjson.loads(response.read())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def owner_status(db: str | os.PathLike[str]) -> list[tuple[str, str]] | None:
    """Who owns ``db`` and how it is doing, as (label, value) lines; None when no owner."""
    path = resolve_path(db)
    ann = read_announcement(path)
    if ann is None:
        return None
    port = ann.url.rsplit(":", 1)[-1]
    lines = [
        ("owner", f"{ann.url} ({'started on demand' if ann.on_demand else 'started by hand'})"),
        ("database", path),
        ("pid", str(ann.pid)),
        ("port", port),
    ]
    health = owner_health(ann)
    if health is None:
        lines.append(("health", "not answering"))
        return lines
    uptime = float(health.get("uptime_s", 0.0))
    idle = health.get("idle_timeout_s")
    lines += [
        ("uptime", f"{uptime:.0f} s"),
        (
            "writers",
            # This request's own connection is not a client of the owner.
            f"{health.get('writers', 0)} connected "
            f"({max(0, int(health.get('connections', 1)) - 1)} client connections)",
        ),
        (
            "queue",
            f"{health.get('pending', 0)} records ({health.get('pending_bytes', 0)} bytes) "
            "waiting for a commit",
        ),
        (
            "committed",
            f"{health.get('spans_committed', 0)} spans, "
            f"{health.get('logs_committed', 0)} logs in {health.get('commits', 0)} commits",
        ),
        ("idle exit", f"after {idle:g} s idle" if idle else "never (started by hand)"),
        ("log", str(owner_log_path(path)) if ann.on_demand else "its terminal"),
    ]
    return lines


def _owner_check(path: str) -> Check:
    lines = owner_status(path)
    if lines is None:
        return Check(
            "owner",
            "ok",
            "no process owns this file now (the next agent, `semtrace sql` or dashboard in "
            "owner mode starts one)",
        )
    detail = "; ".join(f"{name} {value}" for name, value in lines)
    if ("health", "not answering") in lines:
        return Check(
            "owner",
            "warn",
            detail,
            f"its process runs but does not answer: `semtrace serve --stop {path}`",
        )
    return Check("owner", "ok", detail)


def _stats_checks(con: duckdb.DuckDBPyConnection) -> list[Check]:
    rows = con.execute(
        f"""SELECT pid, component, max(time) AS time, max(spans_written), max(logs_written),
                   max(spans_dropped), max(logs_dropped), max(spooled), max(export_errors),
                   arg_max(export_latency_ms, time)
            FROM {schema.SEMTRACE_STATS} GROUP BY pid, component ORDER BY time DESC LIMIT 5"""
    ).fetchall()
    if not rows:
        return [
            Check(
                "telemetry health",
                "ok",
                "no semtrace_stats rows yet (written every 10 s "
                "and at exit by each writing process)",
            )
        ]
    checks = []
    for pid, component, when, sw, lw, sd, ld, spooled, errors, latency in rows:
        detail = (
            f"pid {pid} ({component}) at {when:%Y-%m-%d %H:%M:%S}: {sw} spans and {lw} logs "
            f"written, {sd} spans and {ld} logs dropped, {spooled} spooled, {errors} write "
            f"errors, last batch {latency or 0:.1f} ms"
        )
        if sd or ld:
            checks.append(
                Check(
                    "telemetry health",
                    "warn",
                    detail,
                    "spans were dropped because the queue was full: the agent makes "
                    "spans faster than the file takes them; send to `semtrace serve` "
                    "or sample (OTEL_TRACES_SAMPLER)",
                )
            )
        elif errors:
            checks.append(
                Check(
                    "telemetry health",
                    "warn",
                    detail,
                    "writes failed and were spooled; see the spool check",
                )
            )
        else:
            checks.append(Check("telemetry health", "ok", detail))
    return checks


def run_checks(db: str | os.PathLike[str]) -> list[Check]:
    """Every check for one database file, in the order a user would fix them."""
    path = resolve_path(db)
    checks: list[Check] = []
    p = Path(path)
    if not p.exists():
        return [
            Check(
                "database",
                "fail",
                f"{path} does not exist",
                "point --db at an existing file, write one with semtrace.configure(db=...), "
                "or try demo data: `semtrace demo` writes semtrace-demo.duckdb",
            )
        ]
    try:
        check_database_file(path)  # a DuckDB file starts with its magic bytes
    except NotADatabaseError as exc:
        return [Check("database", "fail", str(exc), "point --db at a file semtrace wrote")]
    checks.append(Check("database", "ok", f"{path} ({p.stat().st_size / 1e6:.1f} MB)"))
    checks.append(_owner_check(path))
    spool = Spool(spool_dir_for(path))
    pending = spool.pending_batches()
    if pending:
        checks.append(
            Check(
                "spool",
                "warn",
                f"{pending} batches ({spool.pending_bytes() / 1e6:.1f} MB) waiting in "
                f"{spool.directory}",
                "they are replayed by the next process that writes this file; "
                "`semtrace doctor --replay` does it now",
            )
        )
    else:
        checks.append(Check("spool", "ok", "nothing waiting"))
    ann = read_announcement(path)
    try:
        con: Any = (
            CollectorConnection(ann.url, token=ann.token)
            if ann is not None
            else connect_readonly(path)
        )
    except DatabaseLockedError as exc:
        checks.append(
            Check(
                "access",
                "warn",
                str(exc).split(". ")[0],
                "that process writes the file in embedded mode; in owner mode (the default) "
                "agents and readers share it through one owner",
            )
        )
        return checks
    except NotADatabaseError as exc:
        checks.append(Check("access", "fail", str(exc), "point --db at a file semtrace wrote"))
        return checks
    try:
        version = (
            schema.schema_version(con)
            if get_open_store(path) is None and ann is None
            else schema.SCHEMA_VERSION
        )
        if version < schema.SCHEMA_VERSION:
            checks.append(
                Check(
                    "schema",
                    "warn",
                    f"schema version {version}, current {schema.SCHEMA_VERSION}",
                    "open it once for writing (any semtrace "
                    "process) to migrate; queries already use today's views",
                )
            )
        else:
            checks.append(Check("schema", "ok", f"schema version {version}"))
        counts = con.execute(
            "SELECT (SELECT count(*) FROM spans), (SELECT count(*) FROM logs), "
            "(SELECT count(DISTINCT trace_id) FROM spans)"
        ).fetchone()
        assert counts is not None
        checks.append(
            Check(
                "contents", "ok", f"{counts[0]:,} spans in {counts[2]:,} traces, {counts[1]:,} logs"
            )
        )
        checks.extend(_stats_checks(con))
    finally:
        con.close()
    return checks
