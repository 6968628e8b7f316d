"""The offline diagnoser scored on a labelled corpus of real failure messages.

``bench/data/diagnosis_corpus.jsonl`` holds failures reported in the issue trackers and docs
of widely used libraries and services, one a line: the source it was taken from, where it
happened (a tool, the LLM, the agent's code), the exception's type and message, the facts
the exception object carries (status code, errno, gRPC and SQL codes, the service's error
code; semtrace records them as span attributes), its category and the remediations that
are acceptable as a first step. Within each category, cases are ordered by the sha256 of
their id and alternate between two halves; each case records its split:

- ``dev``: the rules were written on it.
- ``dev-seen``: development data that was once held out. The first corpus' held-out half
  (the audit of issue 16 found rules that matched its cases and no dev case), and half B of
  the fresh set, scored once in round 1 (76.3 % category, 84.7 % first action) and then
  used for tuning. Each such case's ``seen`` says why.
- ``tune``: half A of the fresh set, labelled before the frozen rules (commit 5570321) were
  run on it; its misses were looked at, case by case, to improve the rules.
- ``dev-seen-2``: ``fresh2``, round 2's held-out set (its own file,
  ``bench/data/diagnosis_corpus_fresh2.jsonl``), scored once with the rules at 4f4e756
  (71.2 % category, 82.2 % first action) and then used for tuning.

The held-out set is ``fresh3``: cases collected after round 2 into a file of their own,
``bench/data/diagnosis_corpus_fresh3.jsonl``, read only to score it. The targets apply to
it: category >= 90 %, acceptable first action >= 85 %, ``unknown`` only where the label is
``unknown``. Nothing computed from it is printed until it is scored once, by hand
(``python -m bench.diagnosis --score-held-out``), and its score recorded in
``FRESH3_RECORDED``; then only its totals, its accuracy per category and its confusion
matrix are printed, never a case's result.

Prints, for each split: accuracy per category, the confusion matrix, the rate at which the
first proposed action is an acceptable one, and how often the answer was ``unknown``.

``python -m bench.diagnosis --split tune --misses`` lists a split's misses for tuning; it
never lists the held-out set's (reading them would make it development data too).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench._harness import Result

CORPUS = Path(__file__).with_name("data") / "diagnosis_corpus.jsonl"
# Round 2's held-out set, scored once and then tuned on: development data (dev-seen-2) now,
# in the file it was collected into.
FRESH2 = CORPUS.with_name("diagnosis_corpus_fresh2.jsonl")
DEVELOPMENT_FILES = (CORPUS, FRESH2)
# The clean held-out set, collected after round 2 into a file of its own.
FRESH3 = CORPUS.with_name("diagnosis_corpus_fresh3.jsonl")
HELD_OUT = "fresh3"
DEVELOPMENT = ("dev", "dev-seen", "tune", "dev-seen-2")
SPLITS = (*DEVELOPMENT, HELD_OUT)
SPLIT_NOTES = {
    "dev": "the rules were written on it",
    "dev-seen": "once held out (first corpus' half, round-1 half B), now tuned on",
    "tune": "fresh half A, tuned on",
    "dev-seen-2": "round 2's held-out fresh2, scored once, now tuned on",
    HELD_OUT: "collected after round 2, not looked at case by case",
}
CATEGORY_TARGET = 0.90
ACTION_TARGET = 0.85
# Round 1: half B of the fresh set (now dev-seen), with the rules frozen at 5570321 (before
# any tuning on the fresh set) and after tuning on half A (commit 0c68060): cases right,
# acceptable first actions, and answers "unknown" where the label is a real category. Both
# are below the targets. B was then tuned on.
ROUND1_FROZEN = {"cases": 59, "right": 43, "acceptable": 49, "unknown_wrong": 4}
ROUND1 = {"cases": 59, "right": 45, "acceptable": 50, "unknown_wrong": 3}
# Round 2: fresh2 (now dev-seen-2), scored once with the rules at 4f4e756, below both
# targets; then tuned on. The reference the held-out set is reported beside.
ROUND2 = {"cases": 118, "right": 84, "acceptable": 97, "unknown_wrong": 15}
# fresh3's score, recorded once after its one scoring run (None until then). While it is None
# neither the bench nor the tests score fresh3, or print anything computed from it; once
# recorded, a change must not fall below it.
FRESH3_RECORDED: dict[str, int] | None = {
    "cases": 119,
    "right": 88,
    "acceptable": 102,
    "unknown_wrong": 2,
}
SCORE_HELD_OUT = "python -m bench.diagnosis --score-held-out"


def load(path: Path = CORPUS) -> list[dict[str, Any]]:
    """One corpus file's cases, in file order."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_development() -> list[dict[str, Any]]:
    """Every development case: the corpus and round 2's fresh2 file (dev-seen-2)."""
    return [case for path in DEVELOPMENT_FILES for case in load(path)]


