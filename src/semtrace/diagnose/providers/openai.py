"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

Plain HTTP, no SDK. Settings: argument, then environment, then default:
``base_url`` (``SEMTRACE_OPENAI_BASE_URL``, ``OPENAI_BASE_URL``, https://api.openai.com/v1),
``model`` (``SEMTRACE_OPENAI_MODEL``, gpt-4o-mini), ``api_key`` (``SEMTRACE_OPENAI_API_KEY``,
``OPENAI_API_KEY``; optional for local servers).
"""

from __future__ import annotations

import os

from semtrace.diagnose.providers._llm import Completion, LLMProvider
from semtrace.diagnose.providers.base import Budget, ProviderError
from semtrace.exceptions import ConfigurationError

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "OpenAIProvider"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
ENV_BASE_URL = "SEMTRACE_OPENAI_BASE_URL"
ENV_MODEL = "SEMTRACE_OPENAI_MODEL"
ENV_API_KEY = "SEMTRACE_OPENAI_API_KEY"


class OpenAIProvider(LLMProvider):
    """Diagnoses through ``POST {base_url}/chat/completions`` with a JSON-object answer."""

    name = "openai"

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
        base = (
            base_url
            or os.environ.get(ENV_BASE_URL)
            or os.environ.get("OPENAI_BASE_URL")
            or DEFAULT_BASE_URL
        )
        key = api_key or os.environ.get(ENV_API_KEY) or os.environ.get("OPENAI_API_KEY")
        if key is None and base.rstrip("/") == DEFAULT_BASE_URL:
            raise ConfigurationError(
                "the openai provider needs an API key: set OPENAI_API_KEY (or "
                "SEMTRACE_OPENAI_API_KEY), or point SEMTRACE_OPENAI_BASE_URL at a local "
                "OpenAI-compatible server (vLLM, Ollama, llama.cpp)"
            )
        super().__init__(
            model=model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL,
            base_url=base,
            api_key=key,
            timeout_s=timeout_s,
            max_retries=max_retries,
            max_output_tokens=max_output_tokens,
            budget=budget,
        )

    def complete(self, system: str, messages: list[dict[str, str]]) -> Completion:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, *messages],
            "temperature": 0,
            "max_tokens": self.max_output_tokens,
            "response_format": {"type": "json_object"},
        }
        answer = self._post("/chat/completions", body, headers)
        try:
            text = answer["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise ProviderError(
                f"unexpected chat-completions answer: {str(answer)[:300]}"
            ) from None
        usage = answer.get("usage") or {}
        return Completion(
            text=str(text),
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
        )
