"""wrap_anthropic and the OpenInference Anthropic instrumentor against a local Messages API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

import semtrace
from semtrace.integrations import uninstrument
from tests.integrations._llm_server import REPLY, LLMServer, llm_server

MODEL = "claude-haiku-4-5"
PRICE = (1.00, 5.00)


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with llm_server() as s:
        yield s


def _rows(con: Any) -> list[dict[str, Any]]:
    rel = con().sql(
        """SELECT name, kind, operation, provider, model, input_tokens, output_tokens, cost_usd,
                  status_code, error_type, attributes
           FROM spans ORDER BY start_time_ns"""
    )
    rows = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    for r in rows:
        r["attributes"] = json.loads(r["attributes"])
    return rows


def _cost(tokens_in: int, tokens_out: int) -> Any:
    return pytest.approx((tokens_in * PRICE[0] + tokens_out * PRICE[1]) / 1e6)


def test_wrapped_create_is_one_llm_span_with_cached_tokens_in_input(
    configured: Any, con: Any, server: LLMServer
) -> None:
    """messages.create becomes one chat span (the SDK's own span is off); cache reads count."""
    client = semtrace.wrap_anthropic(anthropic.Anthropic(base_url=server.url, api_key="k"))
    msg = client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "capital?"}]
    )
    assert msg.content[0].text == REPLY
    [llm] = _rows(con)
    attrs = llm.pop("attributes")
    assert llm == {
        "name": f"chat {MODEL}",
        "kind": "CLIENT",
        "operation": "chat",
        "provider": "anthropic",
        "model": MODEL,
        "input_tokens": 40,
        "output_tokens": 9,
        "cost_usd": _cost(40, 9),
        "status_code": "OK",
        "error_type": None,
    }
    assert attrs["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 10
    assert attrs["gen_ai.request.max_tokens"] == 100


def test_raw_stream_records_usage_and_content_when_opted_in(
    configured: Any, con: Any, server: LLMServer
) -> None:
    """create(stream=True) read to the end records streamed usage; capture_content=True the text."""
    client = semtrace.wrap_anthropic(
        anthropic.Anthropic(base_url=server.url, api_key="k"), capture_content=True
    )
    stream = client.messages.create(
        model=MODEL,
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "capital?"}],
        stream=True,
    )
    kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    [llm] = _rows(con)
    assert (llm["input_tokens"], llm["output_tokens"]) == (30, 9)
    out = json.loads(llm["attributes"]["gen_ai.output.messages"])
    assert out[0]["finish_reason"] == "stop"
    assert out[0]["parts"][0]["content"].strip() == REPLY
    assert json.loads(llm["attributes"]["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "Be brief."}
    ]


async def test_async_stream_helper_takes_the_final_message(
    configured: Any, con: Any, server: LLMServer
) -> None:
    """An async client's messages.stream() block ends its span with the accumulated message."""
    client = semtrace.wrap_anthropic(anthropic.AsyncAnthropic(base_url=server.url, api_key="k"))
    async with client.messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "capital?"}]
    ) as stream:
        text = "".join([t async for t in stream.text_stream])
    assert text.strip() == REPLY
    [llm] = _rows(con)
    assert (llm["operation"], llm["model"], llm["input_tokens"], llm["output_tokens"]) == (
        "chat",
        MODEL,
        30,
        9,
    )
    assert llm["attributes"]["gen_ai.response.finish_reasons"] == ["end_turn"]


async def test_async_create_error_is_recorded(configured: Any, con: Any, server: LLMServer) -> None:
    """A 429 on an async client marks the span ERROR with anthropic's exception type."""
    client = semtrace.wrap_anthropic(
        anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)
    )
    with pytest.raises(anthropic.RateLimitError):
        await client.messages.create(
            model="rate-limited", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    [llm] = _rows(con)
    assert (llm["status_code"], llm["error_type"]) == ("ERROR", "anthropic.RateLimitError")


def test_openinference_anthropic_instrumentor_is_normalised(
    configured: Any, con: Any, server: LLMServer
) -> None:
    """semtrace.instrument('anthropic') records the call through OpenInference, same columns."""
    semtrace.instrument("anthropic")
    try:
        client = anthropic.Anthropic(
            base_url=server.url, api_key="k", open_telemetry={"traces": False}
        )
        client.messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "capital?"}]
        )
    finally:
        uninstrument("anthropic")
    [llm] = [r for r in _rows(con) if r["operation"] == "chat"]
    assert (llm["model"], llm["provider"], llm["output_tokens"]) == (MODEL, "anthropic", 9)
    assert llm["attributes"]["openinference.span.kind"] == "LLM"
    assert llm["input_tokens"] is not None
