"""Spans in every convention, sent by the real OTLP exporter, land in the same columns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from semtrace.collector.server import Collector
from tests.collector.conftest import rows
from tests.integrations._llm_server import llm_server

COLUMNS = (
    "name, agent_name, operation, tool_name, model, provider, input_tokens, output_tokens, "
    "session_id, task_id, error_type"
)


@pytest.fixture
def provider(collector: Collector) -> Iterator[TracerProvider]:
    """A TracerProvider of a foreign app exporting OTLP/HTTP protobuf to the collector."""
    tp = TracerProvider(resource=Resource.create({"service.name": "foreign-app"}))
    tp.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector.url + "/v1/traces"))
    )
    yield tp
    tp.shutdown()


def _emit(tp: TracerProvider, name: str, attrs: dict[str, Any], **kw: Any) -> None:
    status = kw.pop("status", None)
    with tp.get_tracer("instrumentation").start_as_current_span(name, attributes=attrs, **kw) as s:
        if status is not None:
            s.set_status(status)


def _row(c: Collector, name: str) -> dict[str, Any]:
    [(row, attributes)] = [
        (dict(zip([x.strip() for x in COLUMNS.split(",")], r[:-1], strict=True)), r[-1])
        for r in rows(c, f"select {COLUMNS}, attributes from spans where name = '{name}'")
    ]
    row["attributes"] = json.loads(attributes)
    return row


def test_otel_genai_current_conventions(collector: Collector, provider: TracerProvider) -> None:
    """Current GenAI attributes (provider.name, usage.*_tokens, conversation.id) map directly."""
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.agent.name": "procurement",
        "gen_ai.conversation.id": "conv-7",
        "error.type": "RateLimitError",
        "server.address": "api.openai.com",
    }
    _emit(provider, "chat gpt-4o", attrs, kind=SpanKind.CLIENT)
    row = _row(collector, "chat gpt-4o")
    assert row == {
        "name": "chat gpt-4o",
        "agent_name": "procurement",
        "operation": "chat",
        "tool_name": None,
        "model": "gpt-4o-2024-08-06",
        "provider": "openai",
        "input_tokens": 1200,
        "output_tokens": 300,
        "session_id": "conv-7",
        "task_id": None,
        "error_type": "RateLimitError",
        "attributes": attrs,
    }


def test_otel_genai_deprecated_forms(collector: Collector, provider: TracerProvider) -> None:
    """The deprecated gen_ai.system and usage.prompt/completion_tokens still fill the columns."""
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-3-5-sonnet",
        "gen_ai.usage.prompt_tokens": 40,
        "gen_ai.usage.completion_tokens": 9,
    }
    _emit(provider, "chat claude", attrs, kind=SpanKind.CLIENT)
    row = _row(collector, "chat claude")
    assert (row["provider"], row["model"], row["input_tokens"], row["output_tokens"]) == (
        "anthropic",
        "claude-3-5-sonnet",
        40,
        9,
    )
    assert row["attributes"] == attrs


def test_openinference_spans(collector: Collector, provider: TracerProvider) -> None:
    """OpenInference kinds, agent.name, graph.node.name, tool.name and session.id are mapped."""
    _emit(
        provider,
        "planner",
        {
            "openinference.span.kind": "AGENT",
            "graph.node.id": "planner",
            "graph.node.name": "planner",
            "graph.node.parent_id": "",
            "session.id": "sess-1",
        },
    )
    _emit(
        provider,
        "search_web",
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "search_web",
            "tool.parameters": '{"q": "string"}',
            "input.value": '{"q": "vendor"}',
            "input.mime_type": "application/json",
            "agent.name": "researcher",
        },
    )
    _emit(
        provider,
        "ChatOpenAI",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.system": "openai",
            "llm.provider": "openai",
            "llm.token_count.prompt": 21,
            "llm.token_count.completion": 7,
            "llm.token_count.total": 28,
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "hi",
        },
    )
    planner = _row(collector, "planner")
    assert (planner["operation"], planner["agent_name"], planner["session_id"]) == (
        "invoke_agent",
        "planner",
        "sess-1",
    )
    tool = _row(collector, "search_web")
    assert (tool["operation"], tool["tool_name"], tool["agent_name"]) == (
        "execute_tool",
        "search_web",
        "researcher",
    )
    llm = _row(collector, "ChatOpenAI")
    assert (llm["operation"], llm["model"], llm["provider"], llm["input_tokens"]) == (
        "chat",
        "gpt-4o-mini",
        "openai",
        21,
    )
    assert llm["output_tokens"] == 7
    assert llm["attributes"]["llm.input_messages.0.message.content"] == "hi"


def test_openllmetry_traceloop_spans(collector: Collector, provider: TracerProvider) -> None:
    """traceloop.span.kind / entity.name and OpenLLMetry's llm.* and gen_ai.* keys are mapped."""
    _emit(
        provider,
        "supplier_agent.agent",
        {
            "traceloop.span.kind": "agent",
            "traceloop.entity.name": "supplier_agent",
            "traceloop.workflow.name": "procure",
            "traceloop.association.properties.session_id": "s-9",
        },
    )
    _emit(
        provider,
        "lookup_vendor.tool",
        {"traceloop.span.kind": "tool", "traceloop.entity.name": "lookup_vendor"},
    )
    _emit(
        provider,
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-05-13",
            "gen_ai.usage.prompt_tokens": 15,
            "gen_ai.usage.completion_tokens": 5,
            "llm.usage.total_tokens": 20,
        },
        kind=SpanKind.CLIENT,
    )
    agent = _row(collector, "supplier_agent.agent")
    assert (agent["operation"], agent["agent_name"], agent["session_id"]) == (
        "invoke_agent",
        "supplier_agent",
        "s-9",
    )
    tool = _row(collector, "lookup_vendor.tool")
    assert (tool["operation"], tool["tool_name"]) == ("execute_tool", "lookup_vendor")
    llm = _row(collector, "openai.chat")
    assert (llm["operation"], llm["model"], llm["provider"]) == (
        "chat",
        "gpt-4o-2024-05-13",
        "openai",
    )
    assert (llm["input_tokens"], llm["output_tokens"]) == (15, 5)


