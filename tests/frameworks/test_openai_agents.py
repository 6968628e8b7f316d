"""The OpenAI Agents SDK with a local model (no network), instrumented by OpenInference,
exporting OTLP/HTTP to `semtrace serve`: agent names, tool calls with their inputs and
outputs, model calls with tokens, one failure per failing run."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, Runner, function_tool
from agents.items import ModelResponse
from agents.models.interface import Model
from agents.tracing import generation_span
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from semtrace.store import queries
from semtrace.store.database import connect_readonly
from semtrace.store.ownership import read_announcement
from tests.frameworks.conftest import orphans_under_agents, rows

SEMTRACE = str(Path(sys.executable).parent / "semtrace")


class LocalModel(Model):
    """A model that answers without a network: first it calls the tool with the user's text,
    then it answers with the tool's output. It reports usage as a real model adapter does,
    in a generation span."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_response(  # type: ignore[override]
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        self.calls += 1
        last = input[-1] if isinstance(input, list) else {"content": input}
        if last.get("type") == "function_call_output":
            out: list[Any] = [
                ResponseOutputMessage(
                    id="m1",
                    type="message",
                    role="assistant",
                    status="completed",
                    content=[
                        ResponseOutputText(
                            type="output_text", text=f"vendor id {last['output']}", annotations=[]
                        )
                    ],
                )
            ]
        else:
            out = [
                ResponseFunctionToolCall(
                    id="f1",
                    call_id=f"call-{self.calls}",
                    type="function_call",
                    name="lookup_vendor",
                    arguments=json.dumps({"vendor": last["content"]}),
                )
            ]
        usage = {"input_tokens": 11, "output_tokens": 4}
        with generation_span(
            input=input if isinstance(input, list) else [{"role": "user", "content": input}],
            output=[o.model_dump() for o in out],
            model="local-model",
            usage=usage,
        ):
            return ModelResponse(
                output=out,
                usage=Usage(requests=1, input_tokens=11, output_tokens=4, total_tokens=15),
                response_id=None,
            )

    async def stream_response(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError
        yield


@function_tool(failure_error_function=None)
def lookup_vendor(vendor: str) -> str:
    """Find a vendor's id in the ERP."""
    if vendor.startswith("bad"):
        raise ValueError(f"vendor {vendor} has no Last-updated value")
    return "V-1"


@pytest.fixture
def serve(db_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """`semtrace serve` for the test's file: its base URL, and a stop() that ends it with
    SIGTERM (everything committed) so the file can be read."""
    proc = subprocess.Popen(
        [SEMTRACE, "serve", "--db", str(db_path), "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0

    try:
        deadline = time.monotonic() + 60
        while (ann := read_announcement(db_path)) is None or ann.pid != proc.pid:
            assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "semtrace serve did not start"
            time.sleep(0.05)
        yield ann.url, stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_openai_agents_runs_land_normalised_through_serve(
    serve: tuple[str, Callable[[], None]], db_path: Path
) -> None:
    """Four runs over OTLP/HTTP, two failing in the tool: the agent has its calls and its
    tool and model calls (tokens from the model's usage), the tool's arguments and result
    are in tool_calls, and the failures view counts one failure per failing run."""
    provider = TracerProvider()
    url, stop = serve
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{url}/v1/traces")))
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        agent = Agent(name="procurement", instructions="find vendors", model=LocalModel(),
                      tools=[lookup_vendor])  # fmt: skip

        async def run_all() -> list[str]:
            outcomes = []
            for vendor in ("ok-1", "bad-1", "ok-2", "bad-2"):
                try:
                    outcomes.append((await Runner.run(agent, vendor)).final_output)
                except Exception as exc:
                    outcomes.append(type(exc).__name__)
            return outcomes

        assert asyncio.run(run_all()) == ["vendor id V-1", "UserError"] * 2
        provider.force_flush()
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    stop()  # the collector committed every batch before answering it
    con = connect_readonly(db_path)
    assert orphans_under_agents(con) == []
    (agent_row,) = rows(con, "SELECT * FROM agents")
    assert (agent_row["agent_name"], agent_row["calls"], agent_row["errors"]) == (
        "procurement",
        4,
        2,
    )
    assert (agent_row["tool_calls"], agent_row["llm_calls"]) == (4, 6)
    assert (agent_row["input_tokens"], agent_row["output_tokens"]) == (66, 24)
    tools = rows(con, "SELECT agent_name, arguments, result, status_code FROM tool_calls")
    assert sorted((json.loads(t["arguments"])["vendor"], t["result"]) for t in tools) == [
        ("bad-1", None),
        ("bad-2", None),
        ("ok-1", "V-1"),
        ("ok-2", "V-1"),
    ]
    llm = rows(con, "SELECT model, total_tokens, prompt, response FROM llm_calls")
    assert {(r["model"], r["total_tokens"]) for r in llm} == {("local-model", 15)}
    assert all(r["prompt"] and r["response"] for r in llm)
    assert con.sql("SELECT count(*) FROM failures").fetchall() == [(2,)]
    assert queries.failure_count(con) == 2
    for f in queries.failures(con).to_pylist():
        assert (f["name"], f["agent_name"], f["impact_count"]) == (
            "lookup_vendor",
            "procurement",
            1,
        )
