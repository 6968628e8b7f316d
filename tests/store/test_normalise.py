"""Attributes of every convention map onto the same normalised columns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from semtrace.pricing import reset_prices, set_prices
from semtrace.store.normalise import Normalised, normalise, readable_status


@pytest.fixture(autouse=True)
def _prices() -> Iterator[None]:
    yield
    reset_prices()


FULL_ROWS = [
    pytest.param(
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
        },
        Normalised(
            agent_name="planner",
            operation="chat",
            tool_name=None,
            model="gpt-4o-2024-08-06",  # the response model wins over the request model
            provider="openai",
            input_tokens=2000,
            output_tokens=100,
            cost_usd=pytest.approx((2000 * 2.5 + 100 * 10.0) / 1e6),
            session_id="conv-9",
            task_id=None,
            error_type="RateLimitError",
        ),
        id="genai-current",
    ),
    pytest.param(
        {
            "gen_ai.operation.name": "text_completion",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-haiku-latest",
            "gen_ai.usage.prompt_tokens": "300",  # some exporters send strings
            "gen_ai.usage.completion_tokens": 40,
        },
        Normalised(
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
        ),
        id="genai-deprecated-forms",
    ),
    pytest.param(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.provider": "openai",
            "llm.token_count.prompt": 100,
            "llm.token_count.completion": 20,
            "session.id": "s-1",
        },
        Normalised(
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
        ),
        id="openinference-llm",
    ),
]


@pytest.mark.parametrize(("attributes", "expected"), FULL_ROWS)
def test_llm_span_fills_every_column(attributes: dict[str, object], expected: Normalised) -> None:
    """An LLM span of each convention (current GenAI, deprecated GenAI keys, OpenInference)
    fills operation, agent, model, provider, tokens, session, error.type, and the cost from
    the price table."""
    assert normalise(attributes) == expected


SOME_COLUMNS = [
    pytest.param(
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.system": "old",
            "gen_ai.usage.input_tokens": 5,
            "gen_ai.usage.prompt_tokens": 7,
        },
        {"provider": "openai", "input_tokens": 5},
        id="genai-current-keys-win-over-deprecated",
    ),
    pytest.param(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search_flights",
            "semtrace.agent.name": "supervisor",
        },
        {"operation": "execute_tool", "tool_name": "search_flights", "agent_name": "supervisor"},
        id="genai-tool-with-inherited-agent",
    ),
    pytest.param(
        {"openinference.span.kind": "AGENT", "graph.node.name": "researcher"},
        {"operation": "invoke_agent", "agent_name": "researcher"},
        id="openinference-agent",
    ),
    pytest.param(
        {"openinference.span.kind": "TOOL", "tool.name": "calculator"},
        {"operation": "execute_tool", "tool_name": "calculator"},
        id="openinference-tool",
    ),
    pytest.param(
        {"traceloop.span.kind": "tool", "traceloop.entity.name": "weather"},
        {"operation": "execute_tool", "tool_name": "weather"},
        id="openllmetry-tool",
    ),
    pytest.param(
        {"traceloop.span.kind": "agent", "traceloop.entity.name": "triage"},
        {"operation": "invoke_agent", "agent_name": "triage"},
        id="openllmetry-agent",
    ),
    pytest.param(
        {
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o",
            "llm.usage.prompt_tokens": 11,
            "llm.usage.completion_tokens": 3,
            "traceloop.association.properties.session_id": "chat-7",
        },
        {"operation": "chat", "input_tokens": 11, "output_tokens": 3, "session_id": "chat-7"},
        id="openllmetry-llm",
    ),
    pytest.param(
        {
            "mcp.method.name": "tools/call",
            "gen_ai.tool.name": "get_weather",
            "mcp.session.id": "mcp-s",
            "mcp.task.id": "task-1",
        },
        {
            "operation": "execute_tool",
            "tool_name": "get_weather",
            "session_id": "mcp-s",
            "task_id": "task-1",
        },
        id="mcp-tools-call",
    ),
    pytest.param(
        {"mcp.method.name": "tasks/get"}, {"operation": "tasks/get"}, id="mcp-other-method"
    ),
]


@pytest.mark.parametrize(("attributes", "expected"), SOME_COLUMNS)
def test_convention_attributes_map_to_columns(
    attributes: dict[str, object], expected: dict[str, object]
) -> None:
    """Agent, tool and LLM attributes of GenAI (current keys winning over deprecated ones),
    OpenInference, OpenLLMetry and MCP land in the named normalised columns."""
    got = normalise(attributes)
    assert {column: getattr(got, column) for column in expected} == expected


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


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"input.value": "hi", "output.value": "ho"}, ("hi", "ho")),  # OpenInference
        (
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": '[{"role": "user", "parts": []}]',
                "gen_ai.output.messages": '[{"role": "assistant", "parts": []}]',
            },
            ('[{"role": "user", "parts": []}]', '[{"role": "assistant", "parts": []}]'),
        ),
        (
            {"gen_ai.tool.call.arguments": '{"a": 1}', "gen_ai.tool.call.result": 2},
            ('{"a": 1}', "2"),
        ),
        ({"tool_arguments": '{"a": 1}', "tool_response": "ok"}, ('{"a": 1}', "ok")),  # pydantic-ai
        ({"traceloop.entity.input": "x", "traceloop.entity.output": "y"}, ("x", "y")),
        ({"semtrace.input": "x", "semtrace.output": ["y", "z"]}, ("x", '["y","z"]')),
    ],
)
def test_input_and_output_from_every_convention(
    attributes: dict[str, object], expected: tuple[str, str]
) -> None:
    """Whatever convention carried a span's input and output, the input/output columns hold
    them as text (a structured value as JSON)."""
    got = normalise(attributes)
    assert (got.input, got.output) == expected


@pytest.mark.parametrize(
    ("attributes", "name", "agent"),
    [
        ({"gen_ai.agent.name": "a", "semtrace.agent.name": "outer"}, "x", "a"),
        ({"gen_ai.operation.name": "invoke_agent", "agent_name": "legacy"}, "x", "legacy"),
        ({"openinference.span.kind": "AGENT", "agent.name": "oi"}, "x", "oi"),
        ({"metadata": '{"langgraph_node": "plan", "langgraph_step": 1}'}, "x", "plan"),
        ({"metadata": '{"ls_integration": "langgraph"}'}, "travel_graph", "travel_graph"),
        ({"metadata": '{"langgraph_node": "plan"}', "semtrace.agent.name": "outer"}, "x", "plan"),
        ({"metadata": '{"ls_integration": "langgraph"}', "semtrace.agent.name": "o"}, "g", "o"),
        ({"metadata": "not json langgraph"}, "x", None),
        ({"openinference.span.kind": "AGENT"}, "procurement.run", "procurement"),  # smolagents
        ({"openinference.span.kind": "AGENT"}, "Agent workflow", None),  # a trace's name
        ({"openinference.span.kind": "CHAIN"}, "procurement.run", None),
        # OpenInference CrewAI: a task's AGENT span names the agent's role in graph.node.id
        (
            {"openinference.span.kind": "AGENT", "graph.node.id": "Vendor analyst"},
            "Vendor analyst._execute_core",
            "Vendor analyst",
        ),
        (
            {"openinference.span.kind": "AGENT", "graph.node.id": "Vendor analyst"},
            "Vendor analyst.check vendor._execute_core",  # a named task
            "Vendor analyst",
        ),
        # OpenInference AutoGen agentchat: an AssistantAgent's turn, and another chat agent's
        # (named, but no graph.node.id)
        (
            {
                "openinference.span.kind": "AGENT",
                "graph.node.id": "planner",
                "graph.node.parent_id": "user",
            },
            "planner.on_messages_stream",
            "planner",
        ),
        ({"openinference.span.kind": "AGENT"}, "triage.on_messages_stream", "triage"),
        # a generated graph.node.id (Agno) names no agent, nor does a CHAIN span's
        ({"openinference.span.kind": "AGENT", "graph.node.id": "9f86d081884c7d65"}, "x", None),
        ({"openinference.span.kind": "CHAIN", "graph.node.id": "triage"}, "x", None),
        # OpenLLMetry CrewAI: the agent span, with the Agent's fields as crewai.agent.* (older
        # versions: no gen_ai.agent.name, no traceloop.entity.name), or named after it only
        (
            {"traceloop.span.kind": "agent", "crewai.agent.role": "Vendor analyst"},
            "Vendor analyst.agent",
            "Vendor analyst",
        ),
        ({"traceloop.span.kind": "agent"}, "Vendor analyst.agent", "Vendor analyst"),
        (
            {
                "traceloop.span.kind": "agent",
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "Vendor analyst",
            },
            "Vendor analyst.agent",
            "Vendor analyst",
        ),
        ({"traceloop.span.kind": "task"}, "Check the vendor.task", None),
    ],
)
def test_agent_identity_from_every_convention(
    attributes: dict[str, object], name: str, agent: str | None
) -> None:
    """The agent comes from GenAI (current and pydantic-ai's older key), OpenInference and
    LangGraph's node (more specific than semtrace's ambient agent); a LangGraph graph's own
    span is named by the graph; an OpenInference AGENT span that names no agent but is named
    after its entry point (smolagents' ``procurement.run``) is that agent's. CrewAI and
    AutoGen as their instrumentors send them: OpenInference's AGENT span with the role or
    name in ``graph.node.id`` (unless it is a generated id), OpenLLMetry's ``{role}.agent``
    span with ``crewai.agent.role``."""
    assert normalise(attributes, name=name).agent_name == agent


def test_readable_status() -> None:
    """A status that carries a traceback keeps the error's own line; the traceback is
    returned to go to the exception event; one line stays as it is."""
    lc = "ValueError('no vendor')Traceback (most recent call last):\n  File \"x\"\nValueError: no vendor"
    assert readable_status(lc) == ("ValueError('no vendor')", lc[len("ValueError('no vendor')") :])
    only_tb = "Traceback (most recent call last):\n  File \"x\"\nKeyError: 'id'"
    assert readable_status(only_tb) == ("KeyError: 'id'", only_tb)
    assert readable_status("one line") == ("one line", None)
    assert readable_status("first\nsecond") == ("first", "first\nsecond")
    assert readable_status("x" * 1000) == ("x" * 1000, None)  # the store bounds it


def test_openinference_tokens_count_on_llm_spans_only() -> None:
    """OpenInference token counts on an AGENT or CHAIN span (smolagents' run totals) repeat
    its model calls' and fill no token column; on an LLM span they are the call's."""
    counts = {"llm.token_count.prompt": 24, "llm.token_count.completion": 6}
    run = normalise({"openinference.span.kind": "AGENT", **counts}, name="procurement.run")
    llm = normalise({"openinference.span.kind": "LLM", **counts})
    assert (run.input_tokens, run.output_tokens) == (None, None)
    assert (llm.input_tokens, llm.output_tokens) == (24, 6)


def test_a_str_subclass_is_stored_as_text() -> None:
    """An output that is a str subclass (smolagents' AgentText) is its text, not JSON."""

    class AgentText(str):
        pass

    assert normalise({"output.value": AgentText("V-1")}).output == "V-1"
