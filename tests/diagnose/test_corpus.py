"""The labelled corpus of real failures: well-formed, split once, scored honestly.

The development corpus (``dev``, ``dev-seen``, ``tune``) is in one file; the held-out set,
``fresh2``, is collected after round 1 into a file of its own. Nothing here prints a fresh2
case or its result, and fresh2 is not scored at all until its one score is recorded
(``FRESH2_RECORDED`` in bench/diagnosis.py): a test that scored it earlier would show its
totals to whoever tunes the rules.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from bench.diagnosis import (
    ACTION_TARGET,
    CATEGORY_TARGET,
    DEVELOPMENT,
    FRESH2,
    FRESH2_RECORDED,
    HELD_OUT,
    ROUND1,
    Summary,
    load,
    load_all,
    load_held_out,
    run,
    score,
    summarise,
)

from semtrace.diagnose.models import Action, Category

ROUND1_SEEN = "scored in round 1, then used for tuning"


def _well_formed(c: dict[str, Any]) -> bool:
    try:
        return bool(
            c["source"].startswith("https://")
            and c["library"]
            and c["where"] in {"tool", "llm", "code"}
            and Category(c["category"])
            and c["acceptable"]
            and all(Action(a) for a in c["acceptable"])
            and (c.get("exception") or c.get("kind"))
        )
    except (KeyError, ValueError, AttributeError, TypeError):
        return False


def test_corpus_has_150_sourced_and_labelled_cases() -> None:
    """At least 150 cases, each naming its source, library, category and acceptable actions."""
    cases = load()
    assert len(cases) >= 150
    assert len({c["id"] for c in cases}) == len(cases)
    for c in cases:
        assert _well_formed(c), c["id"]
    assert set(Counter(c["category"] for c in cases)) == set(Category)


def test_the_split_is_recorded_and_stratified_by_a_hash_of_the_id() -> None:
    """Each case records its split; within a category the halves alternate in sha256 order.

    The first 179 cases were split into ``dev`` and a held-out half; the audit of issue 16
    found rules written for that half's cases, so it is ``dev-seen``. The fresh cases
    (``collected: fresh``) alternate ``tune`` (half A, tuned on) and half B, which was the
    held-out half of round 1: scored once, then tuned on, so ``dev-seen`` too. Every
    ``dev-seen`` case says why in ``seen``; the development file holds no held-out case.
    """
    by_group: dict[tuple[bool, str], list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for c in load():
        assert c["split"] in DEVELOPMENT, c["id"]
        by_group[(c.get("collected") == "fresh", c["category"])].append(c)
        if c["split"] == "dev-seen":
            assert c["seen"], c["id"]
    for (fresh, _), cases in by_group.items():
        ordered = sorted(cases, key=lambda c: hashlib.sha256(c["id"].encode()).hexdigest())
        halves = ("tune", "dev-seen") if fresh else ("dev", "dev-seen")
        assert [c["split"] for c in ordered] == [halves[i % 2] for i in range(len(ordered))]


def test_round_one_held_out_half_is_development_data_now() -> None:
    """Round 1's half B (59 fresh cases over every category) is dev-seen, each case saying it
    was scored in round 1 and then tuned on; its honest round-1 score stays recorded."""
    b = [c for c in load() if c.get("collected") == "fresh" and c["split"] == "dev-seen"]
    assert len(b) == ROUND1["cases"]
    assert {c["seen"] for c in b} == {ROUND1_SEEN}
    assert {c["category"] for c in b} == set(Category)
    assert (ROUND1["right"], ROUND1["acceptable"], ROUND1["unknown_wrong"]) == (45, 50, 3)


def test_a_held_out_file_is_read_when_there_and_scored_against_the_targets(
    tmp_path: Path,
) -> None:
    """The loader reads a fresh2 file beside the corpus when there is one (its rows are
    fresh2), and the bench reports that split with the targets and round 1 as the baseline.
    A file made here from two development cases stands in for the real one."""
    path = tmp_path / "fresh2.jsonl"
    assert load_held_out(path) == []
    rows = [{k: v for k, v in c.items() if k != "split"} for c in load()[:2]]
    for i, row in enumerate(rows):
        row["id"] = f"synthetic#{i}"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert [c["split"] for c in load_held_out(path)] == [HELD_OUT, HELD_OUT]
    assert len(load_all(path)) == len(load()) + 2
    results = run(splits=[HELD_OUT], held_out=path)
    assert [r.metric for r in results] == [
        f"{HELD_OUT}: category accuracy (2 cases)",
        f"{HELD_OUT}: acceptable first action",
        f"{HELD_OUT}: unknown where the label is a category",
    ]
    assert [r.target for r in results] == [">= 90%", ">= 85%", "0"]
    assert all(isinstance(r.met, bool) for r in results)
    assert results[0].baseline_value == round(100 * ROUND1["right"] / ROUND1["cases"], 1)
    missing = run(splits=[HELD_OUT], held_out=tmp_path / "absent.jsonl")
    assert [(r.metric, r.value, r.met) for r in missing] == [(f"{HELD_OUT}: cases", 0, False)]


def _fresh2() -> list[dict[str, Any]]:
    cases = load_held_out()
    if not cases:
        pytest.skip(f"{FRESH2.name} is not there yet")
    return cases


def test_fresh2_is_well_formed_and_apart_from_the_development_corpus() -> None:
    """The held-out file: well-formed cases, all split fresh2, none of them a development
    case. Only counts are asserted, so a failure shows no case."""
    cases = _fresh2()
    development = {c["id"] for c in load()}
    ids = [c["id"] for c in cases]
    assert sum(not _well_formed(c) for c in cases) == 0
    assert sum(c["split"] != HELD_OUT for c in cases) == 0
    assert len(set(ids)) == len(ids)
    assert len(development.intersection(ids)) == 0


def _held_out() -> tuple[list[dict[str, Any]], Summary]:
    if FRESH2_RECORDED is None:
        pytest.skip("fresh2 is scored once, by hand, and its score recorded in bench/diagnosis.py")
    cases = _fresh2()
    return cases, summarise(HELD_OUT, score(cases))


def test_fresh2_does_not_fall_below_its_recorded_score() -> None:
    """Once recorded, fresh2's score is the baseline a change to the rules must not fall below
    (and a better one is recorded, not left unsaid)."""
    cases, held = _held_out()
    assert FRESH2_RECORDED is not None
    assert len(cases) == FRESH2_RECORDED["cases"]
    assert round(held.category_rate * len(cases)) >= FRESH2_RECORDED["right"]
    assert round(held.action_rate * len(cases)) >= FRESH2_RECORDED["acceptable"]
    assert held.unknown_wrong <= FRESH2_RECORDED["unknown_wrong"]
    assert round(held.category_rate * len(cases)) == FRESH2_RECORDED["right"]


def test_fresh2_meets_the_targets() -> None:
    """On the held-out set: category >= 90 %, acceptable first action >= 85 %, unknown only
    where the label is unknown. A recorded score below the targets is an expected failure."""
    _, held = _held_out()
    assert FRESH2_RECORDED is not None
    n = FRESH2_RECORDED["cases"]
    if not (
        FRESH2_RECORDED["right"] >= CATEGORY_TARGET * n
        and FRESH2_RECORDED["acceptable"] >= ACTION_TARGET * n
        and FRESH2_RECORDED["unknown_wrong"] == 0
    ):
        pytest.xfail(f"the recorded fresh2 score is below the targets: {FRESH2_RECORDED}")
    assert held.category_rate >= CATEGORY_TARGET
    assert held.action_rate >= ACTION_TARGET
    assert held.unknown_wrong == 0


# Each development split's score with the rules as they are: cases, right, acceptable first
# actions, "unknown" where the label is a category. All right: these are tuned on.
DEVELOPMENT_RECORDED = {
    "dev": (93, 93, 93, 0),
    "dev-seen": (145, 145, 145, 0),
    "tune": (64, 64, 64, 0),
}


def test_development_splits_stay_right() -> None:
    """What the rules were written and tuned on, they get right: a regression shows here, and
    a better score is recorded."""
    for split in DEVELOPMENT:
        cases = [c for c in load() if c["split"] == split]
        s = summarise(split, score(cases))
        n = len(cases)
        got = (n, round(s.category_rate * n), round(s.action_rate * n), s.unknown_wrong)
        assert got == DEVELOPMENT_RECORDED[split], split
