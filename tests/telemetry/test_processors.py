"""The processors are plain structlog callables: usable one by one or in a user's chain."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import structlog

import semtrace
from semtrace.telemetry import processors as sp


def test_render_sentence_turns_a_failure_event_into_message_and_template() -> None:
    """render_sentence fills event and template from action/cause/impact; the rest is kept."""
    event = {"agent": "procurement", "action": "pay", "cause": "no PO", "impact": None, "po": 1}
    assert sp.render_sentence(None, "failure", event) == {
        "agent": "procurement",
        "action": "pay",
        "cause": "no PO",
        "impact": None,
        "po": 1,
        "event": "The procurement agent failed to pay because no PO.",
        "template": "{agent} failed to pay because no PO.",
        "event_name": "failure",
    }


def test_redact_event_redacts_message_template_and_facts_but_not_ids() -> None:
    """redact_event replaces secrets everywhere except in ids and the level."""
    event = {
        "event": "mail bob@example.com",
        "template": "mail bob@example.com",
        "trace_id": "ab" * 16,
        "level": "info",
        "password": "hunter2",
        "note": "fine",
    }
    out = sp.redact_event(None, "info", dict(event))
    assert out["event"].startswith("mail [REDACTED:email:")
    assert out["template"] == out["event"]
    assert out["password"].startswith("[REDACTED:password:")
    assert {k: out[k] for k in ("trace_id", "level", "note")} == {
        "trace_id": "ab" * 16,
        "level": "info",
        "note": "fine",
    }


def test_add_severity_maps_methods_to_levels() -> None:
    """failure and exception are errors, warn is warning, an existing level is kept."""
    assert [
        sp.add_severity(None, m, {})["level"] for m in ("failure", "exception", "warn", "debug")
    ] == ["error", "error", "warning", "debug"]
    assert sp.add_severity(None, "info", {"level": "critical"}) == {"level": "critical"}


def test_processors_in_a_users_own_structlog_chain(con: Callable[[], Any]) -> None:
    """A user's structlog chain with SEMTRACE_PROCESSORS stores the event and still renders."""
    out = structlog.testing.CapturingLogger()
    log = structlog.wrap_logger(
        out,
        processors=[
            structlog.processors.add_log_level,
            *sp.SEMTRACE_PROCESSORS,
            structlog.processors.JSONRenderer(),
        ],
    )
    with semtrace.agent("reporting"):
        log.warning("report for {customer} late", customer="ACME", days=2)
    (call,) = out.calls
    rendered = json.loads(call.args[0])
    assert rendered["event"] == "report for ACME late"
    assert rendered["agent"] == "reporting"
    assert "_facts_safe" not in rendered
    row = (
        con()
        .sql("select severity, agent_name, message, template, attributes, span_id from logs")
        .to_arrow_table()
        .to_pylist()[0]
    )
    assert row["severity"] == "WARNING" and row["agent_name"] == "reporting"
    assert (row["message"], row["template"]) == (
        "report for ACME late",
        "report for {customer} late",
    )
    assert json.loads(row["attributes"]) == {"customer": "ACME", "days": 2}
    assert row["span_id"] is not None


def test_console_is_quiet_off_a_tty_and_readable_when_forced(monkeypatch: Any, capsys: Any) -> None:
    """Off a TTY nothing is printed; SEMTRACE_CONSOLE=1 prints structlog's console line."""
    log = semtrace.get_logger(agent="intake")
    log.info("quiet please")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(sp.ENV_CONSOLE, "1")
    sp.CONSOLE.reload()  # read at configure(), not per record
    try:
        log.info("hello {who}", who="reader")
    finally:
        monkeypatch.delenv(sp.ENV_CONSOLE)
        sp.CONSOLE.reload()
    err = capsys.readouterr().err
    assert "hello reader" in err and "intake" in err and "{who}" not in err
