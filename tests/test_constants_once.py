"""Bounds that several modules share are written once (store.batching, config) and imported:
a copy that drifts would make the documented bound a lie in one place."""

from __future__ import annotations

import re
from pathlib import Path

import semtrace
from semtrace.collector.ingest import IngestQueue
from semtrace.collector.server import CollectorConfig
from semtrace.config import DEFAULT_IDLE_TIMEOUT_S, Settings
from semtrace.store.batching import MAX_BATCH_RECORDS, MAX_QUEUED_RECORDS, BatchQueue
from semtrace.tracer.processors import QueueSpanProcessor

ROOT = Path(semtrace.__file__).parent


def _defaults(fn: object) -> dict[str, object]:
    return dict(fn.__kwdefaults__ or {})  # type: ignore[attr-defined]


def test_the_queue_bounds_are_written_once() -> None:
    for literal in ("16_384", "2_048"):
        places = [
            f"{path.relative_to(ROOT)}:{n}"
            for path in sorted(ROOT.rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(rf"\b{literal}\b", line)
        ]
        assert [place.split(":")[0] for place in places] == ["store/batching.py"], places
    assert _defaults(BatchQueue.__init__)["max_queue"] == MAX_QUEUED_RECORDS
    assert _defaults(BatchQueue.__init__)["max_batch"] == MAX_BATCH_RECORDS
    assert _defaults(QueueSpanProcessor.__init__)["max_queue"] == MAX_QUEUED_RECORDS
    assert _defaults(IngestQueue.__init__)["max_pending"] == MAX_QUEUED_RECORDS
    assert CollectorConfig(db="x.duckdb").max_pending == MAX_QUEUED_RECORDS


def test_the_idle_timeout_default_is_written_once() -> None:
    config = (ROOT / "config.py").read_text()
    assert len(re.findall(r"\b300(\.0)?\b", config)) == 1
    assert Settings(service_name="s", db="x.duckdb").owner_idle_timeout_s == DEFAULT_IDLE_TIMEOUT_S
