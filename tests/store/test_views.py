"""Every view of the SQL contract answers as documented on a known dataset."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from semtrace.store.database import Store, connect_readonly
from tests.store import dataset as ds


@pytest.fixture
def con(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to a file holding the known dataset (views as TEMP views)."""
    store = Store(db_path)
    ds.load(store)
    store.close()
    c = connect_readonly(db_path)
    yield c
    c.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    return con.sql(sql).to_arrow_table().to_pylist()


def at(ms: int) -> datetime:
    return datetime.fromtimestamp((ds.T0 + ms * ds.MS) / 1e9, tz=UTC)


def test_traces_view(con: duckdb.DuckDBPyConnection) -> None:
    """traces: one row per trace with root, services, agents, times, counts, tokens, cost."""
    got = rows(con, "SELECT * FROM traces ORDER BY start_time")
    assert got == [
        {
            "trace_id": ds.T1,
            "root_name": "invoke_agent supervisor",
            "root_agent": "supervisor",
            "services": ["travel"],
            "agents": ["supervisor"],
            "start_time": at(0),
            "end_time": at(100),
            "duration_ms": 100.0,
            "span_count": 3,
            "error_count": 0,
            "failure_count": 0,
            "status": "OK",
            "input_tokens": 1000,
            "output_tokens": 500,
            "cost_usd": pytest.approx(ds.TRAVEL_COST),
            "session_id": "sess-1",
        },
        {
            "trace_id": ds.T2,
            "root_name": "invoke_agent procurement",
            "root_agent": "procurement",
            "services": ["billing"],
            "agents": ["procurement"],
            "start_time": at(1000),
            "end_time": at(1200),
            "duration_ms": 200.0,
            "span_count": 2,
            "error_count": 2,
            "failure_count": 1,  # the tool's failure took its agent down: one failure
            "status": "ERROR",
            "input_tokens": None,
            "output_tokens": None,
            "cost_usd": None,
            "session_id": None,
        },
    ]


def test_llm_calls_view(con: duckdb.DuckDBPyConnection) -> None:
    """llm_calls: one row per model call with provider, model, tokens, total and cost, and
    its prompt and response (none recorded here)."""
    assert rows(con, "SELECT * FROM llm_calls") == [
        {
            "trace_id": ds.T1,
            "span_id": "3" * 16,
            "parent_span_id": "1" * 16,
            "name": "chat gpt-4o-mini",
            "start_time": at(30),
            "duration_ms": 50.0,
            "status_code": "UNSET",
            "agent_name": "supervisor",
            "operation": "chat",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "input_tokens": 1000,
            "output_tokens": 500,
            "total_tokens": 1500,
            "cost_usd": pytest.approx(ds.TRAVEL_COST),
            "error_type": None,
            "session_id": "sess-1",
            "service_name": "travel",
            "prompt": None,
            "response": None,
        }
    ]


def test_tool_calls_view(con: duckdb.DuckDBPyConnection) -> None:
    """tool_calls: one row per tool call with its agent, status, error type and arguments."""
    got = rows(
        con,
        "SELECT name, agent_name, tool_name, status_code, status_message, error_type, "
        "duration_ms, arguments, service_name FROM tool_calls ORDER BY start_time",
    )
    assert got == [
        {
            "name": "execute_tool search_flights",
            "agent_name": "supervisor",
            "tool_name": "search_flights",
            "status_code": "UNSET",
            "status_message": None,
            "error_type": None,
            "duration_ms": 20.0,
            "arguments": '{"origin": "LIS"}',
            "service_name": "travel",
        },
        {
            "name": "execute_tool lookup_vendor",
            "agent_name": "procurement",
            "tool_name": "lookup_vendor",
            "status_code": "ERROR",
            "status_message": ds.SENTENCE,
            "error_type": "KeyError",  # from the exception event
            "duration_ms": 150.0,
            "arguments": None,
            "service_name": "billing",
        },
    ]


def test_agents_view(con: duckdb.DuckDBPyConnection) -> None:
    """agents: per-agent calls, latency percentiles, errors and error rate, tools, LLM, cost."""
    got = rows(con, "SELECT * FROM agents ORDER BY agent_name")
    assert got == [
        {
            "agent_name": "procurement",
            "calls": 1,
            "traces": 1,
            "p50_ms": 200.0,
            "p95_ms": 200.0,
            "p99_ms": 200.0,
            "errors": 1,  # the tool's failure, not again the agent it took down
            "failed_calls": 1,
            "error_rate": 1.0,
            "tool_calls": 1,
            "llm_calls": 0,
            "input_tokens": None,
            "output_tokens": None,
            "cost_usd": None,
        },
        {
            "agent_name": "supervisor",
            "calls": 1,
            "traces": 1,
            "p50_ms": 100.0,
            "p95_ms": 100.0,
            "p99_ms": 100.0,
            "errors": 0,
            "failed_calls": 0,
            "error_rate": 0.0,
            "tool_calls": 1,
            "llm_calls": 1,
            "input_tokens": 1000,
            "output_tokens": 500,
            "cost_usd": pytest.approx(ds.TRAVEL_COST),
        },
    ]


