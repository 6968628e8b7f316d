"""wrap_openai and the OpenInference OpenAI instrumentor against a local OpenAI-compatible server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

import semtrace
from tests.integrations._llm_server import REPLY, LLMServer, llm_server

COLUMNS = (
    "name, kind, operation, provider, model, input_tokens, output_tokens, "
    "round(cost_usd, 9) AS cost, status_code, error_type, agent_name, attributes"
)


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with llm_server() as s:
        yield s


def _rows(con: Any, where: str = "true") -> list[dict[str, Any]]:
    rel = con().sql(f"SELECT {COLUMNS} FROM spans WHERE {where} ORDER BY start_time_ns")
    rows = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    for r in rows:
        r["attributes"] = json.loads(r["attributes"])
    return rows


def test_wrapped_sync_chat_records_model_tokens_cost_and_finish_reason(
    configured: Any, con: Any, server: LLMServer
) -> None:
    """A wrapped client's chat completion becomes one CLIENT span with normalised columns."""
    client = semtrace.wrap_openai(openai.OpenAI(base_url=server.url + "/v1", api_key="k"))
    with semtrace.agent("planner"):
        reply = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "capital of France?"}],
            temperature=0.2,
        )
    assert reply.choices[0].message.content == REPLY
    [llm] = _rows(con, "operation = 'chat'")
    attrs = llm.pop("attributes")
    assert llm == {
        "name": "chat gpt-4o-mini",
        "kind": "CLIENT",
        "operation": "chat",
        "provider": "openai",
        "model": "gpt-4o-mini-2024-07-18",
        "input_tokens": 21,
        "output_tokens": 7,
        "cost": round((21 * 0.15 + 7 * 0.60) / 1e6, 9),
        "status_code": "OK",
        "error_type": None,
        "agent_name": "planner",
    }
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 4
    assert attrs["server.address"] == "127.0.0.1"
    assert "gen_ai.input.messages" not in attrs  # content is opt-in


def test_content_is_recorded_only_when_opted_in_by_env(
    configured: Any, con: Any, server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true records messages in GenAI shape."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    client = semtrace.wrap_openai(openai.OpenAI(base_url=server.url + "/v1", api_key="k"))
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "capital of France?"},
        ],
    )
    [llm] = _rows(con)
    attrs = llm["attributes"]
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "capital of France?"}]}
    ]
    assert json.loads(attrs["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "Be brief."}
    ]
    assert json.loads(attrs["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": REPLY}],
            "finish_reason": "stop",
        }
    ]


def test_content_capture_leaves_a_one_shot_iterable_of_messages_to_the_sdk(
    configured: Any, con: Any, server: LLMServer
) -> None:
    """With capture on, messages given as a generator still reach the server intact."""
    client = semtrace.wrap_openai(
        openai.OpenAI(base_url=server.url + "/v1", api_key="k"), capture_content=True
    )
    messages = (m for m in [{"role": "user", "content": "capital of France?"}])
    client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert server.requests[-1]["body"]["messages"] == [
        {"role": "user", "content": "capital of France?"}
    ]
    [llm] = _rows(con)
    assert "gen_ai.input.messages" not in llm["attributes"]
    assert (
        json.loads(llm["attributes"]["gen_ai.output.messages"])[0]["parts"][0]["content"] == REPLY
    )


async def test_wrapped_async_chat_and_embeddings(
    configured: Any, con: Any, server: LLMServer
) -> None:
    """An async client's chat and embedding calls are recorded with their operations."""
    client = semtrace.wrap_openai(openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="k"))
    reply = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    emb = await client.embeddings.create(model="text-embedding-3-small", input="hi")
    assert reply.choices[0].message.content == REPLY
    assert emb.data[0].embedding == [0.1, 0.2, 0.3]
    rows = [
        (r["name"], r["operation"], r["model"], r["input_tokens"], r["output_tokens"])
        for r in _rows(con)
    ]
    assert rows == [
        ("chat gpt-4o", "chat", "gpt-4o-2024-07-18", 21, 7),
        ("embeddings text-embedding-3-small", "embeddings", "text-embedding-3-small", 5, None),
    ]


