"""The ``messages`` and ``tasks`` views over a real DuckDB file, for an event-driven
choreography (intake -> extraction -> procurement + compliance) where the compliance agent's
task waits in input_required until a human answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
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


def test_views_read_foreign_spans_as_they_arrive_over_otlp(db_path: Path) -> None:
    """Spans from other services (a Kafka producer and consumer, an MCP task followed by
    both client and server) fill the messages and tasks views; duplicate status events
    count once."""
    from semtrace.store.database import open_store
    from semtrace.store.model import SpanEventRecord, SpanLinkRecord, SpanRecord

    t0 = 1_800_000_000_000_000_000
    ms = 1_000_000
    producer = SpanRecord(
        "a" * 32,
        "1" * 16,
        None,
        "send payments",
        "PRODUCER",
        t0,
        t0 + ms,
        service_name="billing",
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": "payments",
            "messaging.message.id": "k-1",
            "gen_ai.agent.name": "billing",
        },
    )
    consumer = SpanRecord(
        "b" * 32,
        "2" * 16,
        None,
        "process payments",
        "CONSUMER",
        t0 + 40 * ms,
        t0 + 45 * ms,
        status_code="ERROR",
        status_message="ledger closed",
        service_name="ledger",
        attributes={"messaging.operation.type": "process", "semtrace.agent.name": "ledger"},
        links=(SpanLinkRecord("a" * 32, "1" * 16),),
    )

    def status(at: int, value: str, message: str | None = None) -> SpanEventRecord:
        attrs = {"mcp.task.id": "t-9", "mcp.task.status": value}
        if message:
            attrs["mcp.task.status_message"] = message
        return SpanEventRecord("mcp.task.status", t0 + at * ms, attrs)

    client = SpanRecord(
        "c" * 32,
        "3" * 16,
        None,
        "task review",
        "INTERNAL",
        t0,
        t0 + 100 * ms,
        service_name="client",
        attributes={"mcp.task.id": "t-9", "semtrace.task.name": "review"},
        events=(
            status(0, "working"),
            status(30, "input_required", "confirm?"),
            status(100, "completed"),
        ),
    )
    server = SpanRecord(
        "c" * 32,
        "4" * 16,
        "3" * 16,
        "tools/call review",
        "SERVER",
        t0,
        t0 + 100 * ms,
        service_name="server",
        events=(
            status(0, "working"),
            status(30, "input_required", "confirm?"),
            status(80, "working", "answered"),
            status(100, "completed"),
        ),
    )
    open_store(db_path).write_spans([producer, consumer, client, server])
    c = semtrace.connect(db_path)
    (msg,) = c.sql(
        "SELECT message_id, topic, system, producer_agent, consumer_agents, queue_wait_ms, "
        "outcome, error_message FROM messages"
    ).fetchall()
    assert msg == (
        "k-1",
        "payments",
        "kafka",
        "billing",
        ["ledger"],
        40.0,
        "error",
        "ledger closed",
    )
    (task,) = c.sql(
        "SELECT task_id, name, status, [h.status FOR h IN history], working_ms, "
        "human_wait_ms FROM tasks"
    ).fetchall()
    assert task == (
        "t-9",
        "review",
        "completed",
        ["working", "input_required", "working", "completed"],
        50.0,
        50.0,
    )
