"""Failure extraction and fingerprints over real traced runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import semtrace
from semtrace.diagnose.extract import extract_failures
from semtrace.diagnose.fingerprint import fingerprint, mask_values


def _failures(db: Path, **kw):  # type: ignore[no-untyped-def]
    semtrace.force_flush()
    con = semtrace.connect(db)
    try:
        return extract_failures(con, **kw)
    finally:
        con.close()


def test_mask_values_hides_what_varies() -> None:
    """Numbers, ids, quoted strings, emails and times become placeholders."""
    a = mask_values("vendor 'V-123' for bob@example.com at 2026-01-02T03:04:05Z took 12 ms")
    b = mask_values("vendor 'X-9' for amy@corp.io at 2027-11-12T13:14:15Z took 99 ms")
    assert a == b == "vendor <str> for <email> at <time> took <n> ms"


def test_same_problem_shares_a_fingerprint(
    make_failure: Callable[..., None], configured: Path
) -> None:
    """Two occurrences with different values share one fingerprint; another error does not."""
    make_failure(KeyError("vendor V-17 has no last_updated"), vendor_id="V-17")
    make_failure(KeyError("vendor V-99 has no last_updated"), vendor_id="V-99")
    make_failure(ValueError("amount is negative"))
    found = _failures(configured)
    assert [f.kind for f in found] == ["error", "error", "error"]
    assert found[0].fingerprint == found[1].fingerprint != found[2].fingerprint
    assert found[0].fingerprint == fingerprint(
        "error", "procurement", "lookup_vendor", "KeyError", "'vendor V-5 has no last_updated'"
    )


def test_only_the_origin_of_a_propagated_error_is_a_failure(
    make_failure: Callable[..., None], configured: Path
) -> None:
    """The agent span the tool's exception propagated through is not a second failure."""
    make_failure(RuntimeError("boom"))
    found = _failures(configured)
    assert len(found) == 1
    assert found[0].target == "lookup_vendor"
    assert found[0].agent == "procurement"
    assert found[0].error_type == "RuntimeError"


def test_single_point_of_timeout_in_a_synchronous_chain(configured: Path) -> None:
    """In supervisor -> booking -> (flight, hotel, car) only the slow hotel call is flagged."""

    @semtrace.tool("flight_api")
    def flight() -> None:
        time.sleep(0.01)

    @semtrace.tool("hotel_api")
    def hotel() -> None:
        time.sleep(0.3)

    @semtrace.tool("car_api")
    def car() -> None:
        time.sleep(0.01)

    @semtrace.agent("booking")
    def booking() -> None:
        flight()
        hotel()
        car()

    @semtrace.agent("supervisor")
    def supervisor() -> None:
        booking()

    supervisor()
    found = _failures(configured, slow_ms=200)
    assert [(f.kind, f.target) for f in found] == [("slow", "hotel_api")]
    assert found[0].details["share_of_trace"] > 0.5
    assert "held up the chain" in found[0].message


def test_long_trace_spread_over_many_steps_has_no_slow_step(configured: Path) -> None:
    """A long trace whose time is spread evenly over its steps has no single point of timeout."""

    @semtrace.step("transform")
    def step(i: int) -> None:
        time.sleep(0.06)

    @semtrace.agent("batch")
    def batch() -> None:
        for i in range(5):
            step(i)

    batch()
    assert _failures(configured, slow_ms=50) == []
    assert _failures(configured) == []


def test_slow_tool_flagged_with_the_default_thresholds(configured: Path) -> None:
    """With run()'s defaults, an agent that spent most of its time on one tool call points at
    that call (the tool, not the agent around it), even though the trace is short."""

    @semtrace.tool("hotel_api")
    def hotel() -> None:
        time.sleep(0.2)

    @semtrace.tool("flight_api")
    def flight() -> None:
        time.sleep(0.03)

    @semtrace.llm(model="gpt-4o")
    def choose() -> None:
        time.sleep(0.03)

    @semtrace.agent("hotel_agent")
    def hotel_agent() -> None:
        hotel()
        choose()

    @semtrace.agent("supervisor")
    def supervisor() -> None:
        flight()
        hotel_agent()
        flight()
        choose()

    supervisor()
    found = _failures(configured)
    assert [(f.kind, f.target, f.agent) for f in found] == [("slow", "hotel_api", "hotel_agent")]
    assert "single point of timeout" in found[0].message


