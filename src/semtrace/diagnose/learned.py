"""A small learned fallback for the offline rules: naive Bayes over a failure's facts.

The rules (:mod:`.classify`) decide on codes, types and phrasings they were written for; a
failure of a library they have never seen often has none of those, yet its facts still
carry signal: the words of its type (``...ExpiredError``), its module, where it happened,
its codes and the words of its message. This module learns, from the labelled development
corpus shipped beside it (``learned_training.jsonl``, the same cases as the bench's
development splits), how those tokens go with each category: a multinomial naive Bayes
over the set of a failure's tokens, with add-``alpha`` smoothing. It is pure Python and
trained on first use (a few hundred cases, milliseconds).

The classifier asks it only when the rules, and the defaults on where an error was raised,
know nothing, and keeps ``unknown`` when the model's posterior is below :data:`THRESHOLD`. The
remediations of a learned category are the actions most often acceptable as a first step
for that category's training cases.

Training refuses any case whose split is held out (``fresh*``): a held-out set that trained
the model would no longer measure it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from typing import Any

from semtrace import semconv as sc
from semtrace.diagnose.facts import GRPC_CODES, Facts, facts_from_pack
from semtrace.diagnose.models import Action, Category

__all__ = [
    "THRESHOLD",
    "Model",
    "Prediction",
    "case_pack",
    "current",
    "shipped",
    "tokens",
    "train",
    "training_cases",
    "using",
]

TRAINING_FILE = "learned_training.jsonl"
# Below this posterior the model's guess is not used and the answer stays unknown. With
# add-one smoothing, cross-validated by library over the development cases that neither the
# rules nor the where-defaults know, it answered 18 of 58, 17 of them right, and took none
# of the 10 labelled unknown (a smaller alpha is more often right overall but overconfident).
THRESHOLD = 0.9
ALPHA = 1.0
_OPERATIONS = {"tool": "execute_tool", "llm": "chat", "code": "invoke_workflow"}
_GRPC_NUMBERS = {name: number for number, name in GRPC_CODES.items()}


def case_pack(case: Mapping[str, Any]) -> dict[str, Any]:
    """The context pack semtrace would build for a labelled case's failure: where it
    happened, the exception, and the facts it carried as the span attributes semtrace
    records for them (see :mod:`semtrace.telemetry.errors`)."""
    operation = _OPERATIONS[case["where"]]
    exc = case.get("exception") or {}
    failure: dict[str, Any] = {
        "kind": case.get("kind", "error"),
        "agent": "agent",
        "target": "step",
        "operation": operation,
        "message": exc.get("message") or "",
    }
    pack: dict[str, Any] = {
        "failure": failure,
        "span": {"operation": operation, "attributes": _span_attributes(case)},
    }
    if exc.get("type"):
        failure["error_type"] = exc["type"]
        pack["exception"] = {"type": exc["type"], "message": exc.get("message") or ""}
    return pack


def _span_attributes(case: Mapping[str, Any]) -> dict[str, Any]:
    facts = case.get("facts") or {}
    attrs: dict[str, Any] = {}
    if "status_code" in facts:
        attrs[sc.HTTP_RESPONSE_STATUS_CODE] = facts["status_code"]
    if "errno" in facts:
        attrs[sc.SEMTRACE_ERROR_ERRNO] = facts["errno"]
    if "grpc_code" in facts:
        attrs[sc.RPC_GRPC_STATUS_CODE] = _GRPC_NUMBERS[facts["grpc_code"]]
    if "sqlstate" in facts or "vendor_code" in facts:
        attrs[sc.DB_RESPONSE_STATUS_CODE] = facts.get("sqlstate") or facts["vendor_code"]
    if "error_code" in facts:
        attrs[sc.SEMTRACE_ERROR_CODE] = facts["error_code"]
    attrs.update(case.get("span") or {})
    return attrs


_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
_WORD = re.compile(r"[A-Za-z][A-Za-z']+")
# Words every message has, whatever went wrong.
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "was",
        "were",
        "are",
        "this",
        "that",
        "from",
        "not",
        "has",
        "have",
        "had",
        "but",
        "its",
        "into",
        "when",
        "which",
        "your",
        "you",
        "our",
        "can",
        "could",
        "will",
        "would",
        "should",
        "may",
        "might",
        "been",
        "being",
        "than",
        "then",
        "there",
        "their",
        "error",
        "errors",
        "exception",
        "occurred",
        "please",
        "http",
        "https",
        "www",
        "com",
    ]
)


def _parts(name: str) -> list[str]:
    return [p.lower() for p in _CAMEL.findall(name.replace("_", " ")) if len(p) > 1]


def tokens(f: Facts) -> list[str]:
    """The failure's tokens: where, kind, the type's name and words, its module, each code
    recorded or printed (and its class), then the distinct words of the message."""
    name = f.type_name
    facts = [f"where={f.where or '?'}", f"kind={f.kind}"]
    if name:
        facts += [f"type={name}", *(f"type~{p}" for p in _parts(name))]
        facts.append(f"module={f.module.partition('.')[0] or 'builtins'}")
    if f.status_code is not None:
        facts += [f"status={f.status_code}", f"status={f.status_code // 100}xx"]
    if f.grpc_code:
        facts.append(f"grpc={f.grpc_code}")
    if f.sql_state:
        facts += [f"sql={f.sql_state}", f"sql={f.sql_state[:2]}"]
    if f.db_code:
        facts.append(f"db={f.db_code}")
    if f.errno is not None:
        facts.append(f"errno={f.errno}")
    if f.provider_code:
        facts += [f"code={f.provider_code}", *(f"code~{p}" for p in _parts(f.provider_code))]
    facts += [f"finish={r}" for r in f.finish_reasons]
    words = {w.lower().strip("'") for w in _WORD.findall(f.text[:2000])}
    return facts + sorted(w for w in words if len(w) > 2 and w not in _STOP)


@dataclass(frozen=True)
class Prediction:
    """The model's category for a failure, its posterior, and the first actions that were
    acceptable for that category's training cases (each with the share that accepted it)."""

    category: Category
    probability: float
    actions: tuple[tuple[Action, float], ...]
    cases: int  # how many cases the model was trained on


