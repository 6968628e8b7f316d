"""The labelled corpus of real failures: well-formed, split once, and scored above target."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict

from bench.diagnosis import ACTION_TARGET, CATEGORY_TARGET, load, score, summarise

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


def test_held_out_half_meets_the_targets() -> None:
    """On the half not used for tuning: category >= 90 %, acceptable first action >= 85 %."""
    held = summarise("heldout", score([c for c in load() if c["split"] == "heldout"]))
    assert held.category_rate >= CATEGORY_TARGET
    assert held.action_rate >= ACTION_TARGET
    assert held.unknown_wrong == 0  # unknown only where the label says no rule could know
