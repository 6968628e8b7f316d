"""The provider protocol, the per-run budget, and what a provider call returns."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from semtrace.diagnose.models import DiagnosisDraft
from semtrace.exceptions import SemtraceError

__all__ = [
    "Budget",
    "BudgetExceededError",
    "InvalidOutputError",
    "Provider",
    "ProviderError",
    "ProviderResult",
]


class ProviderError(SemtraceError):
    """A provider could not answer (network, HTTP error, timeout); the diagnosis is failed."""

    def __init__(self, message: str, *, input_tokens: int = 0, output_tokens: int = 0) -> None:
        super().__init__(message)
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


class InvalidOutputError(ProviderError):
    """The provider's answer stayed invalid after one retry with the validation error."""


class BudgetExceededError(ProviderError):
    """The run's budget of calls, tokens or cost is spent; no further call is made."""


@dataclass
class ProviderResult:
    """A validated draft plus what getting it cost."""

    draft: DiagnosisDraft
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0


@runtime_checkable
class Provider(Protocol):
    """Something that turns a context pack into a diagnosis draft."""

    name: str
    model: str | None

    def diagnose(self, pack: dict[str, Any]) -> ProviderResult:
        """Diagnose one failure fingerprint from its (already redacted) context pack."""
        ...


class Budget:
    """What one run may spend on a provider: calls, tokens, dollars (``None`` = no limit)."""

    def __init__(
        self,
        max_calls: int | None = 50,
        max_tokens: int | None = 200_000,
        max_cost_usd: float | None = 1.0,
    ) -> None:
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.max_cost_usd = max_cost_usd
        self.calls = 0
        self.tokens = 0
        self.cost_usd = 0.0
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise :class:`BudgetExceededError` when another call would go over a limit."""
        with self._lock:
            if self.max_calls is not None and self.calls >= self.max_calls:
                raise BudgetExceededError(f"call budget spent ({self.calls} of {self.max_calls})")
            if self.max_tokens is not None and self.tokens >= self.max_tokens:
                raise BudgetExceededError(
                    f"token budget spent ({self.tokens} of {self.max_tokens})"
                )
            if self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd:
                raise BudgetExceededError(
                    f"cost budget spent (${self.cost_usd:.4f} of ${self.max_cost_usd:.4f})"
                )

    def charge(self, *, calls: int = 0, tokens: int = 0, cost_usd: float = 0.0) -> None:
        with self._lock:
            self.calls += calls
            self.tokens += tokens
            self.cost_usd += cost_usd
