"""``@semtrace.heal``: apply safe remediations when a step fails, within guardrails.

On a failure the step's exception is diagnosed (offline rules by default; cached by
fingerprint, in-process) and the first proposed action that the policy *allows* and can
apply is done: retry, retry with backoff (``Retry-After`` honoured), the registered
fallback tool or model, a larger timeout (up to a cap), escalation to a human (the current
task moves to ``input_required``) or a circuit break. A provider's answer only ranks actions
of the fixed set; the allowlist, the attempt and time budgets and the registered fallbacks
are the policy's, so nothing in the failure data can widen them, and no code from a
diagnosis is ever run. When nothing works, the original exception is raised.

Every attempt is a span ``heal {step}``, a semantic log sentence and a ``heal_attempts`` row.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from contextvars import Token
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace

from semtrace import semconv as sc
from semtrace._errors import error_type, handle_internal_errors
from semtrace.diagnose import _attempts
from semtrace.diagnose._history import HISTORY, Tally, rank
from semtrace.diagnose._redact import redact_text
from semtrace.diagnose.context import context_from_exception
from semtrace.diagnose.fingerprint import fingerprint
from semtrace.diagnose.models import Action, Diagnosis, Remediation
from semtrace.diagnose.providers import Budget, Provider, ProviderError, get_provider
from semtrace.diagnose.providers.rules import RulesProvider
from semtrace.exceptions import ConfigurationError
from semtrace.store.model import LogRecord
from semtrace.telemetry.context import ATTEMPT_KEY, current_agent
from semtrace.telemetry.errors import error_facts, retry_after_seconds
from semtrace.tracer._failures import mark_recovered, origin_of
from semtrace.tracer.setup import STATE, emit_log
from semtrace.tracer.tasks import current_task

__all__ = ["RUNTIME_ACTIONS", "HealPolicy", "clear_cache", "heal"]

F = TypeVar("F", bound=Callable[..., Any])
_log = logging.getLogger("semtrace.heal")

RUNTIME_ACTIONS = frozenset(
    {
        Action.retry,
        Action.retry_with_backoff,
        Action.increase_timeout,
        Action.fallback_tool,
        Action.fallback_model,
        Action.escalate_to_human,
        Action.circuit_break,
    }
)
_TERMINAL = frozenset({Action.escalate_to_human, Action.circuit_break})
# The operation of the traced call a failure escaped from, by its role (for where it happened).
_OPERATIONS = {
    "tool": sc.OP_EXECUTE_TOOL,
    "llm": sc.OP_CHAT,
    "agent": sc.OP_INVOKE_AGENT,
    "step": sc.OP_INVOKE_WORKFLOW,
}
# A retry the policy allows stands in for the other kind of retry the diagnosis proposed.
_SUBSTITUTES = {Action.retry_with_backoff: Action.retry, Action.retry: Action.retry_with_backoff}
_CACHE_SIZE = 256
DEFAULT_BACKOFF_S = 0.5
DEFAULT_JITTER = 0.25
_jitter_rng = random.Random()
_cache: OrderedDict[tuple[str, str], Diagnosis] = OrderedDict()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget the in-process diagnoses (tests, or after a deploy changed behaviour)."""
    with _cache_lock:
        _cache.clear()


