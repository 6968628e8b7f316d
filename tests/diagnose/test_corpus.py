"""The labelled corpus of real failures: well-formed, split once, scored honestly.

The development corpus (``dev``, ``dev-seen``, ``tune``, and round 2's fresh2 file, now
``dev-seen-2``) is tuned on; the held-out set, ``fresh3``, is collected after round 2 into a
file of its own. Nothing here reads fresh3 until its one score is recorded
(``FRESH3_RECORDED`` in bench/diagnosis.py): a test that scored it earlier, or only counted
its ill-formed rows, would show what it holds to whoever tunes the rules.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import bench.diagnosis as diagnosis_bench
import pytest
from bench.diagnosis import (
    ACTION_TARGET,
    CATEGORY_TARGET,
    DEVELOPMENT,
    FRESH2,
    FRESH3_RECORDED,
    HELD_OUT,
    ROUND1,
    ROUND2,
    TRAINING,
    Summary,
    cross_validate,
    library_folds,
    load,
    load_all,
    load_development,
    load_held_out,
    run,
    score,
    summarise,
    training_rows,
    well_formed,
)

from semtrace.diagnose.models import Category

ROUND1_SEEN = "scored in round 1, then used for tuning"
ROUND2_SEEN = "scored in round 2, then used for tuning"


def test_corpus_has_150_sourced_and_labelled_cases() -> None:
    """At least 150 cases, each naming its source, library, category and acceptable actions."""
    cases = load()
    assert len(cases) >= 150
    assert len({c["id"] for c in cases}) == len(cases)
    for c in cases:
        assert well_formed(c), c["id"]
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


def test_round_two_held_out_set_is_development_data_now() -> None:
    """fresh2 (118 cases over every category) was scored once in round 2 and then tuned on:
    each of its rows is dev-seen-2 and says so, none repeats a corpus case, and its honest
    round-2 score stays recorded."""
    cases = load(FRESH2)
    assert len(cases) == ROUND2["cases"]
    assert {c["split"] for c in cases} == {"dev-seen-2"}
    assert {c["seen"] for c in cases} == {ROUND2_SEEN}
    assert {c["category"] for c in cases} == set(Category)
    assert all(well_formed(c) for c in cases)
    assert not {c["id"] for c in cases} & {c["id"] for c in load()}
    assert (ROUND2["right"], ROUND2["acceptable"], ROUND2["unknown_wrong"]) == (84, 97, 15)


def _synthetic_held_out(path: Path) -> Path:
    """A held-out file made of two development cases, without their split."""
    rows = [{k: v for k, v in c.items() if k != "split"} for c in load()[:2]]
    for i, row in enumerate(rows):
        row["id"] = f"synthetic#{i}"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_held_out_file_is_not_read_until_its_one_scoring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While its score is not recorded, the bench (``python -m bench --only diagnosis``) does
    not read the held-out file: one that is not even JSON passes unread, and the bench
    prints only that it is there and how to score it (as it did before fresh3's scoring, and
    will for the next held-out set)."""
    monkeypatch.setattr(diagnosis_bench, "FRESH3_RECORDED", None)
    garbage = tmp_path / "fresh3.jsonl"
    garbage.write_text("not json {\n", encoding="utf-8")
    results = run(held_out=garbage)
    held = [r for r in results if r.metric.startswith(HELD_OUT)]
    assert [(r.metric, r.value, r.met) for r in held] == [(f"{HELD_OUT}: not scored yet", 0, None)]
    splits = set(DEVELOPMENT) | {HELD_OUT, "learned fallback, 10-fold by library"}
    assert {r.metric.partition(":")[0] for r in results} == splits
    out = capsys.readouterr().out
    assert f"{HELD_OUT}: accuracy" not in out
    assert "--score-held-out" in out


def test_a_held_out_file_is_scored_against_the_targets_when_asked(tmp_path: Path) -> None:
    """The loader reads a fresh3 file beside the corpus when there is one (its rows are
    fresh3); its one scoring reports that split with the targets and round 2 as the
    baseline. A file made here from two development cases stands in for the real one."""
    path = tmp_path / "fresh3.jsonl"
    assert load_held_out(path) == []
    _synthetic_held_out(path)
    assert [c["split"] for c in load_held_out(path)] == [HELD_OUT, HELD_OUT]
    assert len(load_all(path)) == len(load_development()) + 2
    results = run(splits=[HELD_OUT], held_out=path, score_held_out=True)
    assert [r.metric for r in results] == [
        f"{HELD_OUT}: category accuracy (2 cases)",
        f"{HELD_OUT}: acceptable first action",
        f"{HELD_OUT}: unknown where the label is a category",
    ]
    assert [r.target for r in results] == [">= 90%", ">= 85%", "0"]
    assert all(isinstance(r.met, bool) for r in results)
    assert results[0].baseline_value == round(100 * ROUND2["right"] / ROUND2["cases"], 1)
    missing = run(splits=[HELD_OUT], held_out=tmp_path / "absent.jsonl", score_held_out=True)
    assert [(r.metric, r.value, r.met) for r in missing] == [(f"{HELD_OUT}: cases", 0, False)]


