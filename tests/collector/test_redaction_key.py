"""The collector redacts with the key of the database it owns, so its markers are the agents'."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from semtrace.collector.server import Collector
from semtrace.redaction import Redactor, database_key
from tests.collector.conftest import post, span_request

EMAIL = "carol.secret-owner@example.org"


@pytest.mark.parametrize("decode_workers", [0, 1])
def test_the_collector_owning_the_file_makes_the_agents_marker(
    tmp_path: Path, make_collector: Callable[..., Collector], decode_workers: int
) -> None:
    """OTLP spans redacted by the collector (in its own thread or in decode worker
    processes) carry the marker an agent writing the same file makes."""
    db = tmp_path / "owned.duckdb"
    expected = Redactor(salt=database_key(db)).marker("email", EMAIL)
    collector = make_collector(db=db, decode_workers=decode_workers)
    body = span_request([{"name": "notify", "attributes": {"note": f"mail {EMAIL}"}}])
    assert post(collector.url, "/v1/traces", body.SerializeToString()).status == 200
    note = collector.sandbox.run("select attributes->>'note' as note from spans").table
    assert note.to_pylist() == [{"note": f"mail {expected}"}]
