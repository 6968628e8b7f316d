"""A demo database (every table and view has rows) and helpers comparing query results."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from semtrace.store.model import SpanRecord

DAY = int(datetime(2026, 11, 27, 12, tzinfo=UTC).timestamp() * 1e9)


@pytest.fixture(scope="session")
def demo_db_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`semtrace demo` written once per session (embedded, no dashboard)."""
    path = tmp_path_factory.mktemp("lake-demo") / "demo.duckdb"
    env = {**os.environ, "SEMTRACE_MODE": "embedded"}
    subprocess.run(
        [sys.executable, "-m", "semtrace.cli", "demo", "--no-dashboard", "--db", str(path)],
        check=True,
        capture_output=True,
        env=env,
        timeout=300,
    )
    return path


@pytest.fixture
def demo_db(demo_db_master: Path, tmp_path: Path) -> Path:
    """A private copy of the demo database (a test may open it for writing)."""
    copy = tmp_path / "demo.duckdb"
    shutil.copy(demo_db_master, copy)
    key = demo_db_master.with_name(demo_db_master.name + ".redact-key")
    if key.exists():
        shutil.copy(key, copy.with_name(copy.name + ".redact-key"))
    return copy


def span(i: int, start_ns: int = DAY, service: str | None = "svc", **kw: Any) -> SpanRecord:
    """One agent span with its own trace (ids from ``i``)."""
    return SpanRecord(
        trace_id=f"{i:032x}",
        span_id=f"{i:016x}",
        parent_span_id=None,
        name=f"invoke_agent a{i % 7}",
        kind="INTERNAL",
        start_ns=start_ns + i * 1000,
        end_ns=start_ns + i * 1000 + 2_000_000,
        status_code="ERROR" if i % 11 == 0 else "OK",
        service_name=service,
        scope_name="semtrace",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": f"a{i % 7}"},
        resource={"service.name": service} if service else {},
        **kw,
    )


def _norm(value: Any, sort_lists: bool) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.9g}")
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, dict):
        return tuple(sorted((k, _norm(v, sort_lists)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        items = tuple(_norm(v, sort_lists) for v in value)
        return tuple(sorted(items, key=repr)) if sort_lists else items
    return value


def normalised(rows: list[dict[str, Any]], *, sort_lists: bool = False) -> list[tuple[Any, ...]]:
    """Rows as comparable tuples (floats to 9 digits, times in UTC), in a stable order;
    ``sort_lists`` for lists whose order a query leaves unspecified (``list(DISTINCT x)``)."""
    out = [tuple((k, _norm(v, sort_lists)) for k, v in sorted(r.items())) for r in rows]
    return sorted(out, key=repr)


def dict_rows(con: Any, sql: str) -> list[dict[str, Any]]:
    return con.sql(sql).to_arrow_table().to_pylist()


Rows = Callable[[Any, str], list[dict[str, Any]]]


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-9)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _coarse(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, tuple):
        return tuple(_coarse(v) for v in value)
    return value


def assert_same_rows(
    got: list[dict[str, Any]], expected: list[dict[str, Any]], *, sort_lists: bool = False
) -> None:
    """The same rows in any order; floats equal to 7 significant digits (two engines may sum
    or interpolate in another order)."""
    a = sorted(normalised(got, sort_lists=sort_lists), key=lambda r: repr(_coarse(r)))
    b = sorted(normalised(expected, sort_lists=sort_lists), key=lambda r: repr(_coarse(r)))
    assert len(a) == len(b), (len(a), len(b))
    for x, y in zip(a, b, strict=True):
        assert _close(x, y), f"\n{x}\n!=\n{y}"
