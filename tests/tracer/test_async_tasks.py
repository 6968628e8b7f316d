"""Long-running tasks (MCP Tasks shape): durable id, enforced transitions, every status change
recorded as a span event with time and message, polls counted on the task span, the human
answer recorded, and cancellation ending the span in ERROR with a sentence."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import semtrace
from semtrace.store.model import SpanRecord
from semtrace.testing import capture, span_tree
from semtrace.tracer.tasks import get_task


def _one(spans: list[SpanRecord], name: str) -> SpanRecord:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def _statuses(span: SpanRecord) -> list[tuple[Any, ...]]:
    return [
        (
            e.attributes.get("mcp.task.previous_status"),
            e.attributes["mcp.task.status"],
            e.attributes.get("mcp.task.status_message"),
        )
        for e in span.events
        if e.name == "mcp.task.status"
    ]


async def test_task_lifecycle_with_human_input() -> None:
    """A task under an agent: working -> input_required -> (human answer) -> working ->
    completed, each change an event on the one task span; work inside is its child."""

    @semtrace.agent("compliance")
    async def compliance() -> Any:
        async with semtrace.start_task("compliance review", ttl_ms=60_000) as task:
            assert semtrace.current_task() is task
            assert get_task(task.id) is task
            task.set_status("input_required", "need a human to confirm the vendor")
            asyncio.get_running_loop().call_soon(lambda: task.provide_input("approved", by="alice"))
            answer = await task.wait_for_input()
            with semtrace.tool("record_decision"):
                pass
        return task, answer

    with capture() as cap:
        task, answer = await compliance()
        spans = cap.spans()
    assert answer == "approved"
    assert task.status == "completed" and semtrace.current_task() is None
    assert get_task(task.id) is None  # finished tasks are not kept
    assert span_tree(spans) == [
        "invoke_agent compliance",
        "  task compliance review",
        "    execute_tool record_decision",
    ]
    span = _one(spans, "task compliance review")
    assert _statuses(span) == [
        (None, "working", None),
        ("working", "input_required", "need a human to confirm the vendor"),
        ("input_required", "working", "input provided by alice"),
        ("working", "completed", None),
    ]
    assert span.attributes["mcp.task.id"] == task.id
    assert span.attributes["mcp.task.status"] == "completed"
    assert span.attributes["mcp.task.ttl_ms"] == 60_000
    assert span.attributes["semtrace.agent.name"] == "compliance"
    (answer_event,) = [e for e in span.events if e.name == "semtrace.task.input"]
    assert answer_event.attributes["semtrace.task.answered_by"] == "alice"
    assert answer_event.attributes["semtrace.task.answer"] == "approved"
    assert [c.status for c in task.history] == [
        "working",
        "input_required",
        "working",
        "completed",
    ]


def test_terminal_states_never_change() -> None:
    """After cancel(), complete() and provide_input() are refused (False), the task stays
    cancelled and each refusal is recorded on the span of the code that asked (the task's
    own span has ended); an unknown status is a ValueError."""
    with capture() as cap:
        task = semtrace.start_task("export", agent="reporting")
        assert task.cancel("user changed their mind") is True
        with semtrace.step("late worker"):
            assert task.complete("done") is False
            assert task.provide_input("late", by="bob") is False
        with pytest.raises(ValueError, match="unknown task status"):
            task.set_status("paused")
        spans = cap.spans()
    assert task.status == "cancelled" and task.rejected == 2
    span = _one(spans, "task export")
    assert _statuses(span) == [
        (None, "working", None),
        ("working", "cancelled", "user changed their mind"),
    ]
    worker = _one(spans, "invoke_workflow late worker")
    rejected = [e for e in worker.events if e.name == "semtrace.task.transition_rejected"]
    assert [e.attributes["semtrace.task.requested_status"] for e in rejected] == [
        "completed",
        "working",
    ]


def test_polls_are_counted_on_the_task_span_not_spans() -> None:
    """Polling a task three times adds no span; the count lands on the task span and a
    status seen by a poll becomes a status event."""
    with capture() as cap:
        task = semtrace.start_task("remote build", task_id="task-42")
        task.record_poll()
        task.record_poll("working")
        task.record_poll("completed", "built")
        spans = cap.spans()
    assert span_tree(spans) == ["task remote build"]
    span = spans[0]
    assert span.attributes["semtrace.task.polls"] == 3
    assert span.attributes["mcp.task.id"] == "task-42"
    assert _statuses(span)[-1] == ("working", "completed", "built")


async def test_timeout_cancels_the_task_with_an_error_sentence() -> None:
    """asyncio.timeout around a task waiting for input ends it cancelled, the span in ERROR
    with a sentence saying it was cancelled."""
    with capture() as cap:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                async with semtrace.start_task("approval", agent="finance") as task:
                    task.set_status("input_required", "waiting for a manager")
                    await task.wait_for_input()
        spans = cap.spans()
    assert task.status == "cancelled"
    span = _one(spans, "task approval")
    assert span.status_code == "ERROR"
    assert "finance" in (span.status_message or "")
    assert "cancelled" in (span.status_message or "")
    assert _statuses(span)[-1][:2] == ("input_required", "cancelled")


def test_failure_inside_the_block_fails_the_task() -> None:
    """An exception inside ``with start_task(...)`` fails the task with the sentence."""
    with capture() as cap:
        with pytest.raises(KeyError), semtrace.start_task("vendor match", agent="procurement"):
            raise KeyError("vendor_id")
        spans = cap.spans()
    span = _one(spans, "task vendor match")
    assert span.status_code == "ERROR"
    assert _statuses(span)[-1][1] == "failed"
    assert "vendor_id" in (_statuses(span)[-1][2] or "")
    assert span.attributes["mcp.task.status"] == "failed"


def test_to_mcp_has_the_task_fields() -> None:
    """to_mcp() gives the MCP Task shape with ISO timestamps and the ttl."""
    with capture():
        task = semtrace.start_task("index", ttl_ms=None, poll_interval_ms=500)
        task.set_status("input_required", "which folder?")
        data = task.to_mcp()
        task.cancel()
    assert data["taskId"] == task.id
    assert data["status"] == "input_required"
    assert data["statusMessage"] == "which folder?"
    assert data["ttl"] is None and data["pollInterval"] == 500
    assert data["createdAt"].endswith("+00:00") and data["lastUpdatedAt"] >= data["createdAt"]
