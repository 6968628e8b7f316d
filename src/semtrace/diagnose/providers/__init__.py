"""Diagnosis providers: ``rules`` (offline, the default), ``openai`` and ``anthropic``."""

from __future__ import annotations

from typing import Any

from semtrace.diagnose.providers.base import (
    Budget,
    BudgetExceededError,
    InvalidOutputError,
    Provider,
    ProviderError,
    ProviderResult,
)
from semtrace.exceptions import ConfigurationError

__all__ = [
    "PROVIDERS",
    "Budget",
    "BudgetExceededError",
    "InvalidOutputError",
    "Provider",
    "ProviderError",
    "ProviderResult",
    "get_provider",
]

PROVIDERS = ("rules", "openai", "anthropic")


def get_provider(
    provider: str | Provider = "rules", *, budget: Budget | None = None, **options: Any
) -> Provider:
    """A provider by name (``rules``, ``openai``, ``anthropic``) or the instance given.

    ``options`` go to the provider: ``model``, ``base_url``, ``api_key``, ``timeout_s``,
    ``max_retries``; unset ones come from the environment (see docs/diagnose.md).
    """
    if not isinstance(provider, str):
        return provider
    name = provider.strip().lower()
    if name == "rules":
        from semtrace.diagnose.providers.rules import RulesProvider

        return RulesProvider()
    if name == "openai":
        from semtrace.diagnose.providers.openai import OpenAIProvider

        return OpenAIProvider(budget=budget, **options)
    if name == "anthropic":
        from semtrace.diagnose.providers.anthropic import AnthropicProvider

        return AnthropicProvider(budget=budget, **options)
    raise ConfigurationError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