@dataclass
class HealPolicy:
    """What ``heal`` may do about a failing step.

    ``allow``: actions it may apply (a subset of :data:`RUNTIME_ACTIONS`; ``fix_input`` and
    ``code_change`` need a person and are refused). ``max_attempts`` counts every call of the
    step, the first included. ``budget_s`` bounds the whole episode, waits included.
    ``fallbacks``: ``{"tool": callable, "model": callable or kwargs for the step}``.
    ``timeout_cap_s``: the highest value ``increase_timeout`` may give the step's
    ``timeout_param`` keyword. ``backoff_s``: the first backoff wait (doubling after; default:
    the diagnosis' suggestion, else 0.5 s; ``Retry-After`` on the exception can lengthen it, up
    to ``max_backoff_s``). ``jitter``: each wait is lengthened by a random share of itself up to
    this fraction (0.25: up to 25 % longer), so many failing callers do not retry in lockstep;
    never past ``max_backoff_s``, and a wait that would overrun ``budget_s`` is not waited.
    ``provider``: ``"rules"`` or an LLM provider (name or object).
    """

    allow: Sequence[str | Action] = (Action.retry, Action.retry_with_backoff)
    max_attempts: int = 3
    budget_s: float = 30.0
    fallbacks: Mapping[str, Any] = field(default_factory=dict)
    timeout_cap_s: float | None = None
    timeout_param: str = "timeout"
    backoff_s: float | None = None
    max_backoff_s: float = 10.0
    provider: str | Provider = "rules"
    provider_options: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None
    jitter: float = DEFAULT_JITTER
    _allowed: frozenset[Action] = field(init=False, repr=False, default=frozenset())
    _provider: Provider | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        allowed: set[Action] = set()
        for a in self.allow:
            try:
                action = Action(a)
            except ValueError:
                raise ConfigurationError(
                    f"heal(allow=...) got {a!r}; choose among "
                    f"{', '.join(sorted(x.value for x in RUNTIME_ACTIONS))}"
                ) from None
            if action not in RUNTIME_ACTIONS:
                raise ConfigurationError(
                    f"heal cannot apply {action.value!r} at runtime (it needs a person); "
                    f"allow only {', '.join(sorted(x.value for x in RUNTIME_ACTIONS))}"
                )
            allowed.add(action)
        unknown = set(self.fallbacks) - {"tool", "model"}
        if unknown:
            raise ConfigurationError(
                f"heal(fallbacks=...) takes the keys 'tool' and 'model', not {sorted(unknown)}"
            )
        tool = self.fallbacks.get("tool")
        if tool is not None and not callable(tool):
            raise ConfigurationError("heal(fallbacks={'tool': ...}) must be a callable")
        model = self.fallbacks.get("model")
        if model is not None and not (callable(model) or isinstance(model, Mapping)):
            raise ConfigurationError(
                "heal(fallbacks={'model': ...}) must be a callable or a dict of keyword "
                "arguments for the step (e.g. {'model': 'gpt-4o-mini'})"
            )
        if self.max_attempts < 1:
            raise ConfigurationError("heal(max_attempts=...) must be >= 1")
        if self.budget_s <= 0:
            raise ConfigurationError("heal(budget_s=...) must be > 0 seconds")
        if not 0.0 <= self.jitter < 1.0:
            raise ConfigurationError("heal(jitter=...) must be in [0, 1): a fraction of the wait")
        if self.timeout_cap_s is not None and self.timeout_cap_s <= 0:
            raise ConfigurationError("heal(timeout_cap_s=...) must be > 0 seconds")
        self._allowed = frozenset(allowed)

    @property
    def allowed(self) -> frozenset[Action]:
        """The validated allowlist."""
        return self._allowed

    def get_provider(self) -> Provider:
        if self._provider is None:
            options = dict(self.provider_options)
            # A diagnosis must not eat the episode's time budget: short timeout, no retries.
            options.setdefault("timeout_s", max(1.0, self.budget_s / 3))
            options.setdefault("max_retries", 0)
            self._provider = get_provider(self.provider, budget=Budget(max_calls=20), **options)
        return self._provider

    def __call__(self, fn: F) -> F:
        return _wrap(self, fn)


# -- one healing episode ---------------------------------------------------------------------


def _retry_after_s(exc: BaseException) -> float | None:
    """The wait the service asked for (``Retry-After``), read by telemetry.errors."""
    value = error_facts(exc).get(sc.SEMTRACE_ERROR_RETRY_AFTER_S)
    return retry_after_seconds(value)


