"""The minimum log level, and facts bound through structlog's context variables."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

import semtrace
from semtrace.exceptions import ConfigurationError
from semtrace.telemetry import stdlib
from semtrace.telemetry.sink import ENV_LOG_LEVEL
from semtrace.tracer.setup import STATE


class _Watched:
    """A fact that counts every time anything looks at it."""

    looks = 0

    def __repr__(self) -> str:
        _Watched.looks += 1
        return "watched"

    __str__ = __repr__


@pytest.fixture
def setup(db_path: Path) -> Iterator[Any]:
    """configure(**kw) for the test; returns the stored (severity, message) rows."""

    def _configure(**kw: Any) -> None:
        semtrace.configure(db=db_path, batch_interval_s=0.2, **kw)

    def _rows() -> list[tuple[str, str]]:
        semtrace.force_flush()
        con = semtrace.connect(db_path)
        return con.sql("select severity, message from logs order by time_ns").fetchall()

    app = logging.getLogger("app.level")
    app.setLevel(logging.DEBUG)
    _Watched.looks = 0
    try:
        yield _configure, _rows
    finally:
        app.setLevel(logging.NOTSET)
        semtrace.shutdown()
        STATE.settings = None


def test_default_level_is_info_and_debug_records_cost_no_work(setup: Any) -> None:
    """By default debug records are dropped before anything looks at their facts."""
    configure, rows = setup
    configure()
    log = semtrace.get_logger(agent="intake")
    log.debug("parsed page {page}", page=_Watched(), blob=_Watched())
    logging.getLogger("app.level").debug("parsed %s", "page 2")
    log.info("received invoice")
    assert rows() == [("INFO", "received invoice")]
    assert _Watched.looks == 0  # not rendered, redacted, made safe or queued
    # logging itself skips a handler whose level is above the record's: no work either
    handler = stdlib.installed_handler()
    assert handler is not None and handler.level == logging.INFO


def test_configured_level_filters_semantic_and_stdlib_records(setup: Any) -> None:
    """configure(log_level="warning") keeps warnings and up, from both loggers."""
    configure, rows = setup
    configure(log_level="warning")
    log = semtrace.get_logger(agent="intake")
    app = logging.getLogger("app.level")
    log.info("received invoice")
    app.info("stdlib info")
    log.warning("page 3 is blurred")
    app.error("stdlib error")
    log.failure(action="read the total", cause="the page was blank")
    assert rows() == [
        ("WARNING", "page 3 is blurred"),
        ("ERROR", "stdlib error"),
        ("ERROR", "The intake agent failed to read the total because the page was blank."),
    ]


def test_environment_variable_sets_the_level(setup: Any, monkeypatch: Any) -> None:
    """SEMTRACE_LOG_LEVEL=debug keeps debug records; an argument wins over it."""
    configure, rows = setup
    monkeypatch.setenv(ENV_LOG_LEVEL, "DEBUG")
    configure()
    semtrace.get_logger().debug("detail kept")
    configure(log_level="error")
    semtrace.get_logger().warning("warning dropped")
    assert rows() == [("DEBUG", "detail kept")]


def test_unknown_level_is_a_configuration_error(db_path: Path) -> None:
    """A level that is not one says which are."""
    with pytest.raises(ConfigurationError, match="debug, info, warning, error, critical"):
        semtrace.configure(db=db_path, log_level="verbose")


def test_structlog_context_variables_are_the_bound_context(setup: Any) -> None:
    """Facts bound with structlog.contextvars reach semantic records, and `with log.bind()`
    binds them there (visible to any structlog user) until the block ends."""
    configure, _ = setup
    configure()
    log = semtrace.get_logger(agent="intake")
    tokens = structlog.contextvars.bind_contextvars(request_id="r-1")
    try:
        with log.bind(invoice="INV-7"):
            assert structlog.contextvars.get_contextvars() == {
                "request_id": "r-1",
                "agent": "intake",
                "invoice": "INV-7",
            }
            semtrace.get_logger().info("inside")
        assert structlog.contextvars.get_contextvars() == {"request_id": "r-1"}
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
    semtrace.force_flush()
    con = semtrace.connect(STATE.settings.db)  # type: ignore[union-attr]
    ((agent, facts),) = con.sql("select agent_name, attributes from logs").fetchall()
    assert agent == "intake"
    assert json.loads(facts) == {"request_id": "r-1", "invoice": "INV-7"}
