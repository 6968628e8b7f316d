"""The offline rule engine: recognises the common failure kinds, says "unknown" otherwise.

No key, no network. Each rule matches the error type, the exception message and the log
sentences of the failing span (not the whole sentence, whose timings could look like HTTP
codes), and yields a category, an explanation and ranked remediations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from semtrace.diagnose.models import Action, Category, DiagnosisDraft, Evidence, Remediation
from semtrace.diagnose.providers.base import ProviderResult

__all__ = ["RULES", "Rule", "RulesProvider", "classify"]


@dataclass(frozen=True)
class Rule:
    """One recognised kind of failure."""

    name: str
    category: Category
    pattern: re.Pattern[str] | None
    kinds: frozenset[str]
    what: str  # finishes "… failed because …"
    why: str
    remediations: tuple[tuple[Action, float, str, dict[str, Any]], ...] = field(default=())


def _r(text: str) -> re.Pattern[str]:
    return re.compile(text, re.I)


RULES: tuple[Rule, ...] = (
    Rule(
        "input_required wait",
        Category.needs_human,
        _r(r"input[_ ]required|waiting for (a )?human|awaiting (human )?input"),
        frozenset({"stuck_task"}),
        "it waited for a human answer (input_required) longer than expected",
        "The work cannot go on until a person answers the question the task asked.",
        ((Action.escalate_to_human, 0.9, "only a person can answer the pending question", {}),),
    ),
    Rule(
        "repeated tool calls",
        Category.logic_bug,
        _r(
            r"called \d+ times .*same arguments|repeating itself|infinite loop|recursion limit|GraphRecursionError"
        ),
        frozenset({"loop"}),
        "the agent called the same tool with the same arguments again and again",
        "The agent does not notice that the tool's answer does not change, so it loops; "
        "each turn costs time and tokens without progress.",
        (
            (
                Action.circuit_break,
                0.8,
                "stop the loop after a few identical calls",
                {"max_identical_calls": 3},
            ),
            (Action.code_change, 0.6, "make the agent use the tool's answer or stop", {}),
        ),
    ),
    Rule(
        "context length",
        Category.model_error,
        _r(
            r"context[_ ]length|maximum context|context window|too many tokens|prompt is too long|token limit|max_tokens"
        ),
        frozenset(),
        "the prompt was longer than the model's context window",
        "The request sent more tokens than the model accepts.",
        (
            (Action.fallback_model, 0.7, "a model with a larger context window accepts it", {}),
            (Action.fix_input, 0.6, "trim or summarise the conversation before the call", {}),
        ),
    ),
    Rule(
        "rate limit",
        Category.rate_limit,
        _r(r"\b429\b|rate[ _-]?limit|too many requests|RateLimit|quota exceeded|throttl"),
        frozenset(),
        "the provider rate-limited it (HTTP 429)",
        "Too many requests were sent in a short time; the service refused more until the "
        "window resets.",
        (
            (
                Action.retry_with_backoff,
                0.85,
                "rate limits clear after a short wait",
                {"base_delay_s": 1.0},
            ),
            (Action.fallback_model, 0.6, "another model or provider has its own quota", {}),
        ),
    ),
    Rule(
        "auth",
        Category.auth,
        _r(
            r"\b40[13]\b|unauthori[sz]ed|forbidden|authenticat|invalid[_ ]api[_ ]key|api key|permission denied|PermissionError|access denied|credentials"
        ),
        frozenset(),
        "its credentials were rejected",
        "The key or token it used is missing, wrong, expired or lacks the permission; "
        "retrying will not help.",
        (
            (Action.escalate_to_human, 0.85, "someone must fix the credentials", {}),
            (Action.circuit_break, 0.5, "stop calling until the credentials are fixed", {}),
        ),
    ),
    Rule(
        "timeout",
        Category.timeout,
        _r(r"TimeoutError|timed out|time[d ]?out|deadline exceeded|\b504\b|ReadTimeout"),
        frozenset({"slow"}),
        "it took too long (a timeout, or a slow step the whole chain waited on)",
        "A dependency answered too slowly; in a synchronous chain every caller waited on it.",
        (
            (
                Action.increase_timeout,
                0.6,
                "the call may finish with a little more time",
                {"factor": 2.0},
            ),
            (Action.retry_with_backoff, 0.55, "slowness is often transient", {"base_delay_s": 0.5}),
            (Action.fallback_tool, 0.5, "a faster alternative avoids the slow dependency", {}),
        ),
    ),
    Rule(
        "connection refused",
        Category.dependency_down,
        _r(
            r"connection ?refused|ConnectionRefused|ECONNREFUSED|connection reset|ConnectionError|name or service not known|\b50[23]\b|service unavailable|unreachable|bad gateway"
        ),
        frozenset(),
        "a service it depends on was down or unreachable",
        "The dependency did not accept the connection (down, restarting, or the wrong address).",
        (
            (
                Action.retry_with_backoff,
                0.7,
                "a restarting service comes back shortly",
                {"base_delay_s": 1.0},
            ),
            (Action.fallback_tool, 0.55, "an alternative source avoids the dead dependency", {}),
            (Action.circuit_break, 0.4, "stop hammering a service that is down", {}),
        ),
    ),
    Rule(
        "validation error",
        Category.bad_input,
        _r(
            r"ValidationError|validation error|unprocessable|\b422\b|JSONDecodeError|invalid (input|value|format|argument)|does not match|schema"
        ),
        frozenset(),
        "its input did not pass validation",
        "The data handed to this step did not have the shape or values it requires.",
        (
            (Action.fix_input, 0.75, "correct the input at its source", {}),
            (Action.escalate_to_human, 0.4, "a person can correct the record", {}),
        ),
    ),
    Rule(
        "null or missing field",
        Category.missing_data,
        _r(
            r"NoneType|\bis None\b|\b(was|is) null\b|null value|\bKeyError\b|missing (field|key|value|data)|field required|not found|no such|\bNone\b"
        ),
        frozenset(),
        "a field it needed was null or missing",
        "A value the step relies on was empty; whatever produced the record left it out.",
        (
            (Action.fix_input, 0.7, "fill the missing field where the record comes from", {}),
            (Action.escalate_to_human, 0.5, "a person can supply the missing value", {}),
            (Action.code_change, 0.3, "handle the missing value explicitly", {}),
        ),
    ),
)

# How a summary says what happened, by failure kind (a slow step did not fail, it held up).
_VERBS = {"slow": "was held up", "stuck_task": "was held up", "loop": "went wrong"}

_DURATIONS = re.compile(r"\bafter [\d.]+ ?(ms|s|min)\b|\btook [\d.]+ ?ms\b|\b[\d.]+ ?ms\b")


def _texts(pack: dict[str, Any]) -> str:
    failure = pack.get("failure") or {}
    exc = pack.get("exception") or {}
    parts = [
        str(failure.get("error_type") or ""),
        str(exc.get("type") or ""),
        str(exc.get("message") or ""),
        str((failure.get("details") or {}).get("exception_message") or ""),
    ]
    if not (exc.get("message") or (failure.get("details") or {}).get("exception_message")):
        # The sentence names the inputs ("called with x=None"): only used with no exception.
        parts.append(str(failure.get("message") or ""))
    for log in pack.get("logs") or []:
        if log.get("on_failing_span") and log.get("severity") in {"ERROR", "CRITICAL", "WARNING"}:
            parts.append(str(log.get("message") or ""))
    attrs = (pack.get("span") or {}).get("attributes") or {}
    for key in ("http.response.status_code", "http.status_code", "rpc.response.status_code"):
        if key in attrs:
            parts.append(str(attrs[key]))
    return _DURATIONS.sub(" ", "\n".join(p for p in parts if p))


def classify(pack: dict[str, Any]) -> Rule | None:
    """The first rule that matches the pack's failure, or ``None`` (unknown)."""
    kind = str((pack.get("failure") or {}).get("kind") or "")
    text = _texts(pack)
    for rule in RULES:
        if kind in rule.kinds:
            return rule
    for rule in RULES:
        if rule.pattern is not None and rule.pattern.search(text):
            return rule
    return None


