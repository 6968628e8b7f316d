"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server),
through the official ``openai`` client (``pip install 'semtrace[openai]'``).

The client does the transport: its timeout, its retries with backoff (``Retry-After``
honoured). The answer is asked for as JSON in the diagnosis' schema (structured output).
Some compatible local servers refuse a ``json_schema`` response format (HTTP 400): then the
provider asks again in plain JSON mode (``json_object``), and if that is refused too, with
the prompt alone (which asks for one JSON object); the format a server took is kept for the
provider's later requests. The base class validates the answer either way.

Settings: argument, then environment, then default: ``base_url``
(``SEMTRACE_OPENAI_BASE_URL``, ``OPENAI_BASE_URL``, https://api.openai.com/v1), ``model``
(``SEMTRACE_OPENAI_MODEL``, gpt-4o-mini), ``api_key`` (``SEMTRACE_OPENAI_API_KEY``,
``OPENAI_API_KEY``; optional for local servers).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from semtrace.diagnose.providers._llm import Completion, LLMProvider, draft_schema, sdk_errors
from semtrace.diagnose.providers.base import Budget, ProviderError
from semtrace.exceptions import ConfigurationError

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "OpenAIProvider"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
ENV_BASE_URL = "SEMTRACE_OPENAI_BASE_URL"
ENV_MODEL = "SEMTRACE_OPENAI_MODEL"
ENV_API_KEY = "SEMTRACE_OPENAI_API_KEY"
NO_KEY = "not-needed"  # what a local server gets when no key is set (the client needs one)
# What a server answers when it does not take the response format asked for.
_FORMAT_REFUSED = frozenset({400, 422})

_log = logging.getLogger("semtrace.diagnose")


def _response_formats() -> list[dict[str, Any] | None]:
    """The answer formats to ask for, best first: the diagnosis' schema, JSON mode, none."""
    schema = {"name": "diagnosis", "schema": draft_schema()}
    return [{"type": "json_schema", "json_schema": schema}, {"type": "json_object"}, None]


def _client(base_url: str, api_key: str | None, timeout_s: float, max_retries: int) -> Any:
    try:
        import openai
    except ImportError:
        raise ConfigurationError(
            "the openai provider needs the openai client: pip install 'semtrace[openai]'"
        ) from None
    return openai.OpenAI(
        base_url=base_url, api_key=api_key or NO_KEY, timeout=timeout_s, max_retries=max_retries
    )


class OpenAIProvider(LLMProvider):
    """Diagnoses through ``{base_url}/chat/completions`` with a JSON answer in a schema."""

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
        self._client = _client(self.base_url, key, timeout_s, max_retries)
        self._formats = _response_formats()  # the first is the one this server takes

    def complete(self, system: str, messages: list[dict[str, str]]) -> Completion:
        import openai

        with sdk_errors(openai, self.base_url, self.timeout_s):
            answer = self._create(openai, [{"role": "system", "content": system}, *messages])
        try:
            text = answer.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise ProviderError(
                f"unexpected chat-completions answer: {str(answer)[:300]}"
            ) from None
        usage = answer.usage
        return Completion(
            text=str(text),
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        )

    def _create(self, openai: Any, messages: list[dict[str, str]]) -> Any:
        """One chat completion in the best answer format the server takes: a format it
        refuses (400/422) is dropped for the next one, once each; without a format, its
        error is the answer."""
        while True:
            fmt = self._formats[0]
            try:
                return self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=0,
                    max_tokens=self.max_output_tokens,
                    **({"response_format": fmt} if fmt is not None else {}),
                )
            except openai.APIStatusError as exc:
                if fmt is None or exc.status_code not in _FORMAT_REFUSED:
                    raise
                self._formats.pop(0)
                _log.info(
                    "semtrace: %s refused response_format %s (HTTP %s: %s); asking for %s",
                    self.base_url,
                    fmt["type"],
                    exc.status_code,
                    str(exc.message)[:200],
                    self._formats[0]["type"] if self._formats[0] else "JSON by the prompt only",
                )