def _number(params: Mapping[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = params.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(number, lo), hi)


@dataclass
class _Plan:
    action: Action
    delay_s: float = 0.0
    call: Callable[..., Any] | None = None
    kwargs: dict[str, Any] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


class _Episode:
    """The state of healing one failing call: attempts, time, used fallbacks, records."""

    def __init__(self, policy: HealPolicy, fn: Callable[..., Any], step: str) -> None:
        self.policy = policy
        self.fn = fn
        self.step = step
        self.agent = current_agent()
        self.id = uuid.uuid4().hex[:16]
        self.started = time.monotonic()
        self.attempt = 1
        self.backoffs = 0
        self.used: set[Action] = set()
        self.first_fingerprint: str | None = None
        self.errors: list[BaseException] = []  # each failure of the step in this episode
        self.kwargs: dict[str, Any] | None = None  # set once a larger timeout was given
        self.tallies: dict[str, Tally] | None = None  # what worked before this episode
        try:
            self.signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self.signature = None

    # -- diagnosis ---------------------------------------------------------------------------
    def diagnose(self, exc: BaseException) -> Diagnosis:
        self.errors.append(exc)
        kind = error_type(exc)
        fp = fingerprint("error", self.agent, self.step, kind, str(exc))
        if self.first_fingerprint is None:
            self.first_fingerprint = fp
        provider = self.policy.get_provider()
        key = (provider.name, fp)
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
        origin = origin_of(exc)
        pack = context_from_exception(
            exc,
            fingerprint=fp,
            agent=self.agent,
            target=self.step,
            error_type=kind,
            attempt=self.attempt,
            span_attributes=error_facts(exc),
            operation=_OPERATIONS.get(origin[0]) if origin else None,
        )
        started = time.perf_counter()
        try:
            result = provider.diagnose(pack)
            cacheable = True
        except ProviderError as err:
            _log.warning(
                "heal: %s provider failed (%s); using the offline rules", provider.name, err
            )
            result = RulesProvider().diagnose(pack)
            cacheable = False
        diagnosis = Diagnosis.from_draft(
            result.draft,
            fingerprint=fp,
            provider=provider.name if cacheable else "rules",
            model=result.model,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            cost_usd=result.cost_usd,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        if cacheable:
            with _cache_lock:
                _cache[key] = diagnosis
                while len(_cache) > _CACHE_SIZE:
                    _cache.popitem(last=False)
        return diagnosis

    # -- choosing ----------------------------------------------------------------------------
    def _current_timeout(self, kwargs: Mapping[str, Any]) -> float | None:
        param = self.policy.timeout_param
        if param in kwargs and kwargs[param] is not None:
            try:
                return float(kwargs[param])
            except (TypeError, ValueError):
                return None
        if self.signature is not None and param in self.signature.parameters:
            default = self.signature.parameters[param].default
            if isinstance(default, int | float) and not isinstance(default, bool):
                return float(default)
        return None

    def _candidates(self, diagnosis: Diagnosis) -> list[tuple[Action, Remediation]]:
        """The allowed actions the diagnosis proposes, in its order (most confident first)."""
        out: list[tuple[Action, Remediation]] = []
        for rem in sorted(diagnosis.remediations, key=lambda r: -r.confidence):
            action = rem.action
            if action not in self.policy.allowed and action in _SUBSTITUTES:
                action = _SUBSTITUTES[action]
            # The allowlist is the policy's; a diagnosis (an LLM's too) only ranks within it.
            if action in self.policy.allowed and all(a is not action for a, _ in out):
                out.append((action, rem))
        return out

    def _history(self) -> dict[str, Tally]:
        """What healing this failure achieved before this episode, in this database (none if
        unknown). Read once: within an episode the order it gives stands, so a policy's
        retries with backoff still run their course before its fallback."""
        if self.tallies is None:
            settings = STATE.settings
            if settings is None or self.first_fingerprint is None:
                return {}
            HISTORY.session(settings)
            self.tallies = HISTORY.tallies(settings.db, self.first_fingerprint)
        return self.tallies

    def plan(
        self, diagnosis: Diagnosis, exc: BaseException, kwargs: dict[str, Any]
    ) -> tuple[_Plan | None, str]:
        """The next thing to do, or ``None`` and why nothing is left."""
        policy = self.policy
        remaining = policy.budget_s - (time.monotonic() - self.started)
        reason = f"no allowed action applies to a {diagnosis.category.value} failure"
        for choice in rank(self._candidates(diagnosis), self._history()):
            action, rem = choice.action, choice.remediation
            why = {"chosen_by": choice.chosen_by, "reason": choice.reason}
            params = rem.parameters if isinstance(rem.parameters, Mapping) else {}
            if action in _TERMINAL:
                return _Plan(action, parameters=why), ""
            if self.attempt >= policy.max_attempts:
                return None, f"max_attempts ({policy.max_attempts}) reached"
            if action is Action.retry:
                return _Plan(action, parameters=why), ""
            if action is Action.retry_with_backoff:
                # The policy's own backoff wins; without one, the diagnosis may suggest it.
                base = (
                    policy.backoff_s
                    if policy.backoff_s is not None
                    else _number(
                        params, "base_delay_s", DEFAULT_BACKOFF_S, 0.0, policy.max_backoff_s
                    )
                )
                # Exponential, jittered upwards (callers spread out), capped.
                nominal = base * (2**self.backoffs)
                jittered = nominal * (1.0 + policy.jitter * _jitter_rng.random())
                delay = min(jittered, policy.max_backoff_s)
                hinted = _retry_after_s(exc)
                if hinted is not None:
                    delay = min(max(delay, hinted), policy.max_backoff_s)
                if delay >= remaining:
                    reason = (
                        f"budget_s ({policy.budget_s:g} s) would be spent waiting {delay:.2f} s"
                    )
                    continue
                self.backoffs += 1
                return _Plan(
                    action, delay_s=delay, parameters={"delay_s": round(delay, 4), **why}
                ), ""
            if action is Action.fallback_tool:
                tool = policy.fallbacks.get("tool")
                if tool is None or action in self.used:
                    continue
                name = getattr(tool, "__name__", type(tool).__name__)
                return _Plan(action, call=tool, parameters={"fallback": name, **why}), ""
            if action is Action.fallback_model:
                model = policy.fallbacks.get("model")
                if model is None or action in self.used:
                    continue
                if isinstance(model, Mapping):
                    return _Plan(
                        action,
                        kwargs={**kwargs, **model},
                        parameters={"fallback": {k: str(v) for k, v in model.items()}, **why},
                    ), ""
                name = getattr(model, "__name__", type(model).__name__)
                return _Plan(action, call=model, parameters={"fallback": name, **why}), ""
            if action is Action.increase_timeout:
                cap = policy.timeout_cap_s
                current = self._current_timeout(kwargs)
                if cap is None or current is None or current >= cap:
                    continue
                factor = _number(params, "factor", 2.0, 1.1, 4.0)
                new = min(cap, current * factor)
                return _Plan(
                    action,
                    kwargs={**kwargs, policy.timeout_param: new},
                    parameters={"timeout_s": new, "previous_timeout_s": current, **why},
                ), ""
        return None, reason

    # -- recording ---------------------------------------------------------------------------
    def record(
        self,
        plan_action: str,
        outcome: str,
        diagnosis: Diagnosis | None,
        *,
        parameters: Mapping[str, Any] | None = None,
        error: BaseException | str | None = None,
        span: trace.Span | None = None,
    ) -> None:
        with handle_internal_errors("heal record"):
            _record(self, plan_action, outcome, diagnosis, parameters or {}, error, span)


def _sentence(
    ep: _Episode, action: str, outcome: str, diagnosis: Diagnosis | None, error: str
) -> str:
    who = f"the {ep.agent} agent's step {ep.step}" if ep.agent else f"the step {ep.step}"
    why = f" ({diagnosis.category.value})" if diagnosis is not None else ""
    if outcome == "recovered":
        text = f"heal recovered {who} with {action} on attempt {ep.attempt}"
    elif outcome == "failed":
        text = f"heal tried {action} for {who}{why} on attempt {ep.attempt} and it failed again"
    elif outcome == "escalated":
        text = f"heal escalated {who}{why} to a human: the task now waits in input_required"
    elif outcome == "no_task":
        text = f"heal could not escalate {who}{why}: no task is running to put in input_required"
    elif outcome == "circuit_open":
        text = f"heal stopped retrying {who}{why} (circuit break)"
    else:
        text = f"heal gave up on {who}{why} after {ep.attempt} attempt(s)"
    if error:
        text += f"; {error}"
    return text[0].upper() + text[1:]


def _record(
    ep: _Episode,
    action: str,
    outcome: str,
    diagnosis: Diagnosis | None,
    parameters: Mapping[str, Any],
    error: BaseException | str | None,
    span: trace.Span | None,
) -> None:
    err_text = ""
    if isinstance(error, BaseException):
        err_text = redact_text(f"{type(error).__name__}: {error}")[:500]
    elif error:
        err_text = redact_text(error)[:500]
    elapsed_ms = (time.monotonic() - ep.started) * 1000
    fp = ep.first_fingerprint
    attrs: dict[str, Any] = {
        sc.SEMTRACE_HEAL: True,
        sc.SEMTRACE_HEAL_ACTION: action,
        sc.SEMTRACE_HEAL_OUTCOME: outcome,
        sc.SEMTRACE_HEAL_EPISODE: ep.id,
        sc.SEMTRACE_ATTEMPT: ep.attempt,
    }
    if fp:
        attrs[sc.SEMTRACE_HEAL_FINGERPRINT] = fp
    if diagnosis is not None:
        attrs[sc.SEMTRACE_HEAL_CATEGORY] = diagnosis.category.value
    if parameters.get("reason"):  # why this action was tried now (history or diagnosis)
        attrs[sc.SEMTRACE_HEAL_REASON] = str(parameters["reason"])[:500]
    own_span = span is None
    if span is None:
        span = trace.get_tracer("semtrace").start_span(f"heal {ep.step}", attributes=attrs)
    else:
        span.set_attributes(attrs)
    ctx = span.get_span_context()
    trace_id = f"{ctx.trace_id:032x}" if ctx.is_valid else None
    span_id = f"{ctx.span_id:016x}" if ctx.is_valid else None
    if own_span:
        span.end()
    sentence = _sentence(ep, action, outcome, diagnosis, err_text)
    emit_log(
        LogRecord(
            time_ns=time.time_ns(),
            message=sentence,
            severity="INFO" if outcome in {"recovered", "escalated"} else "WARNING",
            template="heal {outcome} {step} with {action}",
            trace_id=trace_id,
            span_id=span_id,
            agent_name=ep.agent,
            logger_name="semtrace.heal",
            event_name="semtrace.heal.attempt",
            action=f"heal the step {ep.step}",
            attributes={
                "heal.action": action,
                "heal.outcome": outcome,
                "heal.attempt": ep.attempt,
                "heal.episode": ep.id,
                "heal.fingerprint": fp,
            },
        )
    )
    settings = STATE.settings
    if settings is None:
        return
    run_id = HISTORY.session(settings)
    if fp:
        HISTORY.note(settings.db, fp, action, outcome, elapsed_ms)
    row = {
        "time": time.time_ns() // 1000,  # µs since the epoch (no tz conversion, no pandas)
        "trace_id": trace_id,
        "span_id": span_id,
        "fingerprint": fp,
        "step": ep.step,
        "attempt": ep.attempt,
        "action": action,
        "parameters": json.dumps(
            {"episode_id": ep.id, "run_id": run_id, **parameters}, default=str
        ),
        "outcome": outcome,
        "error": err_text or None,
        "duration_ms": elapsed_ms,
    }
    # Queued, written in batches by a background thread: the step never waits on the store.
    if settings.endpoint is None:
        _attempts.enqueue(settings.db, row)
    else:  # a collector owns the file: through its /v1/records
        _attempts.enqueue(settings.endpoint, row, collector=True)


def _escalate(ep: _Episode, diagnosis: Diagnosis) -> str:
    task = current_task()
    if task is None:
        return "no_task"
    message = f"{diagnosis.summary} A person is needed: {diagnosis.root_cause}"[:500]
    return "escalated" if task.set_status("input_required", message) else "no_task"


# -- the wrappers ----------------------------------------------------------------------------


def _heal_span(ep: _Episode, plan: _Plan) -> trace.Span:
    attrs: dict[str, Any] = {sc.SEMTRACE_HEAL: True, sc.SEMTRACE_HEAL_ACTION: plan.action.value}
    if plan.delay_s:
        attrs[sc.SEMTRACE_HEAL_DELAY_S] = round(plan.delay_s, 4)  # the wait before this attempt
    return trace.get_tracer("semtrace").start_span(f"heal {ep.step}", attributes=attrs)


def _next_plan(
    ep: _Episode,
    diagnosis: Diagnosis,
    exc: Exception,
    kwargs: dict[str, Any],
    original: Exception,
) -> _Plan:
    """The next recovery to try; records the give-up (or the terminal step) and re-raises
    the caller's first error when there is none. Shared by the sync and async wrappers."""
    plan, why = ep.plan(diagnosis, exc, ep.kwargs if ep.kwargs is not None else kwargs)
    if plan is None:
        ep.record("give_up", "exhausted", diagnosis, error=why)
        raise original
    if plan.action in _TERMINAL:
        _terminal(ep, plan, diagnosis, exc)
        raise original
    return plan


def _begin_attempt(ep: _Episode, plan: _Plan) -> tuple[trace.Span, Token[otel_context.Context]]:
    """Counts the attempt, opens its heal span and makes it current (with the attempt number)."""
    ep.attempt += 1
    ep.used.add(plan.action)
    if plan.action is Action.increase_timeout:
        ep.kwargs = plan.kwargs
    span = _heal_span(ep, plan)
    token = otel_context.attach(
        otel_context.set_value(ATTEMPT_KEY, ep.attempt, trace.set_span_in_context(span))
    )
    return span, token


def _end_attempt(
    ep: _Episode,
    plan: _Plan,
    diagnosis: Diagnosis,
    span: trace.Span,
    token: Token[otel_context.Context],
    error: Exception | None,
) -> None:
    """Restores the context, records the attempt as failed (``error``) or recovered, ends its span."""
    otel_context.detach(token)
    if error is None:
        for failed in ep.errors:  # their failure logs say heal recovered them
            mark_recovered(failed, plan.action.value)
        ep.record(plan.action.value, "recovered", diagnosis, parameters=plan.parameters, span=span)
    else:
        ep.record(
            plan.action.value,
            "failed",
            diagnosis,
            parameters=plan.parameters,
            error=error,
            span=span,
        )
    span.end()


def _wrap(policy: HealPolicy, fn: F) -> F:
    if not callable(fn):
        raise TypeError(f"semtrace.heal decorates callables, got {type(fn).__name__}")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(
            "semtrace.heal cannot retry a generator (items already yielded cannot be taken "
            "back); heal the function that produces each item instead"
        )
    step = policy.name or getattr(fn, "__name__", None) or type(fn).__name__

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_healed(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as first:
                original = first
            ep = _Episode(policy, fn, step)
            exc: Exception = original
            while True:
                diagnosis = await asyncio.to_thread(ep.diagnose, exc)
                plan = _next_plan(ep, diagnosis, exc, kwargs, original)
                if plan.delay_s:
                    await asyncio.sleep(plan.delay_s)
                span, token = _begin_attempt(ep, plan)
                try:
                    target = plan.call or fn
                    result = target(*args, **(plan.kwargs or ep.kwargs or kwargs))
                    if inspect.isawaitable(result):
                        result = await result
                except Exception as again:
                    _end_attempt(ep, plan, diagnosis, span, token, again)
                    exc = again
                    continue
                _end_attempt(ep, plan, diagnosis, span, token, None)
                return result

        return cast(F, async_healed)

    @functools.wraps(fn)
    def healed(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as first:
            original = first
        ep = _Episode(policy, fn, step)
        exc: Exception = original
        while True:
            diagnosis = ep.diagnose(exc)
            plan = _next_plan(ep, diagnosis, exc, kwargs, original)
            if plan.delay_s:
                time.sleep(plan.delay_s)
            span, token = _begin_attempt(ep, plan)
            try:
                target = plan.call or fn
                result = target(*args, **(plan.kwargs or ep.kwargs or kwargs))
            except Exception as again:
                _end_attempt(ep, plan, diagnosis, span, token, again)
                exc = again
                continue
            _end_attempt(ep, plan, diagnosis, span, token, None)
            return result

    return cast(F, healed)


def _terminal(ep: _Episode, plan: _Plan, diagnosis: Diagnosis, exc: BaseException) -> None:
    if plan.action is Action.escalate_to_human:
        outcome = _escalate(ep, diagnosis)
    else:
        outcome = "circuit_open"
    ep.record(plan.action.value, outcome, diagnosis, error=exc)


def heal(
    fn: Any = None,
    /,
    *,
    allow: Sequence[str | Action] = (Action.retry, Action.retry_with_backoff),
    max_attempts: int = 3,
    budget_s: float = 30.0,
    fallbacks: Mapping[str, Any] | None = None,
    timeout_cap_s: float | None = None,
    timeout_param: str = "timeout",
    backoff_s: float | None = None,
    max_backoff_s: float = 10.0,
    provider: str | Provider = "rules",
    provider_options: Mapping[str, Any] | None = None,
    name: str | None = None,
    jitter: float = DEFAULT_JITTER,
    policy: HealPolicy | None = None,
) -> Any:
    """Heal a step (sync or async) when it raises: ``@semtrace.heal(allow=[...])``.

    Also ``@semtrace.heal`` bare (retries only), ``@semtrace.heal(policy)`` or
    ``@semtrace.heal(policy=HealPolicy(...))``. See :class:`HealPolicy` for the options.
    """
    if isinstance(fn, HealPolicy):
        policy, fn = fn, None
    if policy is None:
        policy = HealPolicy(
            allow=tuple(allow),
            max_attempts=max_attempts,
            budget_s=budget_s,
            fallbacks=dict(fallbacks or {}),
            timeout_cap_s=timeout_cap_s,
            timeout_param=timeout_param,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            provider=provider,
            provider_options=dict(provider_options or {}),
            name=name,
            jitter=jitter,
        )
    if fn is not None:
        return _wrap(policy, fn)
    return policy
