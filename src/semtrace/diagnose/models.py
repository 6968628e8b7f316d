"""What a diagnosis is: validated pydantic models shared by providers, the store and ``heal``.

The category and action sets are closed: a provider (an LLM included) can only pick among
them, so whatever text sits in the failure data, nothing outside these sets gets through.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Action",
    "Category",
    "Diagnosis",
    "DiagnosisDraft",
    "Evidence",
    "Remediation",
]


class Category(StrEnum):
    """What kind of problem a failure is."""

    timeout = "timeout"
    rate_limit = "rate_limit"
    bad_input = "bad_input"
    missing_data = "missing_data"
    tool_error = "tool_error"
    auth = "auth"
    dependency_down = "dependency_down"
    model_error = "model_error"
    logic_bug = "logic_bug"
    needs_human = "needs_human"
    unknown = "unknown"


class Action(StrEnum):
    """The fixed set of remediations a diagnosis may propose."""

    retry = "retry"
    retry_with_backoff = "retry_with_backoff"
    increase_timeout = "increase_timeout"
    fallback_tool = "fallback_tool"
    fallback_model = "fallback_model"
    fix_input = "fix_input"
    escalate_to_human = "escalate_to_human"
    circuit_break = "circuit_break"
    code_change = "code_change"


class Evidence(BaseModel):
    """A span, log or task the diagnosis rests on, and why it matters."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["span", "log", "task", "exception"] = "span"
    id: str = Field(max_length=200)
    trace_id: str | None = Field(default=None, max_length=64)
    why: str = Field(default="", max_length=1000)


class Remediation(BaseModel):
    """One proposed step: an action from :class:`Action`, its parameters and how sure we are."""

    model_config = ConfigDict(extra="ignore")

    action: Action
    parameters: dict[str, Any] = Field(default_factory=dict)
    rationale: str = Field(default="", max_length=2000)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)


class DiagnosisDraft(BaseModel):
    """What a provider must return: the part of a diagnosis that is its judgement."""

    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=1, max_length=1000)
    root_cause: str = Field(min_length=1, max_length=4000)
    category: Category
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)
    remediations: list[Remediation] = Field(default_factory=list, max_length=20)


class Diagnosis(BaseModel):
    """A stored diagnosis of one failure fingerprint (one row of ``diagnoses``).

    ``status`` is ``"ok"`` for a validated answer and ``"failed"`` when the provider could
    not give one (``error`` says why); ``cached`` tells that it came from an earlier run.
    """

    fingerprint: str
    status: Literal["ok", "failed"] = "ok"
    summary: str = ""
    root_cause: str = ""
    category: Category = Category.unknown
    evidence: list[Evidence] = Field(default_factory=list)
    remediations: list[Remediation] = Field(default_factory=list)
    occurrences: int = 1
    trace_count: int = 1
    provider: str = "rules"
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    error: str | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    context: dict[str, Any] | None = None
    cached: bool = False

    @classmethod
    def from_draft(cls, draft: DiagnosisDraft, **fields: Any) -> Diagnosis:
        """A diagnosis made of a provider's validated draft plus bookkeeping fields."""
        return cls(**draft.model_dump(), **fields)

    def actions(self) -> list[Action]:
        """The proposed actions, most confident first."""
        ranked = sorted(self.remediations, key=lambda r: -r.confidence)
        return [r.action for r in ranked]
