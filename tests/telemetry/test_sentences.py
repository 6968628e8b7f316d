"""Sentence rendering: failures, messages with placeholders, facts made JSON-safe."""

from __future__ import annotations

import json

from semtrace.telemetry.sentences import (
    MAX_VALUE_CHARS,
    Rendered,
    fold_failure_logs,
    json_safe,
    render_failure,
    render_message,
)


def test_failure_with_action_cause_and_impact() -> None:
    """A full failure reads as one sentence; the template keeps its words."""
    assert render_failure(
        "procurement",
        "retrieve the vendor ID",
        "the Last-updated field was null",
        "no valid match could be made",
    ) == Rendered(
        "The procurement agent failed to retrieve the vendor ID because the Last-updated "
        "field was null, so no valid match could be made.",
        "{agent} failed to retrieve the vendor ID because the Last-updated field was null, "
        "so no valid match could be made.",
    )


def test_several_causes_of_one_action_have_several_templates() -> None:
    """Each cause of one action keeps its own template; only the values in it are masked,
    and facts named in braces are filled in the sentence and kept in the template."""
    causes = {
        "the Last-updated field was null": "the Last-updated field was null",
        "the ERP returned 503 after 3 retries": "the ERP returned 503 after <n> retries",
        "the ERP returned 404": "the ERP returned 404",
        "ORA-12541: TNS:no listener on db-7.internal": "ORA-12541: TNS:no listener on <n>.internal",
        "vendor 'ACME' is blocked since 2026-03-01": "vendor <str> is blocked since <time>",
    }
    templates = set()
    for cause, masked in causes.items():
        rendered = render_failure(
            "procurement", "match invoice {invoice}", cause, None, {"invoice": "INV-7"}
        )
        assert (
            rendered.message
            == f"The procurement agent failed to match invoice INV-7 because {cause}."
        )
        assert (
            rendered.template == f"{{agent}} failed to match invoice {{invoice}} because {masked}."
        )
        templates.add(rendered.template)
    assert len(templates) == len(causes)


def test_failure_without_cause_says_the_cause_is_unknown() -> None:
    """A failure without a cause still renders and says the cause is unknown."""
    assert render_failure("billing", "charge the card", None, None) == Rendered(
        "The billing agent failed to charge the card; the cause is unknown.",
        "{agent} failed to charge the card; the cause is unknown.",
    )


def test_failure_without_agent_and_with_redundant_words() -> None:
    """Leading 'to'/'because'/'so' and trailing periods are not doubled."""
    assert render_failure(None, "to parse the PDF.", "because it was empty.", "so skipped") == (
        Rendered(
            "Failed to parse the PDF because it was empty, so skipped.",
            "Failed to parse the PDF because it was empty, so skipped.",
        )
    )


def test_agent_named_like_an_agent_is_not_doubled() -> None:
    """An agent called 'ResearchAgent' is 'the ResearchAgent', not 'the ResearchAgent agent'."""
    assert render_failure("ResearchAgent", "search", "quota", None).message.startswith(
        "The ResearchAgent failed"
    )


def test_message_placeholders_are_filled_from_facts() -> None:
    """'{name}' in a message is filled from the facts; the template keeps the braces."""
    assert render_message("matched {invoice} to {po}", {"invoice": "INV-7", "po": "PO-1"}) == (
        Rendered("matched INV-7 to PO-1", "matched {invoice} to {po}")
    )


def test_message_with_unknown_placeholder_or_braces_is_kept_verbatim() -> None:
    """A message whose braces name no fact (say, JSON) is stored as written."""
    text = 'payload {"a": 1} and {missing}'
    assert render_message(text, {"a": 1}) == Rendered(text, text)


def test_json_safe_keeps_json_and_reprs_the_rest() -> None:
    """Non-JSON values are kept by repr, never dropped; non-finite floats become strings."""

    class Vendor:
        def __repr__(self) -> str:
            return "Vendor('ACME')"

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    safe = json_safe(
        {"v": Vendor(), "b": Broken(), "n": float("nan"), "s": {1, 2}, "raw": b"\x00\x01"}
    )
    json.dumps(safe, allow_nan=False)
    assert safe["v"] == "Vendor('ACME')"
    assert safe["b"] == "<unrepresentable Broken>"
    assert safe["n"] == "nan"
    assert sorted(safe["s"]) == [1, 2]
    assert safe["raw"] == "b'\\x00\\x01'"


def test_json_safe_truncates_huge_values_with_a_marker() -> None:
    """Huge strings and long lists are cut, with a marker saying how much was left out."""
    safe = json_safe({"text": "x" * (MAX_VALUE_CHARS + 500), "items": list(range(150))})
    assert safe["text"] == "x" * MAX_VALUE_CHARS + "…[truncated 500 chars]"
    assert safe["items"][:3] == [0, 1, 2]
    assert safe["items"][-1] == "…[truncated 50 items]"
    assert len(safe["items"]) == 101


def test_a_failure_log_folds_into_its_span_even_when_the_store_cut_the_status() -> None:
    """The ERROR log restating a span's failure (with the impact) replaces the span's status
    in trace views, also when the store cut a long status; other logs stay."""
    sentence = "The billing agent's tool charge failed in 3 ms, because " + "x" * 400 + "."
    cut = sentence[:300] + "…[truncated 108 chars]"
    spans = [
        {"span_id": "a", "status_message": cut},
        {"span_id": "b", "status_message": "The step b failed in 1 ms."},
    ]
    with_impact = sentence.removesuffix(".") + ", so the billing agent failed at its purpose."
    logs = [
        {"span_id": "a", "message": with_impact},
        {"span_id": "a", "message": "retrying the charge"},
        {"span_id": "b", "message": "The step c failed in 1 ms."},
        {"span_id": None, "message": "The step b failed in 1 ms."},
    ]
    rest = fold_failure_logs(spans, logs)
    assert spans[0]["status_message"] == with_impact
    assert [r["message"] for r in rest] == [
        "retrying the charge",
        "The step c failed in 1 ms.",
        "The step b failed in 1 ms.",
    ]
