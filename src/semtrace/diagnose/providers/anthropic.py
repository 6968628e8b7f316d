"""Anthropic's Messages API through the official ``anthropic`` client
(``pip install 'semtrace[anthropic]'``).

The client does the transport: its timeout, its retries with backoff (``Retry-After`` and the
529 overload honoured). The diagnosis is asked for as structured output: a tool whose input
schema is the diagnosis, which the model is made to call; a plain text answer is parsed too.

Settings: argument, then environment, then default: ``base_url``
(``SEMTRACE_ANTHROPIC_BASE_URL``, ``ANTHROPIC_BASE_URL``, https://api.anthropic.com),
``model`` (``SEMTRACE_ANTHROPIC_MODEL``, claude-3-5-haiku-latest), ``api_key``
(``SEMTRACE_ANTHROPIC_API_KEY``, ``ANTHROPIC_API_KEY``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from semtrace.diagnose.providers._llm import Completion, LLMProvider, draft_schema, sdk_errors
from semtrace.diagnose.providers.base import Budget
from semtrace.exceptions import ConfigurationError

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "TOOL_NAME", "AnthropicProvider"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MODEL = "claude-3-5-haiku-latest"
ENV_BASE_URL = "SEMTRACE_ANTHROPIC_BASE_URL"
ENV_MODEL = "SEMTRACE_ANTHROPIC_MODEL"
ENV_API_KEY = "SEMTRACE_ANTHROPIC_API_KEY"
TOOL_NAME = "record_diagnosis"


def _client(base_url: str, api_key: str, timeout_s: float, max_retries: int) -> Any:
    try:
        import anthropic
    except ImportError:
        raise ConfigurationError(
            "the anthropic provider needs the anthropic client: pip install 'semtrace[anthropic]'"
        ) from None
    return anthropic.Anthropic(
        base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=max_retries
    )


class AnthropicProvider(LLMProvider):
    """Diagnoses through ``{base_url}/v1/messages``, the answer a forced tool call."""

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
        self._client = _client(self.base_url, key, timeout_s, max_retries)

    def complete(self, system: str, messages: list[dict[str, str]]) -> Completion:
        import anthropic

        with sdk_errors(anthropic, self.base_url, self.timeout_s):
            answer = self._client.messages.create(
                model=self.model,
                system=system,
                messages=messages,
                max_tokens=self.max_output_tokens,
                tools=[
                    {
                        "name": TOOL_NAME,
                        "description": "Record the diagnosis of the failure.",
                        "input_schema": draft_schema(),
                    }
                ],
                tool_choice={"type": "tool", "name": TOOL_NAME},
            )
        parts: list[str] = []
        for block in getattr(answer, "content", None) or []:
            if getattr(block, "type", None) == "tool_use":
                parts.append(json.dumps(getattr(block, "input", None)))
            elif getattr(block, "type", None) == "text":
                parts.append(str(getattr(block, "text", "")))
        usage = answer.usage
        return Completion(
            text="".join(parts),
            input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        )
