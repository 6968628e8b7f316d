"""``semtrace.instrument(..., tracer_provider=...)``: the caller's provider wins."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import semtrace
from semtrace.integrations.instrument import uninstrument
from tests.integrations._llm_server import REPLY, LLMServer, llm_server


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with llm_server() as s:
        yield s


def test_a_callers_tracer_provider_receives_the_instrumentors_spans(server: LLMServer) -> None:
    """``instrument("openai", tracer_provider=mine)`` turns the instrumentor on with the
    caller's provider (no "multiple values for keyword argument"), and its spans go there."""
    exported = InMemorySpanExporter()
    mine = TracerProvider()
    mine.add_span_processor(SimpleSpanProcessor(exported))
    try:
        used = semtrace.instrument("openai", tracer_provider=mine)
        assert used == {"openai": "openinference.instrumentation.openai.OpenAIInstrumentor"}
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
        answer = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "capital of France?"}]
        )
    finally:
        uninstrument("openai")
    assert answer.choices[0].message.content == REPLY
    [span] = exported.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["openinference.span.kind"] == "LLM"
    assert span.attributes["llm.model_name"].startswith("gpt-4o-mini")
