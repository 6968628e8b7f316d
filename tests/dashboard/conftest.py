"""Fixtures: one database written by the real tracer for every dashboard test (see
``scenario``), and one headless Chromium for the browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import semtrace
from tests.dashboard import scenario as scenario_mod

CHROMIUM = "/usr/bin/chromium"

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"{CHROMIUM} is missing: `make browser` installs Debian's chromium",
)


def free_port() -> int:
    """A TCP port nothing listens on, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ok(url: str, proc: subprocess.Popen[bytes], *, text: str | None = None) -> None:
    """Wait (up to 60 s) until ``url`` answers 200 (with body ``text`` when given); fail
    with the server's output if its process dies or it never does."""
    deadline = time.monotonic() + 60
    while True:
        try:
            reply = httpx.get(url, timeout=1)
            if reply.status_code == 200 and (text is None or reply.text == text):
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"{url} never answered:\n{out}")
        time.sleep(0.2)


@pytest.fixture(scope="package")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> scenario_mod.Scenario:
    """The multi-agent scenario written once for every dashboard test."""
    return scenario_mod.build(tmp_path_factory.mktemp("dash") / "semtrace.duckdb")


@dataclass(frozen=True)
class Demo:
    """The database ``semtrace demo`` wrote, and the traces the tests look at."""

    db: Path
    story: str  # what `semtrace demo` printed
    failing_trip: str  # the trip whose hotel API timed out (supervisor, failed)
    vendor_failure: str  # procurement's trace that failed on the null Last-updated field
    rate_limited: str  # the contracts trace healed by retries, then a fallback model


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The default demo story, written once by the real command (a separate process)."""
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "semtrace.cli", "demo", "--no-dashboard", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    con = semtrace.connect(db)
    try:

        def one(sql: str) -> str:
            return str(con.sql(sql).fetchall()[0][0])

        return Demo(
            db,
            story=" ".join(proc.stdout.replace("│", " ").split()),
            failing_trip=one(
                "SELECT trace_id FROM traces WHERE root_agent = 'travel_supervisor' "
                "AND error_count > 0 ORDER BY start_time LIMIT 1"
            ),
            vendor_failure=one(
                "SELECT trace_id FROM logs WHERE action = 'retrieve the vendor ID' LIMIT 1"
            ),
            rate_limited=one(
                "SELECT trace_id FROM spans WHERE name LIKE 'heal %' "
                "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            ),
        )
    finally:
        con.close()


@pytest.fixture
def dcon(demo: Demo) -> Iterator[object]:
    """A read-only query connection to the demo's database."""
    con = semtrace.connect(demo.db)
    try:
        yield con
    finally:
        con.close()


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
