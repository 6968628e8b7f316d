"""recent_traces: the traces list that stays fast at millions of spans, checked against the
``traces`` view it must agree with."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

import semtrace
from semtrace.store import queries
from semtrace.tracer.setup import STATE


@pytest.fixture
def runs(db_path: Path):  # type: ignore[no-untyped-def]
    semtrace.configure(service_name="shop", db=db_path, batch_interval_s=0.1)
    log = semtrace.get_logger(agent="checkout")

    @semtrace.tool("charge")
    def charge(i: int) -> None:
        if i % 3 == 0:
            log.failure(action="charge the card", cause="the gateway timed out", impact="no order")
            raise TimeoutError("gateway")

    @semtrace.agent("checkout")
    def checkout(i: int) -> None:
        try:
            charge(i)
        except TimeoutError:
            if i % 2 == 0:
                raise

    for i in range(12):
        with contextlib.suppress(TimeoutError):
            checkout(i)
    with semtrace.agent("still_running"):  # a trace whose root has not ended yet at flush
        with semtrace.tool("step"):
            pass
        semtrace.force_flush()
        con = semtrace.connect(db_path)
        yield con
    semtrace.shutdown()
    STATE.settings = None


def _ids(table) -> list[str]:  # type: ignore[no-untyped-def]
    return table.column("trace_id").to_pylist()


def test_matches_the_traces_view_newest_first(runs) -> None:  # type: ignore[no-untyped-def]
    """Unfiltered, the list equals the traces view ordered by start time, running traces
    included (they come in through their newest spans)."""
    view = queries.arrow(runs, "select trace_id from traces order by start_time desc, trace_id")
    got = queries.recent_traces(runs, limit=100)
    assert _ids(got) == _ids(view)
    assert len(_ids(got)) == 13


def test_filters_agree_with_the_view(runs) -> None:  # type: ignore[no-untyped-def]
    """Status, agent and text filters pick the same traces as the equivalent view query."""
    errors = queries.recent_traces(runs, status="ERROR", limit=100)
    expected = queries.arrow(
        runs, "select trace_id from traces where status = 'ERROR' order by start_time desc, trace_id"
    )
    assert _ids(errors) == _ids(expected) and len(_ids(errors)) == 4  # i = 0, 3, 6, 9
    ok = queries.recent_traces(runs, status="ok", limit=100)
    assert set(_ids(ok)) == set(_ids(queries.recent_traces(runs, limit=100))) - set(_ids(errors))
    by_agent = queries.recent_traces(runs, agents=["still_running"], limit=100)
    assert len(_ids(by_agent)) == 1
    text = queries.recent_traces(runs, text="GATEWAY TIMED", limit=100)
    assert len(_ids(text)) == 4
    assert all("gateway timed out" in s for s in text.column("matched_sentence").to_pylist())
    assert queries.recent_traces(runs, limit=3).num_rows == 3
