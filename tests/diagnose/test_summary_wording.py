"""The rules provider's summaries read as sentences when built from a logged action."""

from __future__ import annotations

from pathlib import Path

import semtrace


def _summaries(db: Path) -> list[str]:
    return [d.summary for d in semtrace.diagnose.run(db=db)]


def test_logged_action_is_a_verb_phrase(configured: Path) -> None:
    """A log.failure action reads 'The X agent failed to <action> because ...'."""
    log = semtrace.get_logger(agent="procurement")
    with semtrace.agent("procurement"):
        log.failure(
            action="retrieve the vendor ID",
            cause="the Last-updated field was null",
            impact="no valid match could be made",
        )
    (summary,) = _summaries(configured)
    assert summary.startswith("The procurement agent failed to retrieve the vendor ID because")
    assert "agent's retrieve" not in summary


def test_unrecognised_logged_action_is_a_verb_phrase(configured: Path) -> None:
    """An action no rule recognises reads 'The X agent failed to <action>; no rule ...'."""
    log = semtrace.get_logger(agent="billing")
    with semtrace.agent("billing"):
        log.failure(action="send the invoice", cause="the printer caught fire")
    (summary,) = _summaries(configured)
    assert summary == "The billing agent failed to send the invoice; no rule recognised why."


def test_gerund_action_reads_failed_while(configured: Path) -> None:
    """An action written as a gerund reads 'failed while <action>'."""
    log = semtrace.get_logger(agent="billing")
    with semtrace.agent("billing"):
        log.failure(action="sending the invoice", cause="the printer caught fire")
    (summary,) = _summaries(configured)
    assert summary.startswith("The billing agent failed while sending the invoice")
