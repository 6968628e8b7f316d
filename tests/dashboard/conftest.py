"""Fixtures: one database per module written by the real tracer (see ``scenario``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import semtrace
from tests.dashboard import scenario as scenario_mod


@pytest.fixture(scope="package")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> scenario_mod.Scenario:
    """The multi-agent scenario written once for every dashboard test."""
    return scenario_mod.build(tmp_path_factory.mktemp("dash") / "semtrace.duckdb")


@pytest.fixture
def qcon(scenario: scenario_mod.Scenario) -> Iterator[object]:
    """A read-only query connection to the scenario's database."""
    con = semtrace.connect(scenario.db)
    try:
        yield con
    finally:
        con.close()


@pytest.fixture
def empty_db(tmp_path: Path) -> Path:
    """A semtrace database with the schema and no data."""
    from semtrace.store.database import Store

    path = tmp_path / "empty.duckdb"
    Store(path).close()
    return path
