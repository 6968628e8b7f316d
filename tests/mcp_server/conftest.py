"""One small database written by the real tracer for the MCP server's tests: a procurement
run whose tool fails (with its failure sentence and a stored diagnosis) and an intake run
whose one failure is a log sentence (no span failed)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import semtrace
from semtrace.tracer.setup import STATE

SENTENCE_PART = "the Last-updated field was null"
INTAKE_CAUSE = "its PDF was password-protected"


@dataclass(frozen=True)
class Telemetry:
    """The database and the ids in it the tests drill down with."""

    db: Path
    failed_trace: str
    failed_span: str
    fingerprint: str


def _write(db: Path, *, failing_runs: int = 1) -> None:
    semtrace.configure(service_name="invoices", db=db, batch_interval_s=0.05)
    log = semtrace.get_logger(agent="procurement")

    @semtrace.tool("lookup_vendor_id")
    def lookup_vendor_id(vendor: str) -> str:
        raise LookupError(f"vendor record for {vendor}: its last_updated field is null")

    @semtrace.agent("procurement")
    def match(vendor: str) -> None:
        try:
            lookup_vendor_id(vendor)
        except LookupError:
            log.failure(
                action="retrieve the vendor ID",
                cause=SENTENCE_PART,
                impact="no valid match could be made",
            )

    @semtrace.agent("intake")
    def receive() -> None:
        intake = semtrace.get_logger(agent="intake")
        intake.info("invoice batch received", invoices=3)
        # A failure told by a log sentence alone: no span failed with it.
        intake.failure(
            action="read invoice INV-3",
            cause=INTAKE_CAUSE,
            impact="it was set aside for a person",
        )

    try:
        receive()
        for _ in range(failing_runs):
            match("Nordwind Logistics")
    finally:
        semtrace.shutdown()
        STATE.settings = None


@pytest.fixture(scope="package")
def telemetry(tmp_path_factory: pytest.TempPathFactory) -> Telemetry:
    """The database, diagnosed offline (so failures have fingerprints and a diagnosis)."""
    db = tmp_path_factory.mktemp("mcp") / "agents.duckdb"
    _write(db)
    semtrace.diagnose.run(db)
    con = semtrace.connect(db)
    try:
        trace_id, span_id, fingerprint = con.execute(
            """SELECT s.trace_id, s.span_id, f.fingerprint FROM spans s
               JOIN failure_fingerprints f USING (trace_id, span_id)
               WHERE s.tool_name = 'lookup_vendor_id' AND f.log_id IS NULL"""
        ).fetchone()
    finally:
        con.close()
    return Telemetry(db, trace_id, span_id, fingerprint)


@pytest.fixture
def undiagnosed(tmp_path: Path) -> Path:
    """A database never diagnosed, where procurement failed the same way in two runs."""
    db = tmp_path / "undiagnosed.duckdb"
    _write(db, failing_runs=2)
    return db


def server_command(db: Path, *extra: str) -> tuple[str, list[str], dict[str, str]]:
    """``semtrace mcp --db DB`` as the command, arguments and environment a client spawns."""
    return sys.executable, ["-m", "semtrace.cli", "mcp", "--db", str(db), *extra], dict(os.environ)


@dataclass(frozen=True)
class Waiting:
    """A database where a task waits for a human, its agent gone."""

    db: Path
    task_id: str
    question: str


@pytest.fixture
def waiting(tmp_path: Path) -> Waiting:
    """A compliance task left in input_required by an agent that has stopped."""
    db = tmp_path / "waiting.duckdb"
    question = "Is 'ACME Ltd' on invoice INV-001-02 the registered vendor ACME GmbH?"
    semtrace.configure(service_name="invoices", db=db, batch_interval_s=0.05)
    try:
        task = semtrace.start_task("compliance review", agent="compliance")
        task.set_status("input_required", question)
    finally:
        semtrace.shutdown()
        STATE.settings = None
    return Waiting(db, task.id, question)
