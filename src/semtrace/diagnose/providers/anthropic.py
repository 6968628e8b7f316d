"""Anthropic's Messages API over plain HTTP (no SDK needed).

Settings: argument, then environment, then default: ``base_url``
(``SEMTRACE_ANTHROPIC_BASE_URL``, ``ANTHROPIC_BASE_URL``, https://api.anthropic.com),
``model`` (``SEMTRACE_ANTHROPIC_MODEL``, claude-3-5-haiku-latest), ``api_key``
(``SEMTRACE_ANTHROPIC_API_KEY``, ``ANTHROPIC_API_KEY``).
"""

from __future__ import annotations

import os

from semtrace.diagnose.providers._llm import Completion, LLMProvider
from semtrace.diagnose.providers.base import Budget, ProviderError
from semtrace.exceptions import ConfigurationError

__all__ = ["ANTHROPIC_VERSION", "DEFAULT_BASE_URL", "DEFAULT_MODEL", "AnthropicProvider"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MODEL = "claude-3-5-haiku-latest"
ANTHROPIC_VERSION = "2023-06-01"
ENV_BASE_URL = "SEMTRACE_ANTHROPIC_BASE_URL"
ENV_MODEL = "SEMTRACE_ANTHROPIC_MODEL"
ENV_API_KEY = "SEMTRACE_ANTHROPIC_API_KEY"


class AnthropicProvider(LLMProvider):
    """Diagnoses through ``POST {base_url}/v1/messages``."""

    name = "anthropic"

    def __init__(
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        max_output_tokens: int = 1024,
        budget: Budget | None = None,
    ) -> None:
        key = api_key or os.environ.get(ENV_API_KEY) or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ConfigurationError(
                "the anthropic provider needs an API key: set ANTHROPIC_API_KEY "
                "(or SEMTRACE_ANTHROPIC_API_KEY)"
            )
        super().__init__(
            model=model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL,
            base_url=base_url
            or os.environ.get(ENV_BASE_URL)
            or os.environ.get("ANTHROPIC_BASE_URL")
            or DEFAULT_BASE_URL,
            api_key=key,
            timeout_s=timeout_s,
            max_retries=max_retries,
            max_output_tokens=max_output_tokens,
            budget=budget,
        )

    def complete(self, system: str, messages: list[dict[str, str]]) -> Completion:
        headers = {"x-api-key": self.api_key or "", "anthropic-version": ANTHROPIC_VERSION}
        body = {
            "model": self.model,
            "system": system,
            "messages": messages,
            "max_tokens": self.max_output_tokens,
            "temperature": 0,
        }
        answer = self._post("/v1/messages", body, headers)
        try:
            blocks = answer["content"]
            text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        except (KeyError, TypeError, AttributeError):
            raise ProviderError(f"unexpected messages answer: {str(answer)[:300]}") from None
        usage = answer.get("usage") or {}
        return Completion(
            text=text,
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
        )
