"""The labelled corpus of real failures: well-formed, split once, scored honestly."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from typing import Any

import pytest
from bench.diagnosis import (
    ACTION_TARGET,
    CATEGORY_TARGET,
    HELD_OUT,
    HELD_OUT_RECORDED,
    Summary,
    load,
    score,
    summarise,
)

from semtrace.diagnose.models import Action, Category


def test_corpus_has_150_sourced_and_labelled_cases() -> None:
    """At least 150 cases, each naming its source, library, category and acceptable actions."""
    cases = load()
    assert len(cases) >= 150
    assert len({c["id"] for c in cases}) == len(cases)
    for c in cases:
        assert c["source"].startswith("https://"), c["id"]
        assert c["library"] and c["where"] in {"tool", "llm", "code"}, c["id"]
        assert Category(c["category"]), c["id"]
        assert c["acceptable"] and all(Action(a) for a in c["acceptable"]), c["id"]
        assert c.get("exception") or c.get("kind"), c["id"]
    assert set(Counter(c["category"] for c in cases)) == set(Category)


def test_the_split_is_recorded_and_stratified_by_a_hash_of_the_id() -> None:
    """Each case records its split; within a category the halves alternate in sha256 order.

    The first 179 cases were split into ``dev`` and a held-out half; the audit of issue 16
    found rules written for that half's cases, so it is ``dev-seen`` now (each such case says
    so). The fresh cases (``collected: fresh``), labelled before the frozen rules saw them,
    alternate ``tune`` (looked at while improving the rules) and ``heldout`` (never looked at
    case by case).
    """
    by_group: dict[tuple[bool, str], list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for c in load():
        by_group[(c.get("collected") == "fresh", c["category"])].append(c)
        if c["split"] == "dev-seen":
            assert c["seen"], c["id"]
    for (fresh, _), cases in by_group.items():
        ordered = sorted(cases, key=lambda c: hashlib.sha256(c["id"].encode()).hexdigest())
        halves = ("tune", "heldout") if fresh else ("dev", "dev-seen")
        assert [c["split"] for c in ordered] == [halves[i % 2] for i in range(len(ordered))]


def _held_out() -> tuple[list[dict[str, Any]], Summary]:
    cases = [c for c in load() if c["split"] == HELD_OUT]
    return cases, summarise(HELD_OUT, score(cases))


def test_held_out_half_is_fresh_and_spread_over_the_categories() -> None:
    """The clean half: fresh cases only, every category of the model, some labelled unknown."""
    cases, _ = _held_out()
    assert len(cases) == HELD_OUT_RECORDED["cases"]
    assert all(c.get("collected") == "fresh" for c in cases)
    assert {c["category"] for c in cases} == set(Category)


def test_held_out_half_does_not_fall_below_its_recorded_score() -> None:
    """The honest score on the clean half is below the targets (see docs/diagnose.md); it is
    recorded, and a change to the rules must not make it worse."""
    cases, held = _held_out()
    assert round(held.category_rate * len(cases)) >= HELD_OUT_RECORDED["right"]
    assert round(held.action_rate * len(cases)) >= HELD_OUT_RECORDED["acceptable"]
    assert held.unknown_wrong <= HELD_OUT_RECORDED["unknown_wrong"]
    # and the record is what the rules do now: a better score is recorded, not left unsaid
    assert round(held.category_rate * len(cases)) == HELD_OUT_RECORDED["right"]


def test_development_splits_stay_right() -> None:
    """What the rules were written and tuned on, they get right: a regression shows here."""
    for split in ("dev", "dev-seen", "tune"):
        s = summarise(split, score([c for c in load() if c["split"] == split]))
        assert (s.category_rate, s.action_rate, s.unknown_wrong) == (1.0, 1.0, 0), split


@pytest.mark.xfail(
    strict=True, reason="the honest held-out score is 76.3 % category, 84.7 % first action"
)
def test_held_out_half_meets_the_targets() -> None:
    """On the clean half: category >= 90 %, acceptable first action >= 85 %, unknown only
    where the label is unknown. Not met yet; strict, so meeting them flags the record."""
    _, held = _held_out()
    assert held.category_rate >= CATEGORY_TARGET
    assert held.action_rate >= ACTION_TARGET
    assert held.unknown_wrong == 0
