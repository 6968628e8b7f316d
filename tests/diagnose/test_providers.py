"""LLM providers against a local server speaking the OpenAI and Anthropic protocols."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import semtrace
from semtrace.diagnose import Budget, Category
from tests.diagnose.conftest import FakeLLM, Reply, valid_answer


def _openai(fake: FakeLLM, **kw):  # type: ignore[no-untyped-def]
    return {
        "provider": "openai",
        "base_url": fake.openai_base,
        "api_key": "test-key",
        "model": "test-model",
        **kw,
    }


def _anthropic(fake: FakeLLM, **kw):  # type: ignore[no-untyped-def]
    return {
        "provider": "anthropic",
        "base_url": fake.url,
        "api_key": "test-key",
        "model": "claude-test",
        **kw,
    }


def test_openai_valid_answer(
    fake_llm: FakeLLM, make_failure: Callable[..., None], configured: Path
) -> None:
    """A valid chat-completions answer becomes a stored diagnosis with its usage."""
    fake_llm.script(Reply(valid_answer()))
    make_failure(ConnectionRefusedError("vendor API refused the connection"))
    [d] = semtrace.diagnose.run(db=configured, **_openai(fake_llm))
    assert (d.status, d.provider, d.model) == ("ok", "openai", "test-model")
    assert d.category is Category.dependency_down
    assert (d.input_tokens, d.output_tokens) == (120, 40)
    [req] = fake_llm.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == "Bearer test-key"
    body = req["body"]
    assert body["model"] == "test-model"
    assert body["response_format"]["type"] == "json_schema"  # structured output, by schema
    schema = body["response_format"]["json_schema"]["schema"]
    assert "category" in schema["properties"]
    assert body["messages"][0]["role"] == "system"
    assert "untrusted" in body["messages"][0]["content"]
    assert "<failure_context>" in body["messages"][1]["content"]
    assert "vendor API refused the connection" in body["messages"][1]["content"]
    con = semtrace.connect(configured)
    rows = con.sql("SELECT status, provider, category, input_tokens FROM diagnoses").fetchall()
    assert rows == [("ok", "openai", "dependency_down", 120)]
    joined = con.sql("SELECT category FROM failures WHERE source = 'span'").fetchall()
    assert ("dependency_down",) in joined


def test_invalid_answer_is_retried_once_with_the_error(
    fake_llm: FakeLLM, make_failure: Callable[..., None], configured: Path
) -> None:
    """An invalid answer is sent back with its validation error; the valid retry is kept."""
    fake_llm.script(Reply("I think the vendor is down."), Reply(valid_answer()))
    make_failure(ConnectionRefusedError("refused"))
    [d] = semtrace.diagnose.run(db=configured, **_openai(fake_llm))
    assert d.status == "ok"
    assert len(fake_llm.requests) == 2
    retry = fake_llm.requests[1]["body"]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "I think the vendor is down."}
    assert "Your answer was invalid" in retry[-1]["content"]
    assert (d.input_tokens, d.output_tokens) == (240, 80)


def test_always_invalid_is_stored_as_failed(
    fake_llm: FakeLLM, make_failure: Callable[..., None], configured: Path
) -> None:
    """Two invalid answers (an unknown category) make a failed diagnosis, not an exception."""
    bad = json.dumps({"summary": "x", "root_cause": "y", "category": "cosmic_rays"})
    fake_llm.script(default=Reply(bad))
    make_failure(ConnectionRefusedError("refused"))
    [d] = semtrace.diagnose.run(db=configured, **_openai(fake_llm))
    assert d.status == "failed"
    assert "invalid twice" in (d.error or "")
    assert len(fake_llm.requests) == 2
    con = semtrace.connect(configured)
    assert con.sql("SELECT status FROM diagnoses").fetchall() == [("failed",)]


def test_slow_server_times_out_into_a_failed_diagnosis(
    fake_llm: FakeLLM, make_failure: Callable[..., None], configured: Path
) -> None:
    """A server slower than the timeout yields a failed diagnosis naming the timeout."""
    fake_llm.script(default=Reply(valid_answer(), delay_s=1.0))
    make_failure(ConnectionRefusedError("refused"))
    [d] = semtrace.diagnose.run(db=configured, **_openai(fake_llm, timeout_s=0.2, max_retries=1))
    assert d.status == "failed"
    assert "did not answer within 0.2 s" in (d.error or "")
    assert len(fake_llm.requests) == 2  # the first try and one retry


def test_429_then_ok_honours_retry_after(
    fake_llm: FakeLLM, make_failure: Callable[..., None], configured: Path
) -> None:
    """A 429 with Retry-After is waited out, then the answer is used."""
    fake_llm.script(
        Reply(status=429, headers={"Retry-After": "0.3"}, body={"error": "rate limited"}),
        Reply(status=503, body={"error": "overloaded"}),
        Reply(valid_answer()),
    )
    make_failure(ConnectionRefusedError("refused"))
    [d] = semtrace.diagnose.run(db=configured, **_openai(fake_llm, max_retries=2))
    assert d.status == "ok"
    assert len(fake_llm.requests) == 3
    assert fake_llm.times[1] - fake_llm.times[0] >= 0.29


def test_anthropic_messages_valid_and_retry(
    fake_llm: FakeLLM, make_failure: Callable[..., None], configured: Path
) -> None:
    """The Messages API is spoken by the official client, the diagnosis asked for as a forced
    tool call; an answer that is not one (plain text) is invalid and retried once."""
    fake_llm.script(Reply("not json"), Reply(valid_answer("rate_limit", ("retry_with_backoff",))))
    make_failure(RuntimeError("429 from vendor"))
    [d] = semtrace.diagnose.run(db=configured, **_anthropic(fake_llm))
    assert (d.status, d.provider, d.category) == ("ok", "anthropic", Category.rate_limit)
    first = fake_llm.requests[0]
    assert first["path"] == "/v1/messages"
    headers = first["headers"]
    # how the key travels is the client's choice (x-api-key, or a bearer token in newer ones)
    assert "test-key" in (headers.get("x-api-key"), headers.get("authorization", "")[7:])
    assert headers["anthropic-version"]
    assert "untrusted" in first["body"]["system"]
    assert first["body"]["max_tokens"] > 0
    assert first["body"]["tool_choice"] == {"type": "tool", "name": "record_diagnosis"}
    assert "category" in first["body"]["tools"][0]["input_schema"]["properties"]
    assert len(fake_llm.requests) == 2
    assert (d.input_tokens, d.output_tokens) == (220, 60)


def test_rerun_is_cached_by_fingerprint(
    fake_llm: FakeLLM, make_failure: Callable[..., None], configured: Path
) -> None:
    """Re-running costs no provider call, and new occurrences are counted on the same diagnosis."""
    fake_llm.script(default=Reply(valid_answer()))
    make_failure(ConnectionRefusedError("vendor 1 refused"))
    [first] = semtrace.diagnose.run(db=configured, **_openai(fake_llm))
    make_failure(ConnectionRefusedError("vendor 2 refused"))
    [again] = semtrace.diagnose.run(db=configured, **_openai(fake_llm))
    assert len(fake_llm.requests) == 1
    assert not first.cached and again.cached
    assert again.fingerprint == first.fingerprint
    assert (again.occurrences, again.trace_count) == (2, 2)
    con = semtrace.connect(configured)
    assert con.sql("SELECT count(*) FROM failure_fingerprints").fetchall() == [(2,)]


def test_secrets_are_never_sent(
    fake_llm: FakeLLM, make_failure: Callable[..., None], configured: Path
) -> None:
    """A secret and an email inside the failure never reach the LLM server."""
    secret = "sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    fake_llm.script(default=Reply(valid_answer()))
    make_failure(
        ConnectionRefusedError(f"refused; api_key={secret} owner alice@example.com"),
        token=secret,
    )
    [d] = semtrace.diagnose.run(db=configured, show_context=True, **_openai(fake_llm))
    assert d.status == "ok"
    sent = b"".join(fake_llm.raw)
    assert sent  # something was sent
    assert secret.encode() not in sent
    assert b"alice@example.com" not in sent
    assert secret not in json.dumps(d.context)


def test_budget_stops_calls(
    fake_llm: FakeLLM, make_failure: Callable[..., None], configured: Path
) -> None:
    """With a budget of one call, the second fingerprint is a failed diagnosis, not a call."""
    fake_llm.script(default=Reply(valid_answer()))
    make_failure(ConnectionRefusedError("refused"))
    make_failure(ValueError("bad amount"))
    diagnoses = semtrace.diagnose.run(
        db=configured, budget=Budget(max_calls=1), **_openai(fake_llm)
    )
    assert sorted(d.status for d in diagnoses) == ["failed", "ok"]
    assert "budget" in next(d.error for d in diagnoses if d.status == "failed")  # type: ignore[operator]
    assert len(fake_llm.requests) == 1


def test_context_pack_is_bounded(make_failure: Callable[..., None], configured: Path) -> None:
    """A huge failure message is cut so the pack stays within the token budget."""
    from semtrace.diagnose.context import estimate_tokens

    make_failure(RuntimeError("x" * 50_000), blob="y" * 20_000)
    [d] = semtrace.diagnose.run(db=configured, show_context=True, token_budget=800)
    assert d.context is not None
    assert estimate_tokens(d.context) <= 800
    assert d.context["failure"]["agent"] == "procurement"


def test_cost_budget_stops_calls(
    fake_llm: FakeLLM, make_failure: Callable[..., None], configured: Path
) -> None:
    """Once a run has spent its dollars, the next fingerprint is not sent."""
    from semtrace.pricing import reset_prices

    semtrace.set_prices({"priced-model": (1000.0, 1000.0)})  # $ per million tokens
    try:
        fake_llm.script(default=Reply(valid_answer()))
        make_failure(ConnectionRefusedError("refused"))
        make_failure(ValueError("bad amount"))
        diagnoses = semtrace.diagnose.run(
            db=configured,
            budget=Budget(max_calls=None, max_tokens=None, max_cost_usd=0.1),
            **_openai(fake_llm, model="priced-model"),
        )
    finally:
        reset_prices()
    ok = next(d for d in diagnoses if d.status == "ok")
    assert ok.cost_usd == pytest.approx(0.16)  # 160 tokens at $1000 per million
    failed = next(d for d in diagnoses if d.status == "failed")
    assert "cost budget spent" in (failed.error or "")
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize(
    ("refused", "asked"),
    [
        ({"json_schema"}, ["json_schema", "json_object"]),
        ({"json_schema", "json_object"}, ["json_schema", "json_object", None]),
    ],
)
def test_a_server_refusing_json_schema_gets_json_mode_then_the_prompt_alone(
    fake_llm: FakeLLM,
    make_failure: Callable[..., None],
    configured: Path,
    refused: set[str],
    asked: list[str | None],
) -> None:
    """A compatible server that answers 400 to a json_schema response format is asked again
    in JSON mode, and one that refuses that too with the prompt alone; each refused format
    is tried once, and the provider keeps asking in the one the server took."""
    fake_llm.refuse_formats = refused
    fake_llm.script(default=Reply(valid_answer()))
    make_failure(ConnectionRefusedError("vendor API refused the connection"))
    make_failure(TimeoutError("the ERP did not answer"), agent="erp")
    done = semtrace.diagnose.run(db=configured, **_openai(fake_llm))
    assert [d.status for d in done] == ["ok", "ok"], [d.error for d in done]
    formats = [(r["body"].get("response_format") or {}).get("type") for r in fake_llm.requests]
    assert formats == [*asked, asked[-1]]  # the second diagnosis goes straight to what worked
    assert all(r["body"]["messages"][0]["role"] == "system" for r in fake_llm.requests)


def test_a_server_refusing_every_format_is_a_failed_diagnosis(
    fake_llm: FakeLLM, make_failure: Callable[..., None], configured: Path
) -> None:
    """A 400 that is not about the format (here: every request) ends after the three
    formats, as a failed diagnosis naming the server's answer."""
    fake_llm.script(default=Reply(status=400, body={"error": {"message": "context too long"}}))
    make_failure(ConnectionRefusedError("refused"))
    [d] = semtrace.diagnose.run(db=configured, **_openai(fake_llm))
    assert d.status == "failed" and "HTTP 400" in (d.error or "")
    assert len(fake_llm.requests) == 3