def load_held_out(path: Path = FRESH3) -> list[dict[str, Any]]:
    """The fresh3 cases ([] while the file is not there); a row without a split is fresh3."""
    if not path.exists():
        return []
    cases = load(path)
    for case in cases:
        case.setdefault("split", HELD_OUT)
    return cases


def load_all(held_out: Path = FRESH3) -> list[dict[str, Any]]:
    """The development cases and, when it is there, the held-out fresh3 file."""
    return load_development() + load_held_out(held_out)


# What the learned fallback is trained on: each development case's facts and labels.
TRAINING = Path(__file__).parents[1] / "src" / "semtrace" / "diagnose" / "learned_training.jsonl"
_TRAINING_FIELDS = (
    "id",
    "library",
    "split",
    "where",
    "kind",
    "exception",
    "facts",
    "span",
    "category",
    "acceptable",
)


def training_rows() -> list[dict[str, Any]]:
    """The development cases as the package ships them for its learned fallback (the held-out
    file is never read here)."""
    return [
        {k: case[k] for k in _TRAINING_FIELDS if k in case}
        for case in load_development()
        if case["split"] in DEVELOPMENT
    ]


def write_training_data(path: Path = TRAINING) -> int:
    """Write the shipped training file from the development corpus; the number of cases."""
    rows = training_rows()
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return len(rows)


@dataclass
class Scored:
    """One case, what the rules said about it, and whether that was right."""

    case: dict[str, Any]
    category: str
    first_action: str | None
    evidence: str

    @property
    def right(self) -> bool:
        return self.category == self.case["category"]

    @property
    def acceptable(self) -> bool:
        return self.first_action in self.case["acceptable"]


def score(cases: Sequence[dict[str, Any]]) -> list[Scored]:
    """Diagnose each case offline (with the learned fallback :func:`learned.current`)."""
    from semtrace.diagnose.learned import case_pack
    from semtrace.diagnose.providers.rules import diagnose_pack

    out = []
    for case in cases:
        draft = diagnose_pack(case_pack(case))
        ranked = sorted(draft.remediations, key=lambda r: -r.confidence)
        evidence = draft.root_cause.partition("Decided by ")[2].partition(". ")[0]
        out.append(
            Scored(
                case,
                draft.category.value,
                ranked[0].action.value if ranked else None,
                evidence or "nothing (unknown)",
            )
        )
    return out


@dataclass
class Summary:
    split: str
    cases: int
    category_rate: float
    action_rate: float
    unknown: int
    unknown_wrong: int  # said unknown where the label is a real category


def summarise(split: str, scored: Sequence[Scored]) -> Summary:
    n = len(scored) or 1
    return Summary(
        split,
        len(scored),
        sum(s.right for s in scored) / n,
        sum(s.acceptable for s in scored) / n,
        sum(s.category == "unknown" for s in scored),
        sum(s.category == "unknown" and s.case["category"] != "unknown" for s in scored),
    )


def print_split(console: Console, split: str, scored: Sequence[Scored], misses: bool) -> None:
    """Per-category accuracy, the confusion matrix and (optionally) each miss."""
    labels = sorted({s.case["category"] for s in scored} | {s.category for s in scored})
    per = Table(title=f"{split}: accuracy per category")
    for col in ("category", "cases", "right", "accuracy", "acceptable first action"):
        per.add_column(col)
    for label in labels:
        mine = [s for s in scored if s.case["category"] == label]
        if not mine:
            continue
        right = sum(s.right for s in mine)
        per.add_row(
            label,
            str(len(mine)),
            str(right),
            f"{right / len(mine):.0%}",
            f"{sum(s.acceptable for s in mine) / len(mine):.0%}",
        )
    console.print(per)
    grid = Counter((s.case["category"], s.category) for s in scored)
    matrix = Table(title=f"{split}: confusion (rows: label, columns: rules)")
    matrix.add_column("label \\ said")
    for label in labels:
        matrix.add_column(label[:9])
    for row in labels:
        matrix.add_row(row, *(str(grid[(row, col)] or "") for col in labels))
    console.print(matrix)
    if misses and split == HELD_OUT:
        console.print(f"  ({split}: misses are not listed; reading them would make it dev data)")
    elif misses:
        for s in scored:
            if not (s.right and s.acceptable):
                exc = s.case.get("exception") or {}
                console.print(
                    f"  MISS {s.case['id']}: label {s.case['category']}, said {s.category} "
                    f"({s.evidence}), first action {s.first_action}; "
                    f"{exc.get('type')}: {str(exc.get('message'))[:120]!r}"
                )


def _percent(part: int, whole: int) -> float:
    return round(100 * part / (whole or 1), 1)


