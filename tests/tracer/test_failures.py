"""Exceptions in traced steps become sentences: on the span, as an ERROR log, in `failures`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

import semtrace
from semtrace.telemetry.context import ATTEMPT_KEY
from semtrace.tracer._failures import CallInfo, describe_failure


def _rows(con: Callable[[], Any], sql: str) -> list[dict[str, Any]]:
    return con().sql(sql).to_arrow_table().to_pylist()  # type: ignore[no-any-return]


@semtrace.tool
def lookup_vendor(vendor_id: str, api_key: str = "") -> dict[str, str]:
    """Look up the vendor record in the ERP."""
    raise KeyError("last_updated")


@semtrace.agent("procurement")
def procure(vendor_id: str) -> None:
    lookup_vendor(vendor_id, api_key="sk-proj-Abc123DEF456ghi789JKLmno")


def test_tool_failure_sentence_names_agent_tool_purpose_input_and_error(
    con: Callable[[], Any],
) -> None:
    """The tool span's status says which agent, which tool, what for, with what, what it said."""
    with pytest.raises(KeyError):
        procure("V-1")
    (tool,) = _rows(con, "select * from spans where name = 'execute_tool lookup_vendor'")
    message = tool["status_message"]
    assert message.startswith("The procurement agent's tool lookup_vendor failed after ")
    assert " ms while trying to look up the vendor record in the ERP, called with " in message
    assert "vendor_id='V-1'" in message
    assert message.endswith("; it raised KeyError: 'last_updated'.")
    assert "sk-proj-" not in message and "api_key='[REDACTED:" in message


def test_failure_becomes_an_error_log_linked_to_the_span_with_the_same_sentence(
    con: Callable[[], Any],
) -> None:
    """Each failed span gets one ERROR log with its ids, agent, sentence, template and facts."""
    with pytest.raises(KeyError):
        procure("V-1")
    spans = {r["name"]: r for r in _rows(con, "select * from spans")}
    logs = _rows(con, "select * from logs where severity = 'ERROR' and event_name = 'exception'")
    by_span = {r["span_id"]: r for r in logs}
    assert len(logs) == 2
    for span in spans.values():
        log = by_span[span["span_id"]]
        assert log["trace_id"] == span["trace_id"]
        assert log["message"] == span["status_message"]
        assert log["agent_name"] == "procurement"
    tool_log = by_span[spans["execute_tool lookup_vendor"]["span_id"]]
    assert tool_log["template"] == (
        "The {agent} agent's tool lookup_vendor failed after {duration} while trying to look "
        "up the vendor record in the ERP, called with {input}; it raised KeyError: {error}."
    )
    assert tool_log["action"] == "look up the vendor record in the ERP"
    assert tool_log["cause"] == "KeyError: 'last_updated'"
    facts = json.loads(tool_log["attributes"])
    assert facts["error.type"] == "KeyError"
    assert facts["role"] == "tool" and facts["name"] == "lookup_vendor"
    assert facts["purpose"] == "Look up the vendor record in the ERP"
    assert isinstance(facts["duration_ms"], float)


def test_failures_view_shows_each_failure_once_with_its_sentence(con: Callable[[], Any]) -> None:
    """The failures view has one row for the failure, where it started (the tool), its
    message the sentence; the agent it took down is its impact, not another failure."""
    with pytest.raises(KeyError):
        procure("V-1")
    rows = _rows(
        con, "select source, name, message, status_message, impact_count, ended_in from failures"
    )
    spans = [r for r in rows if r["source"] == "span"]
    assert [(r["name"], r["impact_count"], r["ended_in"]) for r in spans] == [
        ("execute_tool lookup_vendor", 1, "invoke_agent procurement")
    ]
    for row in spans:
        assert row["message"] == row["status_message"]
    assert not [r for r in rows if r["source"] == "log"]  # the error logs belong to the spans


