"""The price table: names as providers spell them, overrides, unknown models."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from semtrace.pricing import cost_usd, get_prices, reset_prices, set_prices


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    reset_prices()


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("gpt-4o-mini", (0.15, 0.60)),
        ("gpt-4o-mini-2024-07-18", (0.15, 0.60)),  # dated: the longest known prefix
        ("GPT-4o", (2.50, 10.00)),
        ("o3-mini-2025-01-31", (1.10, 4.40)),  # not o3's price
        ("openai/gpt-4o-mini", (0.15, 0.60)),  # LiteLLM / OpenRouter style
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", (3.00, 15.00)),  # Bedrock style
        ("claude-sonnet-4-20250514", (3.00, 15.00)),
    ],
)
def test_model_names_resolve(model: str, price: tuple[float, float]) -> None:
    """Model names as providers and gateways spell them find their price per 1M tokens."""
    assert cost_usd(model, 1_000_000, 1_000_000) == pytest.approx(sum(price))


def test_unknown_model_or_no_tokens_is_none() -> None:
    """An unknown model, no model, or no token counts cost None (not zero)."""
    assert cost_usd("house-model", 10, 10) is None
    assert cost_usd(None, 10, 10) is None
    assert cost_usd("gpt-4o", None, None) is None
    assert cost_usd("gpt-4o", 1_000_000, None) == pytest.approx(2.50)


def test_set_prices_overrides_and_reset_restores() -> None:
    """set_prices wins over the table (dated names included); reset_prices restores it."""
    set_prices({"GPT-4o": (1.0, 1.0), "house-model": (0.5, 0.25)})
    assert cost_usd("gpt-4o-2024-08-06", 1_000_000, 0) == 1.0
    assert cost_usd("house-model", 2_000_000, 4_000_000) == 2.0
    assert get_prices()["house-model"] == (0.5, 0.25)
    reset_prices()
    assert cost_usd("gpt-4o-2024-08-06", 1_000_000, 0) == 2.5
    assert "house-model" not in get_prices()
