"""Model prices in USD per one million input and output tokens, used to fill ``cost_usd``.

The table is a best-effort snapshot; override or extend it with :func:`set_prices`, e.g.
``semtrace.set_prices({"my-model": (0.5, 1.5)})``. Unknown models cost ``NULL``, not zero.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DEFAULT_PRICES", "cost_usd", "get_prices", "reset_prices", "set_prices"]

DEFAULT_PRICES: Mapping[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
    "mistral-large": (2.00, 6.00),
    "llama-3.1-8b": (0.05, 0.08),
}

_prices: dict[str, tuple[float, float]] = dict(DEFAULT_PRICES)
# Model name -> price found for it (prefix matching is a scan; models repeat on every span).
_resolved: dict[str, tuple[float, float] | None] = {}


def set_prices(prices: Mapping[str, tuple[float, float]]) -> None:
    """Add or override prices: ``{model: (usd_per_1m_input, usd_per_1m_output)}``."""
    for model, pair in prices.items():
        if len(pair) != 2 or any(p < 0 for p in pair):
            raise ValueError(
                f"price for {model!r} must be (usd_per_1m_input, usd_per_1m_output), "
                f"two non-negative numbers; got {pair!r}"
            )
        _prices[model.lower()] = (float(pair[0]), float(pair[1]))
    _resolved.clear()


def reset_prices() -> None:
    """Go back to the built-in table."""
    _prices.clear()
    _prices.update(DEFAULT_PRICES)
    _resolved.clear()


def get_prices() -> dict[str, tuple[float, float]]:
    """A copy of the table in force."""
    return dict(_prices)


def _lookup(model: str) -> tuple[float, float] | None:
    try:
        return _resolved[model]
    except KeyError:
        pass
    price = _scan(model)
    if len(_resolved) < 10_000:
        _resolved[model] = price
    return price


def _scan(model: str) -> tuple[float, float] | None:
    # "openai/gpt-4o" (LiteLLM, OpenRouter) and "anthropic.claude-..." (Bedrock) name the
    # provider first: the model is what follows.
    key = model.lower().rsplit("/", 1)[-1]
    if key not in _prices and "." in key.split("-", 1)[0]:
        key = key.split(".", 1)[1]
    if key in _prices:
        return _prices[key]
    # Dated or suffixed names ("gpt-4o-mini-2024-07-18", "claude-3-5-sonnet-latest") use the
    # longest known prefix.
    best: str | None = None
    for known in _prices:
        if key.startswith(known) and (best is None or len(known) > len(best)):
            best = known
    return _prices[best] if best else None


def cost_usd(
    model: str | None, input_tokens: int | None, output_tokens: int | None
) -> float | None:
    """The cost of one call, or ``None`` when the model or the token counts are unknown."""
    if not model or (input_tokens is None and output_tokens is None):
        return None
    price = _lookup(model)
    if price is None:
        return None
    return ((input_tokens or 0) * price[0] + (output_tokens or 0) * price[1]) / 1_000_000