def _rows(split: str, s: Summary) -> list[Result]:
    """A split's three figures; the held-out set's with the targets and round 2 beside them."""
    held = split == HELD_OUT
    baseline = "round 2, on fresh2 (another set, now dev-seen-2)" if held else ""
    rates = (
        (f"category accuracy ({s.cases} cases)", s.category_rate, CATEGORY_TARGET, "right"),
        ("acceptable first action", s.action_rate, ACTION_TARGET, "acceptable"),
    )
    rows = [
        Result(
            "diagnosis",
            f"{split}: {metric}",
            round(rate * 100, 1),
            "%",
            baseline=baseline,
            baseline_value=_percent(ROUND2[key], ROUND2["cases"]) if held else None,
            target=f">= {target:.0%}" if held else "",
            met=rate >= target if held else None,
            note=SPLIT_NOTES[split],
        )
        for metric, rate, target, key in rates
    ]
    rows.append(
        Result(
            "diagnosis",
            f"{split}: unknown where the label is a category",
            s.unknown_wrong,
            "cases",
            baseline=baseline,
            baseline_value=ROUND2["unknown_wrong"] if held else None,
            target="0" if held else "",
            met=s.unknown_wrong == 0 if held else None,
            note=f"unknown {s.unknown} of {s.cases}",
        )
    )
    return rows


def well_formed(case: dict[str, Any]) -> bool:
    """A case names its source and library, where it happened, a category, acceptable first
    actions, and an exception or a failure kind."""
    from semtrace.diagnose.models import Action, Category

    try:
        return bool(
            case["source"].startswith("https://")
            and case["library"]
            and case["where"] in {"tool", "llm", "code"}
            and Category(case["category"])
            and case["acceptable"]
            and all(Action(a) for a in case["acceptable"])
            and (case.get("exception") or case.get("kind"))
        )
    except (KeyError, ValueError, AttributeError, TypeError):
        return False