async def test_async_step_timeout_says_it_timed_out(con: Callable[[], Any]) -> None:
    """A step cut short by asyncio.timeout says it was cancelled; the caller's span says
    it timed out."""

    @semtrace.step
    async def fetch_rates() -> None:
        """Fetch today's exchange rates."""
        await asyncio.sleep(5)

    @semtrace.agent("treasury")
    async def run() -> None:
        async with asyncio.timeout(0.05):
            await fetch_rates()

    with pytest.raises(TimeoutError):
        await run()
    spans = {r["name"]: r for r in _rows(con, "select * from spans")}
    step = spans["invoke_workflow fetch_rates"]["status_message"]
    agent = spans["invoke_agent treasury"]["status_message"]
    assert step.startswith("The treasury agent's step fetch_rates failed after ")
    assert "while trying to fetch today's exchange rates; it was cancelled." in step
    assert agent.startswith("The treasury agent failed after ")
    assert agent.endswith("; it timed out (TimeoutError).")
    logs = _rows(con, "select attributes from logs where event_name = 'exception'")
    assert {json.loads(r["attributes"]).get("cancelled") for r in logs} == {True, None}


def test_attempt_and_chained_cause_are_in_the_sentence(con: Callable[[], Any]) -> None:
    """The attempt number from the context and an explicit 'raise ... from' cause are named."""
    from opentelemetry import context as otel_context

    @semtrace.tool("charge_card")
    def charge() -> None:
        try:
            raise ConnectionError("gateway refused")
        except ConnectionError as exc:
            raise RuntimeError("payment failed") from exc

    token = otel_context.attach(otel_context.set_value(ATTEMPT_KEY, 3))
    try:
        with pytest.raises(RuntimeError):
            charge()
    finally:
        otel_context.detach(token)
    (span,) = _rows(con, "select status_message from spans")
    assert " on attempt 3" in span["status_message"]
    assert span["status_message"].endswith(
        "; it raised RuntimeError: payment failed (caused by ConnectionError: gateway refused)."
    )


def test_describe_failure_for_context_manager_without_docstring() -> None:
    """Without purpose or input the sentence still names the subject, time and error."""
    call = CallInfo(role="step", name="reconcile", agent=None, started=10.0, ended=12.5)
    text = describe_failure(call, ValueError("ledger empty"))
    assert (
        text.message == "The step reconcile failed after 2.5 s; it raised ValueError: ledger empty."
    )
    assert (
        text.template
        == "The step reconcile failed after {duration}; it raised ValueError: {error}."
    )
    assert text.action == "run the step reconcile"
    assert text.facts["duration_ms"] == 2500.0


def test_third_person_docstrings_read_as_a_purpose() -> None:
    """'Fetches the vendor' becomes 'while trying to fetch the vendor'."""
    call = CallInfo(role="tool", name="t", purpose="Fetches the vendor", started=0, ended=0.001)
    assert "while trying to fetch the vendor;" in describe_failure(call, KeyError("x")).message


def test_outer_spans_say_which_inner_call_raised(con: Callable[[], Any]) -> None:
    """An exception passing up through an agent names the tool it came from."""
    with pytest.raises(KeyError):
        procure("V-1")
    (agent,) = _rows(
        con, "select status_message from spans where name = 'invoke_agent procurement'"
    )
    assert agent["status_message"].startswith("The procurement agent failed after ")
    assert agent["status_message"].endswith(
        ", called with vendor_id='V-1'; the tool lookup_vendor raised KeyError: 'last_updated'."
    )
    (log,) = _rows(
        con,
        "select cause, template, attributes from logs "
        "where event_name = 'exception' and attributes like '%\"role\":\"agent\"%'",
    )
    assert log["cause"] == "the tool lookup_vendor raised KeyError: 'last_updated'"
    assert log["template"] == (
        "The {agent} agent failed after {duration}, called with {input}; "
        "the tool lookup_vendor raised KeyError: {error}."
    )
    assert json.loads(log["attributes"])["failed_in"] == "the tool lookup_vendor"
