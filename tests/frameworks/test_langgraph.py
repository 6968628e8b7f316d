"""LangGraph under OpenInference (langchain-core's fake chat model): node agents, tool and
model calls with their inputs and outputs, and one failure per failing run."""

from __future__ import annotations

import contextlib
from typing import Any, TypedDict

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph

import semtrace
from semtrace.integrations import uninstrument
from semtrace.store import queries
from tests.frameworks.conftest import orphans_under_agents, rows


@tool
def lookup_vendor(vendor: str) -> str:
    """Find a vendor's id in the ERP."""
    if vendor.startswith("bad"):
        raise ValueError(f"vendor {vendor} has no Last-updated value")
    return "V-1"


class State(TypedDict):
    vendor: str
    answer: str


def _graph() -> Any:
    reply = AIMessage(
        content="look it up",
        usage_metadata={"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
    )
    model = GenericFakeChatModel(messages=iter([reply] * 10))

    def plan(state: State) -> dict[str, Any]:
        return {"answer": model.invoke(f"which vendor is {state['vendor']}?").content}

    def act(state: State) -> dict[str, Any]:
        return {"answer": lookup_vendor.invoke({"vendor": state["vendor"]})}

    g = StateGraph(State)
    g.add_node("plan", plan)
    g.add_node("act", act)
    g.add_edge(START, "plan")
    g.add_edge("plan", "act")
    g.add_edge("act", END)
    return g.compile(name="procurement_graph")


def test_langgraph_runs_land_normalised(configured: Any, con: Any) -> None:
    """Five runs, two failing in the tool: nodes are agents (the graph's span is named by
    the graph), every span under them has one, tokens and the model's and tool's inputs and
    outputs are there, and the failures view has exactly one row per failing run."""
    semtrace.instrument("langgraph")
    try:
        graph = _graph()
        for vendor in ("ok-1", "bad-1", "ok-2", "bad-2", "ok-3"):
            with contextlib.suppress(ValueError):
                graph.invoke({"vendor": vendor})
    finally:
        uninstrument("langchain")
    c = con()
    assert orphans_under_agents(c) == []
    agents = {r["agent_name"]: r for r in rows(c, "SELECT * FROM agents")}
    assert {a: (r["calls"], r["errors"]) for a, r in agents.items()} == {
        "procurement_graph": (5, 0),
        "plan": (5, 0),
        "act": (5, 2),
    }
    assert agents["plan"]["input_tokens"] == 60 and agents["plan"]["output_tokens"] == 15
    (llm, *_) = rows(c, "SELECT * FROM llm_calls ORDER BY start_time")
    assert (llm["agent_name"], llm["total_tokens"]) == ("plan", 15)
    assert "which vendor is ok-1?" in llm["prompt"] and "look it up" in llm["response"]
    tools = rows(c, "SELECT agent_name, arguments, result, status_code FROM tool_calls")
    assert sorted((t["arguments"], t["result"], t["status_code"]) for t in tools) == [
        ("bad-1", None, "ERROR"),
        ("bad-2", None, "ERROR"),
        ("ok-1", "V-1", "OK"),
        ("ok-2", "V-1", "OK"),
        ("ok-3", "V-1", "OK"),
    ]
    assert {t["agent_name"] for t in tools} == {"act"}
    failures = queries.failures(c).to_pylist()
    assert len(failures) == 2 == queries.failure_count(c)
    assert c.sql("SELECT count(*) FROM failures").fetchall() == [(2,)]
    for f in failures:
        assert (f["name"], f["agent_name"], f["impact_count"], f["ended_in"]) == (
            "lookup_vendor",
            "act",
            2,
            "procurement_graph",
        )
        # LangChain puts the traceback in the status: the first line stays, the traceback
        # moved to the exception event.
        assert "Traceback" not in f["status_message"]
        assert f["status_message"].startswith("ValueError(")


@pytest.fixture(autouse=True)
def _no_stray_instrumentation() -> Any:
    yield
    uninstrument("langchain")
