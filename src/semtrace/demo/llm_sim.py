"""A stand-in for an LLM provider, so the demo runs offline and without API keys.

The instrumentation is the real one: every call goes through ``semtrace.llm(model=...,
provider=...)`` exactly as a call to ``openai`` or ``anthropic`` would, and returns an
OpenAI-shaped response (``model``, ``choices``, ``usage``) from which semtrace records tokens;
``cost_usd`` follows from the price table. Only the provider is simulated: token counts,
latencies and rate limits are drawn from a seeded source, so the same seed gives the same run.

In your own code the equivalent is::

    @semtrace.llm(model="gpt-4o-mini", provider="openai")
    def ask(messages):
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import semtrace
from semtrace.demo._sim import Pace, rng_for

__all__ = ["MODELS", "RateLimitError", "SimulatedLLM"]

# Generation speed in output tokens per second and the provider of each simulated model.
MODELS: dict[str, tuple[str, float]] = {
    "gpt-4o": ("openai", 85.0),
    "gpt-4o-mini": ("openai", 140.0),
    "gpt-4.1-mini": ("openai", 120.0),
    "claude-sonnet-4": ("anthropic", 70.0),
    "claude-haiku-4-5": ("anthropic", 150.0),
}


class RateLimitError(Exception):
    """What a provider's SDK raises on HTTP 429 (``status_code`` as in openai/anthropic)."""

    status_code = 429

    def __init__(self, model: str, retry_after_s: float) -> None:
        self.model = model
        self.retry_after_s = retry_after_s
        super().__init__(
            f"Error code: 429 - rate limit reached for {model} on requests per minute "
            f"(RPM); please retry after {retry_after_s:.0f} s"
        )


def _tokens(text: str) -> int:
    """Roughly what a BPE tokenizer makes of English text (about 1.3 tokens per word)."""
    return max(1, round(len(text.split()) * 1.33))


@dataclass
class SimulatedLLM:
    """A simulated chat-completions endpoint whose calls are traced like real ones."""

    seed: int
    pace: Pace = field(default_factory=Pace)
    _calls: Counter[str] = field(default_factory=Counter, repr=False)
    _refuse: Counter[str] = field(default_factory=Counter, repr=False)
    _sync: dict[str, Callable[..., dict[str, Any]]] = field(default_factory=dict, repr=False)
    _async: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = field(
        default_factory=dict, repr=False
    )

    def throttle(self, model: str, calls: int) -> None:
        """Make the provider answer the next ``calls`` calls to ``model`` with HTTP 429
        (another tenant's traffic spike, as seen from this process)."""
        self._refuse[model] += calls

    # -- the calls an agent makes ------------------------------------------------------------
    def chat(self, model: str, prompt: str, *, reply: str, system: str = "") -> dict[str, Any]:
        """Ask ``model``; the simulated answer is ``reply`` (what the agent expects back)."""
        call = self._sync.get(model)
        if call is None:
            provider = MODELS.get(model, ("openai", 100.0))[0]
            call = self._sync[model] = semtrace.llm(model=model, provider=provider)(self._complete)
        return call(model, prompt, reply, system)

    async def achat(
        self, model: str, prompt: str, *, reply: str, system: str = ""
    ) -> dict[str, Any]:
        """The asyncio form of :meth:`chat`."""
        call = self._async.get(model)
        if call is None:
            provider = MODELS.get(model, ("openai", 100.0))[0]
            call = self._async[model] = semtrace.llm(model=model, provider=provider)(
                self._acomplete
            )
        return await call(model, prompt, reply, system)

    # -- the simulated provider --------------------------------------------------------------
    def _plan(
        self, model: str, prompt: str, reply: str, system: str
    ) -> tuple[float, dict[str, Any] | RateLimitError]:
        """Latency and response (or the 429) of one call, drawn from the seed."""
        key = hashlib.blake2s(f"{model}|{system}|{prompt}".encode(), digest_size=8).hexdigest()
        self._calls[key] += 1
        rng = rng_for(self.seed, "llm", key, self._calls[key])
        if self._refuse[model] > 0:
            self._refuse[model] -= 1
            return rng.uniform(0.08, 0.25), RateLimitError(model, rng.choice([2, 5, 10, 20]))
        speed = MODELS.get(model, ("openai", 100.0))[1]
        input_tokens = _tokens(system) + _tokens(prompt) + rng.randint(350, 1400)
        output_tokens = _tokens(reply) + rng.randint(12, 180)
        latency = rng.uniform(0.25, 0.7) + output_tokens / (speed * rng.uniform(0.8, 1.2))
        response = {
            "id": f"chatcmpl-{rng.getrandbits(64):016x}",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
        }
        return latency, response

    def _complete(self, model: str, prompt: str, reply: str, system: str) -> dict[str, Any]:
        latency, outcome = self._plan(model, prompt, reply, system)
        self.pace.sleep(latency)
        if isinstance(outcome, RateLimitError):
            raise outcome
        return outcome

    async def _acomplete(self, model: str, prompt: str, reply: str, system: str) -> dict[str, Any]:
        latency, outcome = self._plan(model, prompt, reply, system)
        await self.pace.asleep(latency)
        if isinstance(outcome, RateLimitError):
            raise outcome
        return outcome
