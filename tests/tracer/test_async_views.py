"""The ``messages`` and ``tasks`` views over a real DuckDB file, for an event-driven
choreography (intake -> extraction -> procurement + compliance) where the compliance agent's
task waits in input_required until a human answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import duckdb
import pytest

import semtrace
from semtrace.bus import EventBus, Message


async def _choreography() -> dict[str, Any]:
    bus = EventBus(name="invoices")
    facts: dict[str, Any] = {}

    @bus.subscribe("invoice.received", agent="extraction")
    async def extract(msg: Message) -> None:
        await bus.publish("invoice.extracted", {"invoice": msg.payload["invoice"]})

    @bus.subscribe("invoice.extracted", agent="procurement")
    async def match_vendor(msg: Message) -> None:
        raise LookupError("the Last-updated field was null")

    @bus.subscribe("invoice.extracted", agent="compliance")
    async def review(msg: Message) -> None:
        async with semtrace.start_task("compliance review") as task:
            facts["task_id"] = task.id
            task.set_status("input_required", "need a human to confirm the vendor")
            asyncio.get_running_loop().call_later(
                0.05, lambda: task.provide_input("vendor confirmed", by="alice")
            )
            await task.wait_for_input()

    @semtrace.agent("intake")
    async def intake() -> Message:
        return await bus.publish("invoice.received", {"invoice": 7})

    facts["received"] = await intake()
    await bus.join()
    await bus.close()
    return facts


async def test_messages_and_tasks_views(
    con: Callable[[], duckdb.DuckDBPyConnection],
) -> None:
    """messages: one row per message with producer, consumers, times, wait and outcome;
    tasks: one row with the state history, time per state, human wait and who answered."""
    facts = await _choreography()
    c = con()
    rows = (
        c.sql(
            "SELECT message_id, topic, producer_agent, consumer_agents, consumer_count, "
            "outcome, error_message, publish_time <= consume_time AS ordered, "
            "queue_wait_ms >= 0 AS waited FROM messages ORDER BY publish_time"
        )
        .to_arrow_table()
        .to_pylist()
    )
    assert len(rows) == 2
    first, second = rows
    assert first == {
        "message_id": facts["received"].id,
        "topic": "invoice.received",
        "producer_agent": "intake",
        "consumer_agents": ["extraction"],
        "consumer_count": 1,
        "outcome": "ok",
        "error_message": None,
        "ordered": True,
        "waited": True,
    }
    assert second["topic"] == "invoice.extracted"
    assert second["producer_agent"] == "extraction"
    assert sorted(second["consumer_agents"]) == ["compliance", "procurement"]
    assert second["outcome"] == "error"
    assert "Last-updated field was null" in second["error_message"]
    assert "procurement" in second["error_message"]

    (task,) = c.sql("SELECT * FROM tasks").to_arrow_table().to_pylist()
    assert task["task_id"] == facts["task_id"]
    assert task["name"] == "compliance review"
    assert task["agent_name"] == "compliance"
    assert task["status"] == "completed"
    assert [(h["status"], h["message"]) for h in task["history"]] == [
        ("working", None),
        ("input_required", "need a human to confirm the vendor"),
        ("working", "input provided by alice"),
        ("completed", None),
    ]
    waits = [h["duration_ms"] for h in task["history"] if h["status"] == "input_required"]
    assert task["human_wait_ms"] == task["input_required_ms"] == waits[0] > 0
    assert task["working_ms"] + task["input_required_ms"] == pytest.approx(task["duration_ms"])
    assert task["input_requests"] == 1
    assert task["answered_by"] == "alice" and task["answers"] == 1
    assert task["created_at"] <= task["answered_at"] <= task["ended_at"]
    # the task span lives in the compliance consumer's trace, under its process span
    (parent,) = c.sql(
        "SELECT p.name FROM spans s JOIN spans p ON p.span_id = s.parent_span_id "
        "WHERE s.span_id = ?",
        params=[task["span_id"]],
    ).fetchall()
    assert parent == ("process invoice.extracted",)


def test_a_task_still_waiting_on_a_human_is_visible(
    con: Callable[[], duckdb.DuckDBPyConnection],
) -> None:
    """A task still in input_required (its span not ended yet) shows in the tasks view from
    its status logs, with the human wait so far and its agent, and the logs read as sentences."""
    task = semtrace.start_task("vendor approval", agent="procurement")
    task.set_status("input_required", "which vendor record is current?")
    c = con()
    (row,) = c.sql(
        "SELECT task_id, name, agent_name, status, status_message, human_wait_ms, ended_at, "
        "len(history) AS changes FROM tasks"
    ).fetchall()
    assert row[:5] == (
        task.id,
        "vendor approval",
        "procurement",
        "input_required",
        "which vendor record is current?",
    )
    assert row[5] > 0 and row[6] is None and row[7] == 2
    messages = [m for (m,) in c.sql("SELECT message FROM logs ORDER BY time_ns").fetchall()]
    assert messages == [
        "The procurement agent's task vendor approval is now working",
        "The procurement agent's task vendor approval is now input_required: "
        "which vendor record is current?",
    ]
    task.cancel()
