"""Shared fixtures: a fresh DuckDB file per test and semtrace configured to write to it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Internal errors in exporters/processors are swallowed in production; tests must see them.
os.environ.setdefault("SEMTRACE_RAISE_INTERNAL_ERRORS", "1")
# The suite writes in-process by default (no owner child per test); tests of the owner route
# opt in with configure(mode="owner") or SEMTRACE_MODE=owner in their subprocess's env.
os.environ.setdefault("SEMTRACE_MODE", "embedded")

import semtrace
from semtrace.tracer.setup import STATE


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a DuckDB file that does not exist yet."""
    return tmp_path / "semtrace.duckdb"


@pytest.fixture
def configured(db_path: Path) -> Iterator[Path]:
    """semtrace configured to write to ``db_path``; flushed and shut down after the test."""
    semtrace.configure(service_name="test-service", db=db_path, batch_interval_s=0.2)
    try:
        yield db_path
    finally:
        semtrace.shutdown()
        STATE.settings = None


@pytest.fixture
def con(configured: Path):  # type: ignore[no-untyped-def]
    """A function returning a fresh query connection after flushing everything queued."""

    def _connect():  # type: ignore[no-untyped-def]
        semtrace.force_flush()
        return semtrace.connect(configured)

    return _connect