def _held_out_problems(cases: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Counts (never the cases) of what would make a held-out score wrong."""
    development = {c["id"] for c in load_development()}
    ids = [c["id"] for c in cases]
    return {
        "not well-formed": sum(not well_formed(c) for c in cases),
        "split other than fresh3": sum(c["split"] != HELD_OUT for c in cases),
        "repeated ids": len(ids) - len(set(ids)),
        "ids also in the development corpus": len(development.intersection(ids)),
    }


def _not_scored(console: Console, path: Path) -> Result:
    """The held-out row while its one score is not taken: nothing computed from the file."""
    if not path.exists():
        console.print(f"  {HELD_OUT}: {path} is not there yet, so there is no held-out score")
        return Result(
            "diagnosis",
            f"{HELD_OUT}: cases",
            0,
            "cases",
            target=">= 1",
            met=False,
            note=f"no held-out score until {path.name} is collected",
        )
    console.print(
        f"  {HELD_OUT}: {path.name} is there and not scored yet; it is scored once, by hand "
        f"({SCORE_HELD_OUT}), and its score recorded in FRESH3_RECORDED"
    )
    return Result(
        "diagnosis",
        f"{HELD_OUT}: not scored yet",
        0,
        "scorings",
        target="1, by hand",
        note=f"{SCORE_HELD_OUT}, then record FRESH3_RECORDED",
    )


def run(
    quick: bool = False,
    *,
    splits: Sequence[str] = SPLITS,
    misses: bool = False,
    held_out: Path = FRESH3,
    score_held_out: bool = False,
) -> list[Result]:
    """Score each split (or the ones asked for), print them, return the figures.

    The held-out split is scored only once its score is recorded (``FRESH3_RECORDED``), or
    when ``score_held_out`` asks for its one scoring; until then its file is not even read.
    """
    console = Console()
    results: list[Result] = []
    development = load_development()
    for split in splits:
        if split == HELD_OUT:
            mine = load_held_out(held_out) if score_held_out or FRESH3_RECORDED else []
            if not mine:
                results.append(_not_scored(console, held_out))
                continue
            problems = {k: n for k, n in _held_out_problems(mine).items() if n}
            if problems:
                console.print(f"  [red]{HELD_OUT} is not fit to score:[/] {problems}")
        else:
            mine = [c for c in development if c["split"] == split]
        scored = score(mine)
        print_split(console, split, scored, misses)
        results += _rows(split, summarise(split, scored))
    if set(DEVELOPMENT) <= set(splits):
        results += _cv_rows(console, cross_validate(development))
    return results


FOLDS = 10


def library_folds(cases: Sequence[dict[str, Any]], k: int = FOLDS) -> list[list[dict[str, Any]]]:
    """``k`` folds of whole libraries: all of a library's cases in one fold, so each fold is
    scored by a model that never saw its libraries (the largest library first, each into the
    smallest fold so far; ties by the sha256 of its name)."""
    by_library: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in cases:
        by_library[case["library"]].append(case)
    order = sorted(
        by_library,
        key=lambda lib: (-len(by_library[lib]), hashlib.sha256(lib.encode()).hexdigest()),
    )
    folds: list[list[dict[str, Any]]] = [[] for _ in range(k)]
    for library in order:
        min(folds, key=len).extend(by_library[library])
    return folds


@dataclass
class CrossValidated:
    """The learned fallback scored on libraries it was not trained on."""

    cases: int
    right: int  # its category, on every case
    acceptable: int  # its first action
    resubstitution: int  # right when scored on what it was trained on (not an estimate)
    open_cases: int  # cases the where-defaults know nothing of: where it would be asked
    answered: int  # of those, answered at the threshold (a category, not unknown)
    answered_right: int
    unknown_taken: int  # labelled unknown, answered with a category


def cross_validate(cases: Sequence[dict[str, Any]], k: int = FOLDS) -> CrossValidated:
    """The learned model alone, k-fold by library over the development cases: how often it
    is right on every case, and, on the cases no default on where an error was raised
    decides, how often it answers at its threshold and is right."""
    from semtrace.diagnose import learned
    from semtrace.diagnose.classify import where_default
    from semtrace.diagnose.facts import facts_from_pack

    folds = library_folds(cases, k)
    tally = Counter[str]()
    for i, fold in enumerate(folds):
        model = learned.train([c for j, other in enumerate(folds) if j != i for c in other])
        for case in fold:
            facts = facts_from_pack(learned.case_pack(case))
            guess = model.predict(facts)
            tally["right"] += guess.category.value == case["category"]
            tally["acceptable"] += guess.actions[0][0].value in case["acceptable"]
            if where_default(facts) is not None:
                continue
            tally["open"] += 1
            if guess.probability >= learned.THRESHOLD and guess.category.value != "unknown":
                tally["answered"] += 1
                tally["answered_right"] += guess.category.value == case["category"]
                tally["unknown_taken"] += case["category"] == "unknown"
    whole = learned.train(cases)
    resubstitution = sum(
        whole.predict(facts_from_pack(learned.case_pack(c))).category.value == c["category"]
        for c in cases
    )
    return CrossValidated(
        len(cases),
        tally["right"],
        tally["acceptable"],
        resubstitution,
        tally["open"],
        tally["answered"],
        tally["answered_right"],
        tally["unknown_taken"],
    )


def _cv_rows(console: Console, cv: CrossValidated, k: int = FOLDS) -> list[Result]:
    """The cross-validated estimate of the learned fallback (development data, honest: each
    fold's libraries unseen by its model)."""
    what = f"learned fallback, {k}-fold by library"
    console.print(
        f"  {what}: {cv.right} of {cv.cases} right ({_percent(cv.right, cv.cases)} %; "
        f"{_percent(cv.resubstitution, cv.cases)} % on the cases it was trained on, which "
        f"is no estimate); where no default decides it answered {cv.answered} of "
        f"{cv.open_cases}, {cv.answered_right} right, {cv.unknown_taken} labelled unknown"
    )
    return [
        Result(
            "diagnosis",
            f"{what}: category accuracy ({cv.cases} cases)",
            _percent(cv.right, cv.cases),
            "%",
            note=f"the model alone; {_percent(cv.resubstitution, cv.cases)} % on its training "
            "cases (no estimate)",
        ),
        Result(
            "diagnosis",
            f"{what}: acceptable first action",
            _percent(cv.acceptable, cv.cases),
            "%",
            note="the model alone",
        ),
        Result(
            "diagnosis",
            f"{what}: right when it answers where no default decides",
            _percent(cv.answered_right, cv.answered),
            "%",
            note=f"answered {cv.answered} of {cv.open_cases} at its threshold; "
            f"{cv.unknown_taken} labelled unknown taken",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.diagnosis", description=__doc__)
    parser.add_argument("--split", choices=SPLITS, action="append", help="only these splits")
    parser.add_argument("--misses", action="store_true", help="list each wrong case")
    parser.add_argument(
        "--write-training-data",
        action="store_true",
        help=f"write {TRAINING.name} (the package's learned fallback) from the development files",
    )
    parser.add_argument(
        "--score-held-out",
        action="store_true",
        help=f"score {HELD_OUT} (its one scoring, by hand; totals only), then record it",
    )
    args = parser.parse_args(argv)
    if args.write_training_data:
        print(f"{TRAINING}: {write_training_data()} development cases")
        return 0
    splits = args.split or ([HELD_OUT] if args.score_held_out else SPLITS)
    for r in run(splits=splits, misses=args.misses, score_held_out=args.score_held_out):
        print(f"{r.metric}: {r.value} {r.unit} {r.target} {'' if r.met is None else r.met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
