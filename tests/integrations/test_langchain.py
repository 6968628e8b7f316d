"""A LangGraph graph driven by langchain-core's fake chat model, instrumented by OpenInference."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from openinference.instrumentation import using_session

import semtrace
from semtrace.exceptions import ConfigurationError
from semtrace.integrations import instrumented, uninstrument


class FakeOpenAIChat(GenericFakeChatModel):
    """The fake chat model, named like a real one so the price table knows it."""

    model_name: str = "gpt-4o-mini"


def _reply(text: str, tokens_in: int, tokens_out: int) -> AIMessage:
    return AIMessage(
        content=text,
        usage_metadata={
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
    )


@pytest.fixture
def langchain_on(configured: Any) -> Iterator[None]:
    semtrace.instrument("langgraph")
    yield
    uninstrument("langchain")


def _graph() -> Any:
    model = FakeOpenAIChat(
        messages=iter([_reply("Book the 9:05 to Paris.", 40, 8), _reply("Approved.", 55, 2)])
    )

    def planner(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def reviewer(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("planner", planner)
    g.add_node("reviewer", reviewer)
    g.add_edge(START, "planner")
    g.add_edge("planner", "reviewer")
    g.add_edge("reviewer", END)
    return g.compile(name="travel")


def test_langgraph_run_lands_as_a_normalised_span_tree(langchain_on: None, con: Any) -> None:
    """Graph, node, agent and LLM spans nest in the store with agent, operation, model, tokens;
    the graph belongs to the agent that runs it, each node is an agent of its own."""
    graph = _graph()
    with semtrace.agent("travel_agent"):
        result = graph.invoke({"messages": [HumanMessage("Get me to Paris tomorrow")]})
    assert result["messages"][-1].content == "Approved."
    rel = con().sql(
        """SELECT span_id, parent_span_id, name, operation, agent_name, model,
                  input_tokens, output_tokens, cost_usd, status_code
           FROM spans ORDER BY start_time_ns"""
    )
    rows = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    by_id = {r["span_id"]: r for r in rows}

    def tree(parent: str | None, depth: int = 0) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for r in rows:
            if r["parent_span_id"] == parent or (
                parent is None and r["parent_span_id"] not in by_id
            ):
                out.append(
                    (
                        depth,
                        r["name"],
                        r["operation"],
                        r["agent_name"],
                        r["model"],
                        r["input_tokens"],
                        r["output_tokens"],
                    )
                )
                out += tree(r["span_id"], depth + 1)
        return out

    agent = "travel_agent"
    assert tree(None) == [
        (0, "invoke_agent travel_agent", "invoke_agent", agent, None, None, None),
        (1, "travel", "invoke_workflow", agent, None, None, None),
        (2, "planner", "invoke_workflow", "planner", None, None, None),
        (3, "FakeOpenAIChat", "chat", "planner", "gpt-4o-mini", 40, 8),
        (2, "reviewer", "invoke_workflow", "reviewer", None, None, None),
        (3, "FakeOpenAIChat", "chat", "reviewer", "gpt-4o-mini", 55, 2),
    ]
    llm_costs = [r["cost_usd"] for r in rows if r["operation"] == "chat"]
    assert llm_costs == [
        pytest.approx((40 * 0.15 + 8 * 0.6) / 1e6),
        pytest.approx((55 * 0.15 + 2 * 0.6) / 1e6),
    ]
    assert {r["status_code"] for r in rows} <= {"OK", "UNSET"}
    traces = con().sql("SELECT agents, input_tokens, output_tokens FROM traces").fetchall()
    assert traces == [(["planner", "reviewer", "travel_agent"], 95, 10)]
    calls = con().sql("SELECT agent_name, calls FROM agents ORDER BY 1").fetchall()
    assert calls == [("planner", 1), ("reviewer", 1), ("travel_agent", 1)]


def test_instrument_names_what_it_turned_on(langchain_on: None) -> None:
    """instrument() reports the instrumentor it used and remembers the integration."""
    assert semtrace.instrument("langchain") == {
        "langchain": "openinference.instrumentation.langchain.LangChainInstrumentor"
    }
    assert "langchain" in instrumented()


def test_unknown_or_missing_integration_says_what_to_install() -> None:
    """A name without an installed instrumentor fails with the pip line that fixes it."""
    with pytest.raises(
        ConfigurationError, match=r"pip install crewai openinference-instrumentation-crewai"
    ):
        semtrace.instrument("crewai")
    with pytest.raises(ConfigurationError, match=r"known: .*langchain"):
        semtrace.instrument("no-such-framework")


def test_configure_instrument_turns_integrations_on(db_path: Any) -> None:
    """configure(instrument=[...]) instruments by name; a call in an OpenInference session
    lands with its session_id."""
    semtrace.configure(service_name="lc", db=db_path, instrument=["langchain"])
    try:
        assert "langchain" in instrumented()
        with using_session("conversation-42"):
            FakeOpenAIChat(messages=iter([_reply("ok", 3, 1)])).invoke("hi")
        semtrace.force_flush()
        rows = semtrace.query(
            "SELECT operation, model, input_tokens, session_id FROM spans",
            db=db_path,
            format="arrow",
        ).to_pylist()
        assert rows == [
            {
                "operation": "chat",
                "model": "gpt-4o-mini",
                "input_tokens": 3,
                "session_id": "conversation-42",
            }
        ]
    finally:
        uninstrument()
        semtrace.shutdown()
        from semtrace.tracer.setup import STATE

        STATE.settings = None
