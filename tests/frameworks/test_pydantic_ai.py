"""pydantic-ai with a FunctionModel (no network) and its native OpenTelemetry instrumentation
(GenAI conventions) into semtrace's exporter and DuckDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.usage import RequestUsage

from semtrace.store import queries
from tests.frameworks.conftest import orphans_under_agents, rows


def _model(messages: list[Any], info: AgentInfo) -> ModelResponse:
    """Calls the tool with the user's text, then answers with what it returned."""
    last = messages[-1].parts[-1]
    if isinstance(last, ToolReturnPart):
        return ModelResponse(
            parts=[TextPart(f"vendor id {last.content}")],
            usage=RequestUsage(input_tokens=9, output_tokens=2),
        )
    return ModelResponse(
        parts=[ToolCallPart("lookup_vendor", {"vendor": last.content})],
        usage=RequestUsage(input_tokens=8, output_tokens=3),
    )


@pytest.fixture
def instrumented(configured: Any) -> Iterator[None]:
    Agent.instrument_all(InstrumentationSettings(tracer_provider=trace.get_tracer_provider()))
    yield
    Agent.instrument_all(False)


def test_pydantic_ai_runs_land_normalised(instrumented: None, con: Any) -> None:
    """Four runs, two failing in the tool: the agent's invoke_agent spans are its calls,
    its chat and tool spans belong to it, tokens come from the model's usage, inputs and outputs
    are there, and the failures view has one row per failing run."""
    agent = Agent(FunctionModel(_model), name="procurement")

    @agent.tool_plain
    def lookup_vendor(vendor: str) -> str:
        """Find a vendor's id in the ERP."""
        if vendor.startswith("bad"):
            raise ValueError(f"vendor {vendor} has no Last-updated value")
        return "V-1"

    outcomes = []
    for vendor in ("ok-1", "bad-1", "ok-2", "bad-2"):
        try:
            outcomes.append(agent.run_sync(vendor).output)
        except ValueError:
            outcomes.append("failed")
    assert outcomes == ["vendor id V-1", "failed"] * 2
    c = con()
    assert orphans_under_agents(c) == []
    assert c.sql("SELECT count(*) FROM spans WHERE agent_name IS NULL").fetchall() == [(0,)]
    (row,) = rows(c, "SELECT * FROM agents")
    assert (row["agent_name"], row["calls"], row["errors"], row["failed_calls"]) == (
        "procurement",
        4,
        2,
        2,
    )
    assert (row["tool_calls"], row["llm_calls"]) == (4, 6)
    assert (row["input_tokens"], row["output_tokens"]) == (8 * 4 + 9 * 2, 3 * 4 + 2 * 2)
    by_operation = c.sql("SELECT DISTINCT operation, agent_name FROM spans ORDER BY 1")
    assert by_operation.fetchall() == [
        ("chat", "procurement"),
        ("execute_tool", "procurement"),
        ("invoke_agent", "procurement"),
    ]
    tools = rows(c, "SELECT arguments, result FROM tool_calls ORDER BY start_time")
    assert [(json.loads(t["arguments"])["vendor"], t["result"]) for t in tools] == [
        ("ok-1", "V-1"),
        ("bad-1", None),
        ("ok-2", "V-1"),
        ("bad-2", None),
    ]
    llm = rows(c, "SELECT prompt, response, total_tokens FROM llm_calls ORDER BY start_time")
    assert "ok-1" in llm[0]["prompt"] and "lookup_vendor" in llm[0]["response"]
    assert [r["total_tokens"] for r in llm][:2] == [11, 11]
    assert c.sql("SELECT count(*) FROM failures").fetchall() == [(2,)]
    failures = queries.failures(c).to_pylist()
    assert [(f["tool_name"], f["impact_count"], f["ended_in"]) for f in failures] == [
        ("lookup_vendor", 1, "invoke_agent procurement")
    ] * 2
