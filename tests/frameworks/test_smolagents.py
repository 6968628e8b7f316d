"""smolagents under OpenInference, its model an OpenAI-compatible server on 127.0.0.1: the
agent named from its run span, tool and model calls with their inputs and outputs, and one
failure per failing run although smolagents wraps the tool's exception in its own at each
step."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from smolagents import OpenAIModel, ToolCallingAgent, tool

import semtrace
from semtrace.integrations import uninstrument
from semtrace.store import queries
from tests.frameworks.conftest import orphans_under_agents, rows


@tool
def lookup_vendor(vendor: str) -> str:
    """Find a vendor's id in the ERP.

    Args:
        vendor: the vendor's name
    """
    if vendor.startswith("bad"):
        raise ValueError(f"vendor {vendor} has no Last-updated value")
    return "V-1"


def _text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _reply(body: dict[str, Any]) -> dict[str, Any]:
    """A model that calls the tool with the task's last word, then gives the final answer:
    the tool's result, or that the vendor was not found when the tool failed."""
    last = _text(body["messages"][-1])
    if "Error executing tool" in last:  # smolagents adds the error to the task's message
        name, arguments = "final_answer", {"answer": "vendor not found"}
    elif "New task" in last:
        name, arguments = "lookup_vendor", {"vendor": last.split()[-1]}
    else:  # the tool's observation
        name, arguments = "final_answer", {"answer": last.split()[-1]}
    call = {"id": "call-1", "type": "function"}
    call["function"] = {"name": name, "arguments": json.dumps(arguments)}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        data = json.dumps(_reply(body)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def model_url() -> Iterator[str]:
    """An OpenAI-compatible chat completions server on a free 127.0.0.1 port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_smolagents_runs_land_normalised(configured: Any, con: Any, model_url: str) -> None:
    """Five runs, two whose tool fails (the agent then answers that it found nothing): the
    run span names the agent and every span under it belongs to it, tokens and the model's
    and tool's inputs and outputs are there, and the failures view has one row per failing
    run: the tool's, with the step that wrapped its exception as impact."""
    semtrace.instrument("smolagents")
    try:
        model = OpenAIModel(model_id="local-model", api_base=model_url, api_key="unused")
        agent = ToolCallingAgent(
            tools=[lookup_vendor], model=model, name="procurement", max_steps=3, verbosity_level=0
        )
        answers = [
            agent.run(f"find vendor {v}") for v in ("ok-1", "bad-1", "ok-2", "bad-2", "ok-3")
        ]
    finally:
        uninstrument("smolagents")
    assert answers == ["V-1", "vendor not found", "V-1", "vendor not found", "V-1"]
    c = con()
    assert orphans_under_agents(c) == []
    agents = {r["agent_name"]: r for r in rows(c, "SELECT * FROM agents")}
    assert {a: (r["calls"], r["errors"]) for a, r in agents.items()} == {"procurement": (5, 2)}
    # two model calls a run (the tool call, then the final answer), 12 + 3 tokens each
    assert (agents["procurement"]["input_tokens"], agents["procurement"]["output_tokens"]) == (
        120,
        30,
    )
    (llm, *_) = rows(c, "SELECT * FROM llm_calls ORDER BY start_time")
    assert (llm["agent_name"], llm["model"], llm["total_tokens"]) == (
        "procurement",
        "local-model",
        15,
    )
    assert "find vendor ok-1" in llm["prompt"] and "lookup_vendor" in llm["response"]
    tools = rows(
        c,
        "SELECT agent_name, arguments, result, status_code FROM tool_calls "
        "WHERE tool_name = 'lookup_vendor'",
    )
    assert sorted(
        (json.loads(t["arguments"])["kwargs"]["vendor"], t["result"], t["status_code"])
        for t in tools
    ) == [
        ("bad-1", None, "ERROR"),
        ("bad-2", None, "ERROR"),
        ("ok-1", "V-1", "OK"),
        ("ok-2", "V-1", "OK"),
        ("ok-3", "V-1", "OK"),
    ]
    assert {t["agent_name"] for t in tools} == {"procurement"}
    failures = queries.failures(c).to_pylist()
    assert len(failures) == 2 == queries.failure_count(c)
    assert c.sql("SELECT count(*) FROM failures").fetchall() == [(2,)]
    for f in failures:
        assert (
            f["tool_name"],
            f["agent_name"],
            f["error_type"],
            f["impact_count"],
            f["ended_in"],
        ) == (
            "lookup_vendor",
            "procurement",
            "ValueError",
            1,
            "Step 1",
        )


@pytest.fixture(autouse=True)
def _no_stray_instrumentation() -> Iterator[None]:
    yield
    uninstrument("smolagents")