@dataclass(frozen=True)
class Model:
    """Multinomial naive Bayes over token sets, with the actions to propose per category."""

    log_prior: Mapping[str, float]
    log_likelihood: Mapping[str, Mapping[str, float]]
    log_unseen: Mapping[str, float]  # a token the category never had
    actions: Mapping[str, tuple[tuple[Action, float], ...]]
    cases: int

    def posterior(self, toks: Sequence[str]) -> dict[str, float]:
        """Each category's posterior for these tokens (tokens no category had are ignored)."""
        known = [t for t in toks if any(t in ll for ll in self.log_likelihood.values())]
        scores = {
            c: self.log_prior[c] + sum(ll.get(t, self.log_unseen[c]) for t in known)
            for c, ll in self.log_likelihood.items()
        }
        top = max(scores.values())
        total = sum(math.exp(s - top) for s in scores.values())
        return {c: math.exp(s - top) / total for c, s in scores.items()}

    def predict(self, f: Facts) -> Prediction:
        post = self.posterior(tokens(f))
        category = max(post, key=lambda c: post[c])
        return Prediction(Category(category), post[category], self.actions[category], self.cases)


def _refuse_held_out(cases: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    out = list(cases)
    for case in out:
        split = str(case.get("split") or "")
        if not split or split.startswith("fresh"):
            raise ValueError(
                f"case {case.get('id')!r} has split {split!r}: only development cases "
                "(not a held-out fresh* set, nor one without a split) may train the model"
            )
    return out


def _ranked_actions(cases: Sequence[Mapping[str, Any]]) -> tuple[tuple[Action, float], ...]:
    """The actions acceptable first for most of these cases, most often first (ties: the
    one listed earlier on average)."""
    count: Counter[str] = Counter()
    place: defaultdict[str, float] = defaultdict(float)
    for case in cases:
        for i, action in enumerate(case["acceptable"]):
            count[action] += 1
            place[action] += i
    ranked = sorted(count, key=lambda a: (-count[a], place[a] / count[a]))
    return tuple((Action(a), round(count[a] / len(cases), 2)) for a in ranked)


def train(cases: Iterable[Mapping[str, Any]], alpha: float = ALPHA) -> Model:
    """A model of these labelled cases (rows of the corpus); refuses a held-out case."""
    rows = _refuse_held_out(cases)
    by_category: defaultdict[str, list[Mapping[str, Any]]] = defaultdict(list)
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for case in rows:
        by_category[case["category"]].append(case)
        counts[case["category"]].update(tokens(facts_from_pack(case_pack(case))))
    vocabulary = len(set().union(*counts.values())) if counts else 0
    log_likelihood: dict[str, dict[str, float]] = {}
    log_unseen: dict[str, float] = {}
    for category, counted in counts.items():
        total = sum(counted.values()) + alpha * vocabulary
        log_likelihood[category] = {t: math.log((n + alpha) / total) for t, n in counted.items()}
        log_unseen[category] = math.log(alpha / total)
    return Model(
        log_prior={c: math.log(len(mine) / len(rows)) for c, mine in by_category.items()},
        log_likelihood=log_likelihood,
        log_unseen=log_unseen,
        actions={c: _ranked_actions(mine) for c, mine in by_category.items()},
        cases=len(rows),
    )


def training_cases() -> list[dict[str, Any]]:
    """The development cases shipped with the package."""
    text = resources.files("semtrace.diagnose").joinpath(TRAINING_FILE).read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@functools.cache
def shipped() -> Model:
    """The model trained on the shipped development cases (once per process)."""
    return train(training_cases())


_IN_USE: ContextVar[Model | None] = ContextVar("semtrace_learned_model", default=None)


def current() -> Model:
    """The model the classifier uses: the shipped one, unless :func:`using` says otherwise."""
    return _IN_USE.get() or shipped()


@contextlib.contextmanager
def using(model: Model) -> Iterator[Model]:
    """Classify with ``model`` inside the block (to cross-validate: a model trained without
    the cases being scored)."""
    token = _IN_USE.set(model)
    try:
        yield model
    finally:
        _IN_USE.reset(token)
