"""The simulated LLM provider: traced like a real one, deterministic, rate-limited on demand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from semtrace.demo._sim import Pace
from semtrace.demo.broker import route
from semtrace.demo.llm_sim import RateLimitError, SimulatedLLM

NO_WAIT = Pace(scale=0.0, human_delay_s=0.0)


def test_chat_is_an_llm_span_with_tokens_and_cost(con: Callable[[], Any]) -> None:
    """A simulated call is a CLIENT ``chat {model}`` span with the provider, the token counts
    of the response and a cost from the price table."""
    llm = SimulatedLLM(seed=1, pace=NO_WAIT)
    response = llm.chat("gpt-4o-mini", "Pick a flight", reply="Take LH123.")
    usage = response["usage"]
    rows = (
        con()
        .sql(
            "SELECT name, kind, provider, model, input_tokens, output_tokens, cost_usd, "
            "status_code FROM spans"
        )
        .to_arrow_table()
        .to_pylist()
    )
    assert len(rows) == 1
    row = rows[0]
    assert row["name"] == "chat gpt-4o-mini"
    assert (row["kind"], row["provider"], row["model"], row["status_code"]) == (
        "CLIENT",
        "openai",
        "gpt-4o-mini",
        "UNSET",
    )
    assert (row["input_tokens"], row["output_tokens"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    expected = (usage["prompt_tokens"] * 0.15 + usage["completion_tokens"] * 0.60) / 1e6
    assert row["cost_usd"] == pytest.approx(expected)


def test_same_seed_same_answers_different_seed_different_ones(configured: Any) -> None:
    """Token counts and ids depend only on the seed and the call, not on call order."""
    a, b, c = (SimulatedLLM(seed=s, pace=NO_WAIT) for s in (5, 5, 6))
    first = [a.chat("gpt-4o", p, reply="ok")["usage"] for p in ("one", "two")]
    second = [b.chat("gpt-4o", p, reply="ok")["usage"] for p in ("two", "one")][::-1]
    other = [c.chat("gpt-4o", p, reply="ok")["usage"] for p in ("one", "two")]
    assert first == second
    assert first != other


async def test_throttle_answers_429_then_recovers(con: Callable[[], Any]) -> None:
    """After ``throttle(model, 2)`` the next two calls raise a 429 (recorded as ERROR spans
    with the sentence), and the third succeeds."""
    llm = SimulatedLLM(seed=1, pace=NO_WAIT)
    llm.throttle("claude-sonnet-4", calls=2)
    for _ in range(2):
        with pytest.raises(RateLimitError) as info:
            await llm.achat("claude-sonnet-4", "Clause 7?", reply="yes")
        assert info.value.status_code == 429
    ok = await llm.achat("claude-sonnet-4", "Clause 7?", reply="yes")
    assert ok["model"] == "claude-sonnet-4"
    rows = (
        con()
        .sql("SELECT status_code, status_message, provider FROM spans ORDER BY start_time_ns")
        .to_arrow_table()
        .to_pylist()
    )
    assert [r["status_code"] for r in rows] == ["ERROR", "ERROR", "UNSET"]
    assert all(r["provider"] == "anthropic" for r in rows)
    assert "Error code: 429" in rows[0]["status_message"]


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("I was charged twice, please refund", "refunds"),
        ("Please move my flight to a later date", "itinerary"),
        ("Does clause 7 of our contract cap liability?", "contracts"),
        ("Hello?", "refunds"),
    ],
)
def test_broker_routes_by_content(text: str, topic: str) -> None:
    """The broker sends each request to the specialist its words point to."""
    assert route(text) == topic