def _held_out() -> tuple[list[dict[str, Any]], Summary]:
    if FRESH3_RECORDED is None:
        pytest.skip("fresh3 is scored once, by hand, and its score recorded in bench/diagnosis.py")
    cases = load_held_out()
    if not cases:
        pytest.skip("the fresh3 file is not there")
    return cases, summarise(HELD_OUT, score(cases))


def test_fresh3_is_well_formed_and_apart_from_the_development_corpus() -> None:
    """The held-out file: well-formed cases, all split fresh3, none of them a development
    case. Only counts are asserted, so a failure shows no case."""
    cases, _ = _held_out()
    development = {c["id"] for c in load_development()}
    ids = [c["id"] for c in cases]
    assert sum(not well_formed(c) for c in cases) == 0
    assert sum(c["split"] != HELD_OUT for c in cases) == 0
    assert len(set(ids)) == len(ids)
    assert len(development.intersection(ids)) == 0


def test_fresh3_does_not_fall_below_its_recorded_score() -> None:
    """Once recorded, fresh3's score is the baseline a change to the rules must not fall below
    (and a better one is recorded, not left unsaid)."""
    cases, held = _held_out()
    assert FRESH3_RECORDED is not None
    assert len(cases) == FRESH3_RECORDED["cases"]
    assert round(held.category_rate * len(cases)) >= FRESH3_RECORDED["right"]
    assert round(held.action_rate * len(cases)) >= FRESH3_RECORDED["acceptable"]
    assert held.unknown_wrong <= FRESH3_RECORDED["unknown_wrong"]
    assert round(held.category_rate * len(cases)) == FRESH3_RECORDED["right"]


def test_fresh3_meets_the_targets() -> None:
    """On the held-out set: category >= 90 %, acceptable first action >= 85 %, unknown only
    where the label is unknown. A recorded score below the targets is an expected failure."""
    _, held = _held_out()
    assert FRESH3_RECORDED is not None
    n = FRESH3_RECORDED["cases"]
    if not (
        FRESH3_RECORDED["right"] >= CATEGORY_TARGET * n
        and FRESH3_RECORDED["acceptable"] >= ACTION_TARGET * n
        and FRESH3_RECORDED["unknown_wrong"] == 0
    ):
        pytest.xfail(f"the recorded fresh3 score is below the targets: {FRESH3_RECORDED}")
    assert held.category_rate >= CATEGORY_TARGET
    assert held.action_rate >= ACTION_TARGET
    assert held.unknown_wrong == 0


# Each development split's score with the rules as they are: cases, right, acceptable first
# actions, "unknown" where the label is a category. All right: these are tuned on (dev-seen-2
# scored 84, 97, 15 in round 2 before it was).
DEVELOPMENT_RECORDED = {
    "dev": (93, 93, 93, 0),
    "dev-seen": (145, 145, 145, 0),
    "tune": (64, 64, 64, 0),
    "dev-seen-2": (118, 118, 118, 0),
}


def test_development_splits_stay_right() -> None:
    """What the rules were written and tuned on, they get right: a regression shows here, and
    a better score is recorded."""
    development = load_development()
    for split in DEVELOPMENT:
        cases = [c for c in development if c["split"] == split]
        s = summarise(split, score(cases))
        n = len(cases)
        got = (n, round(s.category_rate * n), round(s.action_rate * n), s.unknown_wrong)
        assert got == DEVELOPMENT_RECORDED[split], split


def test_the_learned_fallback_is_trained_on_the_development_cases_only() -> None:
    """The package ships the development cases (every split but the held-out one) for its
    learned fallback, exactly as the bench's corpus files hold them, and no held-out case:
    ``python -c 'from bench.diagnosis import write_training_data; write_training_data()'``
    writes it again after the corpus changes."""
    from semtrace.diagnose import learned

    shipped = learned.training_cases()
    assert shipped == training_rows(), f"{TRAINING.name} is stale: write it again"
    assert len(shipped) == len(load_development())
    assert {c["split"] for c in shipped} == set(DEVELOPMENT)
    assert learned.shipped().cases == len(shipped)


# The learned fallback's cross-validated figures (k-fold by library over the development
# cases): cases, right, acceptable first actions, cases no default decides, answered there
# at the threshold, right among those, labelled unknown among those.
CV_RECORDED = (420, 271, 330, 61, 17, 16, 0)


def test_the_learned_fallback_is_cross_validated_by_library() -> None:
    """Each fold holds whole libraries (a model is scored on libraries it never saw), the
    folds cover every development case once, and the cross-validated figures are the ones
    recorded (docs/diagnose.md quotes them): a change shows here."""
    cases = load_development()
    folds = library_folds(cases)
    assert sorted(c["id"] for fold in folds for c in fold) == sorted(c["id"] for c in cases)
    homes = defaultdict(set)
    for i, fold in enumerate(folds):
        for c in fold:
            homes[c["library"]].add(i)
    assert all(len(h) == 1 for h in homes.values())
    cv = cross_validate(cases)
    got = (
        cv.cases,
        cv.right,
        cv.acceptable,
        cv.open_cases,
        cv.answered,
        cv.answered_right,
        cv.unknown_taken,
    )
    assert got == CV_RECORDED
    assert cv.resubstitution > cv.right  # what it was trained on is no estimate
