"""The offline rules provider recognises each failure kind from real traced failures."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import semtrace
from semtrace.diagnose import Action, Category, Diagnosis


def _only(db: Path, **kw: Any) -> Diagnosis:
    diagnoses = semtrace.diagnose.run(db=db, **kw)
    assert len(diagnoses) == 1, [d.summary for d in diagnoses]
    return diagnoses[0]


@pytest.mark.parametrize(
    ("exc", "category", "first_action"),
    [
        (
            TimeoutError("vendor API read timed out after 30 s"),
            Category.timeout,
            Action.increase_timeout,
        ),
        (
            RuntimeError("HTTP 429 Too Many Requests: rate limit reached for gpt-4o"),
            Category.rate_limit,
            Action.retry_with_backoff,
        ),
        (
            PermissionError("401 Unauthorized: invalid api key"),
            Category.auth,
            Action.escalate_to_human,
        ),
        (KeyError("last_updated"), Category.missing_data, Action.fix_input),
        (
            ValueError("1 validation error for Invoice: amount must be a number"),
            Category.bad_input,
            Action.fix_input,
        ),
        (
            ConnectionRefusedError(111, "Connection refused"),
            Category.dependency_down,
            Action.retry_with_backoff,
        ),
        (
            RuntimeError("This model's maximum context length is 8192 tokens"),
            Category.model_error,
            Action.fallback_model,
        ),
    ],
    ids=[
        "timeout",
        "rate_limit",
        "auth",
        "missing_field",
        "validation",
        "conn_refused",
        "context_length",
    ],
)
def test_rules_recognise_error_kinds(
    make_failure: Callable[..., None],
    configured: Path,
    exc: BaseException,
    category: Category,
    first_action: Action,
) -> None:
    """Each recognised exception kind gets its category and its most useful action first."""
    make_failure(exc, vendor_id="V-1")
    d = _only(configured)
    assert d.status == "ok"
    assert d.provider == "rules"
    assert d.category is category
    assert d.actions()[0] is first_action
    assert d.summary.startswith("The procurement agent's lookup_vendor failed because")
    assert d.evidence and d.evidence[0].kind == "span"


def test_null_field_in_semantic_failure_log(configured: Path) -> None:
    """A log.failure sentence about a null field (no exception) is missing_data."""
    log = semtrace.get_logger(agent="procurement")
    with semtrace.agent("procurement"):
        log.failure(
            action="retrieve the vendor ID",
            cause="the Last-updated field was null",
            impact="no valid match could be made",
        )
    d = _only(configured)
    assert d.category is Category.missing_data
    assert d.evidence[0].kind == "log"


def test_input_required_wait_is_needs_human(configured: Path) -> None:
    """An error sentence about a task stuck in input_required asks for a human."""
    log = semtrace.get_logger(agent="compliance")
    with semtrace.agent("compliance"):
        log.error("the compliance review is still waiting in input_required for a human")
    d = _only(configured)
    assert d.category is Category.needs_human
    assert d.actions() == [Action.escalate_to_human]


def test_repeated_identical_tool_calls_are_a_loop(configured: Path) -> None:
    """Five identical calls of one tool in one trace are diagnosed as a logic-bug loop."""

    @semtrace.tool("search_flights")
    def search(city: str) -> list[str]:
        return []

    with semtrace.agent("travel"):
        for _ in range(5):
            search("Paris")
        search("Rome")  # different arguments: not part of the loop
    d = _only(configured)
    assert d.category is Category.logic_bug
    assert d.actions()[0] is Action.circuit_break
    assert "search_flights" in d.summary or "same tool" in d.summary


def test_slow_step_is_a_timeout(configured: Path) -> None:
    """The one step that held a synchronous chain up is diagnosed as a timeout."""

    @semtrace.tool("hotel_api")
    def hotel() -> None:
        time.sleep(0.25)

    with semtrace.agent("travel"):
        hotel()
    d = _only(configured, slow_ms=150)
    assert d.category is Category.timeout


def test_unknown_failure_is_honest(make_failure: Callable[..., None], configured: Path) -> None:
    """A failure no rule recognises is 'unknown' and says so instead of guessing."""
    make_failure(RuntimeError("flux capacitor misaligned"))
    d = _only(configured)
    assert d.category is Category.unknown
    assert "no rule recognised" in d.summary
    assert "flux capacitor misaligned" in d.root_cause


def test_task_that_waited_too_long_for_a_human(configured: Path, waited_task: None) -> None:
    """A task that sat in input_required past the threshold is needs_human (tasks view)."""
    con = semtrace.connect(configured)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    con.close()
    if "tasks" not in views:
        pytest.skip("this checkout has no tasks view yet")
    d = _only(configured, stuck_s=0.01)
    assert d.category is Category.needs_human
    assert d.actions() == [Action.escalate_to_human]
    assert d.summary.startswith("The compliance agent's compliance review was held up because")
    assert d.evidence[0].kind == "task"
