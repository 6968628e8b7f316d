"""Fixtures: one database written by the real tracer for every dashboard test (see
``scenario``), and one headless Chromium for the browser tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import semtrace
from tests.dashboard import scenario as scenario_mod

CHROMIUM = "/usr/bin/chromium"


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


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (skips when it is not installed)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield b
        finally:
            b.close()
