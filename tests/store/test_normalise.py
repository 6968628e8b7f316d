"""Attributes of every convention map onto the same normalised columns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from semtrace.pricing import reset_prices, set_prices
from semtrace.store.normalise import Normalised, normalise


@pytest.fixture(autouse=True)
def _prices() -> Iterator[None]:
    yield
    reset_prices()


def test_genai_current() -> None:
    """Current GenAI attributes: operation, agent, model (response over request), provider,
    tokens, conversation id, error.type, and cost from the price table."""
    got = normalise(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.agent.name": "planner",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 2000,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.conversation.id": "conv-9",
            "error.type": "RateLimitError",
        }
    )
    assert got == Normalised(
        agent_name="planner",
        operation="chat",
        tool_name=None,
        model="gpt-4o-2024-08-06",
        provider="openai",
        input_tokens=2000,
        output_tokens=100,
        cost_usd=pytest.approx((2000 * 2.5 + 100 * 10.0) / 1e6),
        session_id="conv-9",
        task_id=None,
        error_type="RateLimitError",
    )


def test_genai_deprecated_forms() -> None:
    """Deprecated gen_ai.system and prompt/completion token keys fill the same columns."""
    got = normalise(
        {
            "gen_ai.operation.name": "text_completion",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-haiku-latest",
            "gen_ai.usage.prompt_tokens": "300",  # some exporters send strings
            "gen_ai.usage.completion_tokens": 40,
        }
    )
    assert got == Normalised(
        agent_name=None,
        operation="text_completion",
        tool_name=None,
        model="claude-3-5-haiku-latest",
        provider="anthropic",
        input_tokens=300,
        output_tokens=40,
        cost_usd=pytest.approx((300 * 0.8 + 40 * 4.0) / 1e6),
        session_id=None,
        task_id=None,
        error_type=None,
    )


def test_current_keys_win_over_deprecated() -> None:
    """When both forms are present the current key wins."""
    got = normalise(
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.system": "old",
            "gen_ai.usage.input_tokens": 5,
            "gen_ai.usage.prompt_tokens": 7,
        }
    )
    assert (got.provider, got.input_tokens) == ("openai", 5)


def test_genai_tool_and_agent_spans() -> None:
    """A tool span gives tool_name; the inherited semtrace.agent.name gives its agent."""
    got = normalise(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search_flights",
            "semtrace.agent.name": "supervisor",
        }
    )
    assert (got.operation, got.tool_name, got.agent_name) == (
        "execute_tool",
        "search_flights",
        "supervisor",
    )


def test_openinference() -> None:
    """OpenInference LLM spans: kind to operation, llm.* model/provider/tokens, session."""
    got = normalise(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.provider": "openai",
            "llm.token_count.prompt": 100,
            "llm.token_count.completion": 20,
            "session.id": "s-1",
        }
    )
    assert got == Normalised(
        agent_name=None,
        operation="chat",
        tool_name=None,
        model="gpt-4o-mini",
        provider="openai",
        input_tokens=100,
        output_tokens=20,
        cost_usd=pytest.approx((100 * 0.15 + 20 * 0.6) / 1e6),
        session_id="s-1",
        task_id=None,
        error_type=None,
    )
    agent = normalise({"openinference.span.kind": "AGENT", "graph.node.name": "researcher"})
    assert (agent.operation, agent.agent_name) == ("invoke_agent", "researcher")
    tool = normalise({"openinference.span.kind": "TOOL", "tool.name": "calculator"})
    assert (tool.operation, tool.tool_name) == ("execute_tool", "calculator")


def test_openllmetry() -> None:
    """OpenLLMetry (Traceloop) kinds, entity names and llm.usage.* tokens."""
    tool = normalise({"traceloop.span.kind": "tool", "traceloop.entity.name": "weather"})
    assert (tool.operation, tool.tool_name) == ("execute_tool", "weather")
    agent = normalise({"traceloop.span.kind": "agent", "traceloop.entity.name": "triage"})
    assert (agent.operation, agent.agent_name) == ("invoke_agent", "triage")
    llm = normalise(
        {
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o",
            "llm.usage.prompt_tokens": 11,
            "llm.usage.completion_tokens": 3,
            "traceloop.association.properties.session_id": "chat-7",
        }
    )
    assert (llm.operation, llm.input_tokens, llm.output_tokens, llm.session_id) == (
        "chat",
        11,
        3,
        "chat-7",
    )


def test_mcp() -> None:
    """MCP SDK spans: tools/call is execute_tool; task and session ids are kept."""
    got = normalise(
        {
            "mcp.method.name": "tools/call",
            "gen_ai.tool.name": "get_weather",
            "mcp.session.id": "mcp-s",
            "mcp.task.id": "task-1",
        }
    )
    assert (got.operation, got.tool_name, got.session_id, got.task_id) == (
        "execute_tool",
        "get_weather",
        "mcp-s",
        "task-1",
    )
    assert normalise({"mcp.method.name": "tasks/get"}).operation == "tasks/get"


def test_cost_sources() -> None:
    """An explicit cost wins over the price table; set_prices changes the table; an unknown
    model costs NULL, not zero."""
    tokens = {"gen_ai.usage.input_tokens": 1_000_000, "gen_ai.usage.output_tokens": 0}
    explicit = normalise({**tokens, "gen_ai.request.model": "gpt-4o", "semtrace.cost_usd": 9.5})
    assert explicit.cost_usd == 9.5
    set_prices({"gpt-4o": (1.0, 1.0)})
    assert normalise({**tokens, "gen_ai.request.model": "gpt-4o"}).cost_usd == 1.0
    assert normalise({**tokens, "gen_ai.request.model": "unknown-llm"}).cost_usd is None
    assert normalise({"gen_ai.request.model": "gpt-4o"}).cost_usd is None  # no tokens


def test_error_type_from_exception_only_on_error() -> None:
    """The exception type fills error_type only when the span's status is ERROR."""
    assert normalise({}, exception_type="ValueError", status_code="ERROR").error_type == (
        "ValueError"
    )
    assert normalise({}, exception_type="ValueError", status_code="OK").error_type is None


def test_garbage_values_are_ignored() -> None:
    """Token counts that are not numbers, and booleans, are left NULL instead of failing."""
    got = normalise({"gen_ai.usage.input_tokens": "many", "gen_ai.usage.output_tokens": True})
    assert (got.input_tokens, got.output_tokens) == (None, None)