def test_time_waiting_for_a_human_is_not_slowness(configured: Path) -> None:
    """A task that waits in input_required for most of its trace is not a slow step."""

    @semtrace.tool("check_vendor")
    def check() -> None:
        time.sleep(0.01)

    @semtrace.agent("compliance")
    def review() -> None:
        with semtrace.start_task("compliance review", agent="compliance") as task:
            check()
            task.set_status("input_required", "need a human to confirm the vendor")
            time.sleep(0.4)  # the human thinks
            task.provide_input("confirmed", by="alice@example.com")
            check()
            task.complete()

    review()
    found = _failures(configured, slow_ms=50)
    assert [f.kind for f in found] == []


def test_since_and_trace_filters(make_failure: Callable[..., None], configured: Path) -> None:
    """since= excludes older failures and trace_id= keeps one trace's."""
    make_failure(RuntimeError("first"))
    found = _failures(configured)
    assert len(found) == 1
    assert _failures(configured, since="0s") == []
    assert len(_failures(configured, since="1h")) == 1
    assert _failures(configured, trace_id="0" * 32) == []
    assert len(_failures(configured, trace_id=found[0].trace_id)) == 1


def test_error_log_outside_failed_span(configured: Path) -> None:
    """An ERROR sentence logged in a span that succeeded is its own failure."""
    log = semtrace.get_logger(agent="intake")
    with semtrace.agent("intake"):
        log.error("the invoice 42 could not be parsed")
    found = _failures(configured)
    assert [f.kind for f in found] == ["error_log"]
    assert found[0].log_id
    assert "invoice 42" in found[0].message


def test_the_sentence_of_an_agent_that_caught_the_failure_is_no_second_failure(
    configured: Path,
) -> None:
    """An agent that catches its tool's failure and logs log.failure about it (the span does
    not error) gives the tool's failure its sentence; diagnose finds one failure, not an
    error log beside it. An error logged before anything failed stays its own."""
    log = semtrace.get_logger(agent="procurement")

    @semtrace.tool("lookup_vendor")
    def lookup_vendor() -> None:
        raise LookupError("vendor V-2203 has no Last-updated value")

    @semtrace.agent("procurement")
    def procurement() -> None:
        log.error("the vendor master answered slowly")
        try:
            lookup_vendor()
        except LookupError:
            log.failure(
                action="retrieve the vendor ID",
                cause="the Last-updated field was null",
                impact="no valid match could be made",
            )

    procurement()
    found = _failures(configured)  # oldest first
    assert [f.kind for f in found] == ["error_log", "error"]
    assert "vendor master answered slowly" in found[0].message
    assert found[1].target == "lookup_vendor"
    con = semtrace.connect(configured)
    try:
        sentences = con.sql("SELECT source, message FROM failures ORDER BY source").fetchall()
    finally:
        con.close()
    assert [s for s, _ in sentences] == ["log", "span"]
    assert "failed to retrieve the vendor ID because the Last-updated" in sentences[1][1]


def test_stuck_task_when_tasks_view_exists(configured: Path, waited_task: None) -> None:
    """A task left in input_required beyond the threshold is found (when a tasks view exists)."""
    con = semtrace.connect(configured)
    try:
        has_view = bool(
            con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'tasks'").fetchall()[
                0
            ][0]
        )
        found = extract_failures(con, stuck_s=0.01)
    finally:
        con.close()
    stuck = [f for f in found if f.kind == "stuck_task"]
    if has_view:
        assert len(stuck) == 1
        assert "input_required" in stuck[0].message
    else:
        assert stuck == []  # without the view, extraction degrades to nothing, not an error