def test_mcp_sdk_spans(collector: Collector, provider: TracerProvider) -> None:
    """MCP spans: 'tools/call {tool}' gives the tool, mcp.session.id the session,
    mcp.task.id the task, error.type tool_error the error."""
    attrs = {
        "mcp.method.name": "tools/call",
        "mcp.session.id": "mcp-sess-3",
        "mcp.protocol.version": "2025-11-25",
        "jsonrpc.request.id": "17",
        "mcp.task.id": "task-786512e2",
        "network.transport": "pipe",
        "error.type": "tool_error",
    }
    _emit(
        provider,
        "tools/call get_weather",
        attrs,
        kind=SpanKind.SERVER,
        status=Status(StatusCode.ERROR, "weather API down"),
    )
    _emit(provider, "resources/read", {"mcp.method.name": "resources/read"}, kind=SpanKind.CLIENT)
    row = _row(collector, "tools/call get_weather")
    assert {
        k: row[k] for k in ("operation", "tool_name", "session_id", "task_id", "error_type")
    } == {
        "operation": "execute_tool",
        "tool_name": "get_weather",
        "session_id": "mcp-sess-3",
        "task_id": "task-786512e2",
        "error_type": "tool_error",
    }
    assert row["attributes"] == attrs
    read = _row(collector, "resources/read")
    assert (read["operation"], read["tool_name"]) == ("resources/read", None)


def test_real_openinference_instrumentor_spans(
    collector: Collector, provider: TracerProvider
) -> None:
    """The real OpenInference OpenAI instrumentor's LLM span is normalised on ingest."""
    from openinference.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with llm_server() as server:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="k")
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "capital of France?"}]
            )
    finally:
        instrumentor.uninstrument()
    [(operation, model, provider_name, tokens_in, tokens_out, service, kind)] = rows(
        collector,
        """select operation, model, provider, input_tokens, output_tokens, service_name,
                  attributes->>'$."openinference.span.kind"' from spans""",
    )
    assert (operation, model, provider_name, tokens_in, tokens_out, service, kind) == (
        "chat",
        "gpt-4o-mini-2024-07-18",
        "openai",
        21,
        7,
        "foreign-app",
        "LLM",
    )