def test_failures_view(con: duckdb.DuckDBPyConnection) -> None:
    """failures: one row per failure where it started (the tool), with the spans it took
    down (its agent, ERROR without an exception of its own) as impact, its log sentence and
    latest diagnosis; plus error logs that belong to no failed span."""
    got = rows(
        con,
        "SELECT source, trace_id, span_id, log_id, agent_name, name, error_type, message, "
        "exception_message, impact_count, impacted_span_ids, ended_in, reached_root, "
        "fingerprint, diagnosis, category, diagnosis_provider FROM failures ORDER BY time",
    )
    assert got == [
        {
            "source": "span",
            "trace_id": ds.T2,
            "span_id": "5" * 16,
            "log_id": None,
            "agent_name": "procurement",
            "name": "execute_tool lookup_vendor",
            "error_type": "KeyError",
            "message": ds.VENDOR_LOG,  # the error log on the span beats the status message
            "exception_message": "'vendor_id'",
            "impact_count": 1,
            "impacted_span_ids": ["4" * 16],
            "ended_in": "invoke_agent procurement",
            "reached_root": True,
            "fingerprint": "fp1",
            "diagnosis": "vendor record has no date",  # the latest one
            "category": "missing_data",
            "diagnosis_provider": "rules",
        },
        {
            "source": "log",
            "trace_id": None,
            "span_id": None,
            "log_id": "log-disk",
            "agent_name": None,
            "name": "disk almost full",
            "error_type": "OSError",
            "message": "disk almost full",
            "exception_message": None,
            "impact_count": 0,
            "impacted_span_ids": None,
            "ended_in": None,
            "reached_root": None,
            "fingerprint": None,
            "diagnosis": None,
            "category": None,
            "diagnosis_provider": None,
        },
    ]


def test_writer_and_reader_see_the_same_views(db_path: Path) -> None:
    """The writer's persistent views and a reader's temporary ones give the same answers."""
    store = Store(db_path)
    ds.load(store)
    cur = store.cursor()
    writer = cur.execute("SELECT trace_id, span_count FROM traces ORDER BY 1").fetchall()
    store.close()
    reader = connect_readonly(db_path)
    assert reader.execute("SELECT trace_id, span_count FROM traces ORDER BY 1").fetchall() == (
        writer
    )
    assert writer == [(ds.T1, 3), (ds.T2, 2)]


async def test_agents_view_counts_an_agent_driven_by_messages(configured: Path) -> None:
    """An agent that works only in an EventBus handler (no invoke_agent span: the demo's
    contracts_agent) gets its calls (one per message handled), latency percentiles, errors
    (its LLM call's failures, each once), tool and LLM calls, tokens and cost; an LLM call
    that reported no token counts has a NULL total, not 0."""
    import semtrace
    from semtrace import pricing
    from semtrace.bus import EventBus, Message

    bus = EventBus(name="support")

    @semtrace.tool("lookup_contract")
    async def lookup_contract(contract: str) -> str:
        return f"{contract}: net 30"

    @semtrace.llm(model="claude-sonnet-4", provider="anthropic")
    async def review(text: str) -> None:
        raise RuntimeError("429: rate limit reached for claude-sonnet-4")

    @semtrace.llm(model="gpt-4o-mini", provider="openai")
    async def answer(text: str) -> dict[str, Any]:
        return {"usage": {"prompt_tokens": 300, "completion_tokens": 40}}

    @bus.subscribe("request.contracts", agent="contracts_agent")
    async def handle(msg: Message) -> None:
        terms = await lookup_contract(msg.payload["contract"])
        try:
            await review(terms)
        except RuntimeError:
            await answer(terms)  # the fallback model

    for contract in ("C-1", "C-2"):
        await bus.publish("request.contracts", {"contract": contract}, agent="broker")
    await bus.join()
    await bus.close()
    semtrace.force_flush()
    c = semtrace.connect(configured)
    try:
        (agent,) = rows(c, "SELECT * FROM agents WHERE agent_name = 'contracts_agent'")
        totals = rows(
            c,
            "SELECT model, status_code, total_tokens FROM llm_calls "
            "WHERE agent_name = 'contracts_agent' ORDER BY ALL",
        )
        failures = c.execute("SELECT count(*) FROM failures").fetchone()
    finally:
        c.close()
    p95 = agent.pop("p95_ms")
    assert p95 is not None and p95 >= agent["p50_ms"] > 0
    assert agent | {"p50_ms": None, "p99_ms": None} == {
        "agent_name": "contracts_agent",
        "calls": 2,  # the two messages it handled
        "traces": 2,
        "p50_ms": None,
        "p99_ms": None,
        "errors": 2,  # its LLM call failed on each message
        "failed_calls": 0,  # it went on with the fallback each time
        "error_rate": 0.0,
        "tool_calls": 2,
        "llm_calls": 4,
        "input_tokens": 600,
        "output_tokens": 80,
        "cost_usd": pytest.approx(2 * (pricing.cost_usd("gpt-4o-mini", 300, 40) or 0)),
    }
    assert agent["cost_usd"] > 0
    assert totals == [
        {"model": "claude-sonnet-4", "status_code": "ERROR", "total_tokens": None},
        {"model": "claude-sonnet-4", "status_code": "ERROR", "total_tokens": None},
        {"model": "gpt-4o-mini", "status_code": "UNSET", "total_tokens": 340},
        {"model": "gpt-4o-mini", "status_code": "UNSET", "total_tokens": 340},
    ]
    assert failures == (2,)
