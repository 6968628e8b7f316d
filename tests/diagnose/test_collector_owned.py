"""A database a ``semtrace serve`` collector owns: diagnoses are stored through its
``/v1/records`` (only the diagnose tables, behind its token)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from typer.testing import CliRunner

import semtrace
from semtrace import diagnose
from semtrace.cli import app
from semtrace.store.ownership import read_announcement


@contextlib.contextmanager
def _serve(db_path: Path, *options: str) -> Iterator[str]:
    """``semtrace serve`` on ``db_path`` in another process; yields its announced URL."""
    semtrace_cli = str(Path(sys.executable).with_name("semtrace"))
    proc = subprocess.Popen(
        [semtrace_cli, "serve", "--db", str(db_path), "--port", "0", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while (ann := read_announcement(str(db_path))) is None:
            assert proc.poll() is None, "the collector exited"
            assert time.monotonic() < deadline, "the collector never announced itself"
            time.sleep(0.05)
        yield ann.url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def served_failure(db_path: Path) -> Iterator[str]:
    """A database with one failed tool call, then owned by a collector in another process."""
    semtrace.configure(db=db_path, capture_logging=False)

    @semtrace.tool("lookup_vendor")
    def lookup() -> None:
        raise ConnectionRefusedError("vendor API refused the connection")

    with contextlib.suppress(ConnectionRefusedError), semtrace.agent("procurement"):
        lookup()
    semtrace.shutdown()
    with _serve(db_path) as url:
        yield url


def _count(db: Path, sql: str) -> int:
    con = semtrace.connect(db)
    try:
        return int(con.execute(sql).fetchall()[0][0])
    finally:
        con.close()


def test_run_stores_diagnoses_through_the_collector(db_path: Path, served_failure: str) -> None:
    """run() stores the diagnosis and its occurrence through the collector; the second run
    finds it cached there."""
    found = diagnose.run(db=db_path)
    assert [d.category.value for d in found] == ["dependency_down"]
    assert found.stored is True and found.not_stored_reason is None
    assert _count(db_path, "SELECT count(*) FROM diagnoses WHERE status = 'ok'") == 1
    assert _count(db_path, "SELECT count(*) FROM failure_fingerprints") == 1
    again = diagnose.run(db=db_path)
    assert [d.cached for d in again] == [True]
    assert _count(db_path, "SELECT count(*) FROM diagnoses") == 1


def _post(url: str, table: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{url}/v1/records?table={table}", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _arrow(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def test_records_endpoint_refuses_other_tables_and_bad_rows(
    db_path: Path, served_failure: str
) -> None:
    """/v1/records takes only the diagnose tables, Arrow streams, and columns of the table."""
    headers = {"Content-Type": "application/vnd.apache.arrow.stream"}
    spans = _arrow(pa.table({"trace_id": ["a" * 32], "span_id": ["b" * 16]}))
    status, text = _post(served_failure, "spans", spans, headers)
    assert status == 403 and "heal_attempts" in text
    bad = _arrow(pa.table({"fingerprint": ["x"], "rm_rf": ["/"]}))
    assert _post(served_failure, "failure_fingerprints", bad, headers)[0] == 400
    as_json = {"Content-Type": "application/json"}
    assert _post(served_failure, "heal_attempts", b"[]", as_json)[0] == 415
    good = _arrow(pa.table({"fingerprint": ["fp1"], "failure_kind": ["error"]}))
    status, text = _post(served_failure, "failure_fingerprints", good, headers)
    assert status == 200 and '"accepted":1' in text.replace(" ", "")
    assert (
        _count(db_path, "SELECT count(*) FROM failure_fingerprints WHERE fingerprint = 'fp1'") == 1
    )
    assert _count(db_path, "SELECT count(*) FROM spans WHERE trace_id = 'aaaa'") == 0


@pytest.fixture
def served_with_token(db_path: Path) -> Iterator[str]:
    """An empty database owned by a collector that wants a bearer token."""
    semtrace.configure(db=db_path, capture_logging=False)
    semtrace.shutdown()
    with _serve(db_path, "--token", "s3cret") as url:
        yield url


def test_records_endpoint_wants_the_token(served_with_token: str) -> None:
    """Without the collector's bearer token, rows are refused with 401."""
    rows = _arrow(pa.table({"fingerprint": ["fp1"]}))
    arrow_type = {"Content-Type": "application/vnd.apache.arrow.stream"}
    assert _post(served_with_token, "failure_fingerprints", rows, arrow_type)[0] == 401
    authed = {**arrow_type, "Authorization": "Bearer s3cret"}
    assert _post(served_with_token, "failure_fingerprints", rows, authed)[0] == 200


def test_cli_stores_through_the_collector(db_path: Path, served_failure: str) -> None:
    """`semtrace diagnose` on a collector-owned file prints the table and warns of nothing."""
    result = CliRunner().invoke(app, ["diagnose", "--db", str(db_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "dependency_down" in result.stdout
    assert "NOT stored" not in result.stderr


HEALED_AGENT = """
import sys, semtrace
semtrace.configure(db=sys.argv[1], capture_logging=False)  # the collector announced itself
calls = []

@semtrace.heal(allow=["retry_with_backoff"], backoff_s=0.001)
def fetch():
    calls.append(1)
    if len(calls) < 2:
        raise ConnectionRefusedError("vendor API refused the connection")
    return "ok"

print(fetch(), flush=True)
semtrace.shutdown()
"""


def test_heal_attempts_reach_a_collector_owned_file(db_path: Path, served_failure: str) -> None:
    """A healed step in a process sending to the collector still gets its heal_attempts row."""
    out = subprocess.run(
        [sys.executable, "-c", HEALED_AGENT, str(db_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert (
        _count(
            db_path,
            "SELECT count(*) FROM heal_attempts WHERE step = 'fetch' AND outcome = 'recovered'",
        )
        == 1
    )