def _subject(failure: dict[str, Any]) -> str:
    agent, target = failure.get("agent"), failure.get("target")
    if agent and target and target != agent:
        return f"the {agent} agent's {target}"
    if agent:
        return f"the {agent} agent"
    word = {"execute_tool": "tool ", "invoke_workflow": "step "}.get(
        str(failure.get("operation") or ""), ""
    )
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
        who = f"the {agent} agent" if agent else "a step"
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


class RulesProvider:
    """The offline diagnoser; deterministic, free, and honest about what it cannot tell."""

    name = "rules"
    model: str | None = None

    def diagnose(self, pack: dict[str, Any]) -> ProviderResult:
        failure = pack.get("failure") or {}
        exc = pack.get("exception") or {}
        detail = str(exc.get("message") or failure.get("message") or "").strip()
        rule = classify(pack)
        kind = str(failure.get("kind") or "")
        if rule is None:
            draft = DiagnosisDraft(
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
        else:
            draft = DiagnosisDraft(
                summary=(f"{_opening(failure, _VERBS.get(kind, 'failed'))} because {rule.what}.")[
                    :1000
                ],
                root_cause=(rule.why + (f" Observed: {detail[:500]}" if detail else ""))[:4000],
                category=rule.category,
                evidence=_evidence(pack),
                remediations=[
                    Remediation(action=a, confidence=c, rationale=why, parameters=dict(p))
                    for a, c, why, p in rule.remediations
                ],
            )
        return ProviderResult(draft=draft, model=None)