def test_sync_stream_records_usage_and_time_to_first_chunk(
    configured: Any, con: Any, server: LLMServer
) -> None:
    """A stream read to the end ends its span with the streamed usage and finish reason."""
    client = semtrace.wrap_openai(openai.OpenAI(base_url=server.url + "/v1", api_key="k"))
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == REPLY
    [llm] = _rows(con)
    assert (llm["input_tokens"], llm["output_tokens"], llm["status_code"]) == (21, 7, "OK")
    assert llm["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert llm["attributes"]["gen_ai.request.stream"] is True
    assert llm["attributes"]["gen_ai.response.time_to_first_chunk"] >= 0


async def test_async_stream_closed_early_still_ends_its_span(
    configured: Any, con: Any, server: LLMServer
) -> None:
    """An async stream left after the first chunk ends its span when closed (no usage yet)."""
    client = semtrace.wrap_openai(openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="k"))
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    async with stream:
        async for chunk in stream:
            assert chunk.choices[0].delta.content == "Paris"
            break
    [llm] = _rows(con)
    assert (llm["name"], llm["model"], llm["input_tokens"]) == (
        "chat gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        None,
    )


def test_responses_api_plain_and_streamed(configured: Any, con: Any, server: LLMServer) -> None:
    """client.responses.create is recorded too, with usage from the final stream event."""
    client = semtrace.wrap_openai(openai.OpenAI(base_url=server.url + "/v1", api_key="k"))
    resp = client.responses.create(model="gpt-4o-mini", input="capital of France?")
    assert resp.output_text == REPLY
    events = list(client.responses.create(model="gpt-4o", input="again?", stream=True))
    assert events[-1].type == "response.completed"
    rows = [
        (
            r["name"],
            r["model"],
            r["input_tokens"],
            r["output_tokens"],
            r["attributes"]["gen_ai.response.finish_reasons"],
            r["attributes"]["gen_ai.usage.reasoning.output_tokens"],
        )
        for r in _rows(con)
    ]
    assert rows == [
        ("chat gpt-4o-mini", "gpt-4o-mini-2024-07-18", 18, 6, ["completed"], 2),
        ("chat gpt-4o", "gpt-4o-2024-07-18", 18, 6, ["completed"], 2),
    ]


def test_api_error_is_recorded_and_reraised(configured: Any, con: Any, server: LLMServer) -> None:
    """A 429 from the API marks the span ERROR with the SDK's exception type and a sentence."""
    client = semtrace.wrap_openai(
        openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    )
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="rate-limited", messages=[{"role": "user", "content": "hi"}]
        )
    [llm] = _rows(con)
    assert llm["status_code"] == "ERROR"
    assert llm["error_type"] == "openai.RateLimitError"
    assert "LLM call to rate-limited failed" in llm["attributes"]["semtrace.sentence"]


def test_with_options_copies_stay_wrapped(configured: Any, con: Any, server: LLMServer) -> None:
    """A client made by with_options() from a wrapped one records its calls too."""
    client = semtrace.wrap_openai(openai.OpenAI(base_url=server.url + "/v1", api_key="k"))
    client.with_options(timeout=5).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}]
    )
    assert [r["name"] for r in _rows(con)] == ["chat gpt-4o"]


def test_wrapping_twice_records_one_span(configured: Any, con: Any, server: LLMServer) -> None:
    """wrap_openai on an already wrapped client changes nothing."""
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="k")
    assert semtrace.wrap_openai(semtrace.wrap_openai(client)) is client
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert len(_rows(con)) == 1


def test_openinference_instrumentor_lands_in_the_same_columns(
    configured: Any, con: Any, server: LLMServer
) -> None:
    """semtrace.instrument('openai') turns on OpenInference; its LLM span is normalised too."""
    assert semtrace.instrument("openai") == {
        "openai": "openinference.instrumentation.openai.OpenAIInstrumentor"
    }
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="k")
        with semtrace.agent("researcher"):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        semtrace.integrations.uninstrument("openai")
    [llm] = _rows(con, "operation = 'chat'")
    assert (
        llm["operation"],
        llm["model"],
        llm["input_tokens"],
        llm["output_tokens"],
        llm["agent_name"],
        llm["cost"],
    ) == (
        "chat",
        "gpt-4o-mini-2024-07-18",
        21,
        7,
        "researcher",
        round((21 * 0.15 + 7 * 0.6) / 1e6, 9),
    )
    assert llm["attributes"]["openinference.span.kind"] == "LLM"
