"""The offline diagnoser: classifies on the failure's facts (see :mod:`..classify`) and
writes the diagnosis; says "unknown" when nothing recognises the failure.

No key, no network, deterministic. The root cause names the evidence that decided the
category (a status code, an error code, the exception's type, or, last, its words).
"""

from __future__ import annotations

from typing import Any

from semtrace.diagnose.classify import Match, classify
from semtrace.diagnose.facts import facts_from_pack, where_of
from semtrace.diagnose.models import Action, Category, DiagnosisDraft, Evidence, Remediation
from semtrace.diagnose.providers.base import ProviderResult
from semtrace.telemetry.sentences import agent_phrase

__all__ = ["RulesProvider", "diagnose_pack"]

# How a summary says what happened, by failure kind (a slow step did not fail, it held up).
_VERBS = {"slow": "was held up", "stuck_task": "was held up", "loop": "went wrong"}


def _subject(failure: dict[str, Any]) -> str:
    agent, target = failure.get("agent"), failure.get("target")
    llm = where_of(failure.get("operation")) == "llm"
    if agent and target and target != agent:
        return f"{agent_phrase(agent)}'s {'LLM call to ' if llm else ''}{target}"
    if agent:
        return agent_phrase(agent)
    word = {"execute_tool": "tool ", "invoke_workflow": "step "}.get(
        str(failure.get("operation") or ""), ""
    )
    if llm:
        word = "LLM call to "
    return f"the {word}{target}" if target else "a step"


def _opening(failure: dict[str, Any], verb: str) -> str:
    """The sentence up to "because": who did what, capitalised.

    A failure logged with ``log.failure(action="retrieve the vendor ID")`` names an action
    (a verb phrase), not a thing: "The procurement agent failed to retrieve the vendor ID",
    never "The procurement agent's retrieve the vendor ID failed". Spans name a thing (a
    tool, a step), which reads well as "the procurement agent's lookup_vendor".
    """
    action = str((failure.get("details") or {}).get("action") or "").strip()
    if failure.get("kind") == "error_log" and action:
        agent = failure.get("agent")
        who = agent_phrase(agent) if agent else "a step"
        action = action.removeprefix("to ").strip()
        first = action.split(" ", 1)[0]
        text = (
            f"{who} failed while {action}" if first.endswith("ing") else f"{who} failed to {action}"
        )
    else:
        text = f"{_subject(failure)} {verb}"
    return text[0].upper() + text[1:]


def _evidence(pack: dict[str, Any]) -> list[Evidence]:
    failure = pack.get("failure") or {}
    out: list[Evidence] = []
    if failure.get("log_id"):
        out.append(
            Evidence(
                kind="log",
                id=failure["log_id"],
                trace_id=failure.get("trace_id"),
                why="the error sentence",
            )
        )
    if failure.get("span_id"):
        out.append(
            Evidence(
                kind="span",
                id=failure["span_id"],
                trace_id=failure.get("trace_id"),
                why="the span where the failure happened",
            )
        )
    if failure.get("task_id"):
        out.append(Evidence(kind="task", id=str(failure["task_id"]), why="the waiting task"))
    for log in pack.get("logs") or []:
        if log.get("on_failing_span") and log.get("severity") in {"ERROR", "CRITICAL"}:
            out.append(
                Evidence(
                    kind="log",
                    id=str(log.get("log_id")),
                    trace_id=failure.get("trace_id"),
                    why="the sentence logged on the failing span",
                )
            )
    return out[:10]


def _remediations(match: Match, retry_after_s: float | None) -> list[Remediation]:
    out = []
    for action, confidence, why, params in match.rule.remediations:
        parameters = dict(params)
        if action is Action.retry_with_backoff and retry_after_s is not None:
            parameters["base_delay_s"] = round(float(retry_after_s), 3)
            why = f"{why}; the service asked to wait {retry_after_s:g} s (Retry-After)"
        out.append(
            Remediation(action=action, confidence=confidence, rationale=why, parameters=parameters)
        )
    return out


def diagnose_pack(pack: dict[str, Any]) -> DiagnosisDraft:
    """The offline diagnosis of one context pack."""
    failure = pack.get("failure") or {}
    exc = pack.get("exception") or {}
    detail = str(exc.get("message") or failure.get("message") or "").strip()
    facts = facts_from_pack(pack)
    match = classify(facts)
    if match is None:
        return DiagnosisDraft(
            summary=f"{_opening(failure, 'failed')}; no rule recognised why."[:1000],
            root_cause=(
                "Unknown: the offline rules do not recognise this failure"
                + (f" ({detail[:300]})" if detail else "")
                + ". Try an LLM provider (--provider openai|anthropic) or read the context."
            ),
            category=Category.unknown,
            evidence=_evidence(pack),
            remediations=[
                Remediation(
                    action=Action.retry,
                    confidence=0.3,
                    rationale="the cause is unknown; a transient fault is possible",
                ),
                Remediation(
                    action=Action.escalate_to_human,
                    confidence=0.25,
                    rationale="a person should look at the context",
                ),
            ],
        )
    verb = _VERBS.get(facts.kind, "failed")
    return DiagnosisDraft(
        summary=f"{_opening(failure, verb)} because {match.rule.what}."[:1000],
        root_cause=(
            f"{match.rule.why} Decided by {match.evidence}."
            + (f" Observed: {detail[:500]}" if detail else "")
        )[:4000],
        category=match.rule.category,
        evidence=_evidence(pack),
        remediations=_remediations(match, facts.retry_after_s),
    )


class RulesProvider:
    """The offline diagnoser; deterministic, free, and honest about what it cannot tell."""

    name = "rules"
    model: str | None = None

    def diagnose(self, pack: dict[str, Any]) -> ProviderResult:
        return ProviderResult(draft=diagnose_pack(pack), model=None)
