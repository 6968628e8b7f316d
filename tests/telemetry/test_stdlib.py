"""Standard logging is captured into the logs table with trace context (capture_logging)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import semtrace
from semtrace.telemetry import stdlib
from semtrace.tracer.setup import STATE


@pytest.fixture
def app_logger() -> Iterator[logging.Logger]:
    """A user logger that lets INFO through (the root logger stays at WARNING)."""
    logger = logging.getLogger("tests.app")
    logger.setLevel(logging.INFO)
    try:
        yield logger
    finally:
        logger.setLevel(logging.NOTSET)


def _logs(con: Callable[[], Any]) -> list[dict[str, Any]]:
    return (  # type: ignore[no-any-return]
        con().sql("select * from logs order by time_ns, log_id").to_arrow_table().to_pylist()
    )


def test_records_get_template_facts_trace_and_agent(
    con: Callable[[], Any], app_logger: logging.Logger
) -> None:
    """A %-style record stores its rendered message, its format string as template, extra=
    fields as facts and the current span and agent."""

    @semtrace.agent("intake")
    def run() -> None:
        app_logger.info("received %d invoices from %s", 3, "ACME", extra={"batch": "B1"})

    run()
    (span,) = con().sql("select trace_id, span_id from spans").fetchall()
    (row,) = _logs(con)
    assert row["message"] == "received 3 invoices from ACME"
    assert row["template"] == "received %d invoices from %s"
    assert row["severity"] == "INFO"
    assert row["logger_name"] == "tests.app"
    assert row["agent_name"] == "intake"
    assert (row["trace_id"], row["span_id"]) == span
    assert json.loads(row["attributes"]) == {"batch": "B1"}


def test_bound_context_and_exceptions_are_captured(
    con: Callable[[], Any], app_logger: logging.Logger
) -> None:
    """Facts bound with `with log.bind()` reach stdlib records; exc_info becomes facts."""
    with semtrace.get_logger(agent="billing").bind(invoice="INV-7"):
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            app_logger.exception("could not compute the total")
    (row,) = _logs(con)
    facts = json.loads(row["attributes"])
    assert row["severity"] == "ERROR" and row["agent_name"] == "billing"
    assert facts["invoice"] == "INV-7"
    assert facts["error.type"] == "ZeroDivisionError"
    assert "Traceback" in facts["exception.stacktrace"]


def test_warnings_become_span_events(con: Callable[[], Any], app_logger: logging.Logger) -> None:
    """A stdlib warning inside a span is also an event on that span."""
    with semtrace.tool("ocr"):
        app_logger.warning("low confidence %.2f", 0.41)
    rows = con().sql("select name, attributes from span_events").fetchall()
    assert [(n, json.loads(a)["semtrace.log.message"]) for n, a in rows] == [
        ("semtrace.log", "low confidence 0.41")
    ]


def test_semtrace_own_loggers_are_not_captured(
    con: Callable[[], Any], app_logger: logging.Logger
) -> None:
    """Records of semtrace's own loggers never feed back into the table."""
    logging.getLogger("semtrace.internal").warning("internal note")
    app_logger.warning("user note")
    assert [r["message"] for r in _logs(con)] == ["user note"]


def test_install_is_idempotent_and_capture_can_be_turned_off(db_path: Path) -> None:
    """configure() twice adds one handler; capture_logging=False removes it; shutdown too."""
    root = logging.getLogger()
    try:
        semtrace.configure(db=db_path, batch_interval_s=0.2)
        semtrace.configure(db=db_path, batch_interval_s=0.2)
        assert sum(isinstance(h, stdlib.SemtraceHandler) for h in root.handlers) == 1
        semtrace.configure(db=db_path, batch_interval_s=0.2, capture_logging=False)
        assert not any(isinstance(h, stdlib.SemtraceHandler) for h in root.handlers)
        semtrace.configure(db=db_path, batch_interval_s=0.2)
        assert stdlib.installed_handler() in root.handlers
    finally:
        semtrace.shutdown()
        STATE.settings = None
    assert not any(isinstance(h, stdlib.SemtraceHandler) for h in root.handlers)
