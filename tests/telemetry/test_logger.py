"""get_logger: records land in the logs table as sentences with facts and trace context."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

import semtrace
from semtrace.telemetry.logger import SemanticLogger

LOG_COLUMNS = (
    "severity, agent_name, message, template, action, cause, impact, attributes, "
    "trace_id, span_id, event_name"
)


def _logs(con: Callable[[], Any], where: str = "true") -> list[dict[str, Any]]:
    rows = (
        con()
        .sql(f"select {LOG_COLUMNS} from logs where {where} order by time_ns, log_id")
        .to_arrow_table()
        .to_pylist()
    )
    for row in rows:
        row["attributes"] = json.loads(row["attributes"]) if row["attributes"] else {}
    return rows


def _spans(con: Callable[[], Any]) -> dict[str, dict[str, Any]]:
    rows = con().sql("select * from spans").to_arrow_table().to_pylist()
    return {r["name"]: r for r in rows}


def test_info_and_failure_from_the_issue(con: Callable[[], Any]) -> None:
    """The issue's example: an info line and a failure sentence with its facts as columns."""
    log = semtrace.get_logger(agent="procurement")
    log.info("matched invoice to purchase order", invoice="INV-7", po="PO-1")
    log.failure(
        action="retrieve the vendor ID",
        cause="the Last-updated field was null",
        impact="no valid match could be made",
        vendor="ACME",
        field="last_updated",
    )
    assert _logs(con) == [
        {
            "severity": "INFO",
            "agent_name": "procurement",
            "message": "matched invoice to purchase order",
            "template": "matched invoice to purchase order",
            "action": None,
            "cause": None,
            "impact": None,
            "attributes": {"invoice": "INV-7", "po": "PO-1"},
            "trace_id": None,
            "span_id": None,
            "event_name": None,
        },
        {
            "severity": "ERROR",
            "agent_name": "procurement",
            "message": "The procurement agent failed to retrieve the vendor ID because the "
            "Last-updated field was null, so no valid match could be made.",
            "template": "{agent} failed to retrieve the vendor ID because the Last-updated "
            "field was null, so no valid match could be made.",
            "action": "retrieve the vendor ID",
            "cause": "the Last-updated field was null",
            "impact": "no valid match could be made",
            "attributes": {"vendor": "ACME", "field": "last_updated"},
            "trace_id": None,
            "span_id": None,
            "event_name": "failure",
        },
    ]


def test_failure_without_cause_is_stored_saying_the_cause_is_unknown(
    con: Callable[[], Any],
) -> None:
    """failure() without a cause renders a sentence that says the cause is unknown."""
    semtrace.get_logger(agent="billing").failure(action="charge the card")
    (row,) = _logs(con)
    assert row["message"] == "The billing agent failed to charge the card; the cause is unknown."
    assert row["template"] == "{agent} failed to charge the card; the cause is unknown."
    assert (row["severity"], row["action"], row["cause"]) == ("ERROR", "charge the card", None)


def test_records_inside_spans_carry_trace_span_and_agent(con: Callable[[], Any]) -> None:
    """A logger without an agent, used inside agent/tool spans, gets their ids and agent."""
    log = semtrace.get_logger()

    @semtrace.tool
    def lookup_vendor(vendor: str) -> None:
        log.warning("vendor API slow", latency_ms=4200, threshold_ms=2000)

    @semtrace.agent("procurement")
    def run() -> None:
        log.info("starting")
        lookup_vendor("ACME")

    run()
    spans = _spans(con)
    agent, tool = spans["invoke_agent procurement"], spans["execute_tool lookup_vendor"]
    starting, slow = _logs(con)
    assert (starting["trace_id"], starting["span_id"]) == (agent["trace_id"], agent["span_id"])
    assert (slow["trace_id"], slow["span_id"]) == (tool["trace_id"], tool["span_id"])
    assert starting["agent_name"] == slow["agent_name"] == "procurement"
    assert slow["severity"] == "WARNING"
    assert slow["attributes"] == {"latency_ms": 4200, "threshold_ms": 2000}


def test_nested_agents_each_name_their_own_records(con: Callable[[], Any]) -> None:
    """In nested agents a record names the innermost agent; an explicit agent= wins."""
    log = semtrace.get_logger()
    pinned = semtrace.get_logger(agent="auditor")

    @semtrace.agent("extraction")
    def extract() -> None:
        log.info("inner")
        pinned.info("pinned")

    @semtrace.agent("supervisor")
    def supervise() -> None:
        log.info("outer before")
        extract()
        log.info("outer after")

    supervise()
    assert [(r["message"], r["agent_name"]) for r in _logs(con)] == [
        ("outer before", "supervisor"),
        ("inner", "extraction"),
        ("pinned", "auditor"),
        ("outer after", "supervisor"),
    ]


async def test_async_agents_in_concurrent_tasks_keep_their_context(
    con: Callable[[], Any],
) -> None:
    """Concurrent async agents (asyncio.gather) each log with their own span and agent."""
    log = semtrace.get_logger()

    async def worker(name: str) -> None:
        async with semtrace.agent(name):
            await asyncio.sleep(0.01)
            log.info("working on {item}", item=name.upper())

    await asyncio.gather(worker("alpha"), worker("beta"))
    spans = _spans(con)
    rows = sorted(_logs(con), key=lambda r: r["agent_name"])
    assert [(r["agent_name"], r["message"], r["template"]) for r in rows] == [
        ("alpha", "working on ALPHA", "working on {item}"),
        ("beta", "working on BETA", "working on {item}"),
    ]
    assert rows[0]["span_id"] == spans["invoke_agent alpha"]["span_id"]
    assert rows[1]["span_id"] == spans["invoke_agent beta"]["span_id"]


def test_bind_returns_a_new_logger_and_leaves_the_old_one_alone(con: Callable[[], Any]) -> None:
    """log.bind(...) returns a bound copy; the original logger does not gain the facts."""
    log = semtrace.get_logger(agent="intake")
    bound = log.bind(invoice="INV-7")
    assert isinstance(bound, SemanticLogger)
    bound.info("received")
    log.info("idle")
    assert [(r["message"], r["attributes"]) for r in _logs(con)] == [
        ("received", {"invoice": "INV-7"}),
        ("idle", {}),
    ]


def test_with_bind_is_context_for_everything_inside(con: Callable[[], Any]) -> None:
    """with log.bind(...): facts reach every logger inside, and are gone after the block."""
    log = semtrace.get_logger(agent="intake")
    other = semtrace.get_logger()
    with log.bind(invoice="INV-7"):
        other.info("inside", step=1)
        with other.bind(step=2, page=3):
            log.info("nested")
    log.info("after")
    assert [(r["message"], r["agent_name"], r["attributes"]) for r in _logs(con)] == [
        ("inside", "intake", {"invoice": "INV-7", "step": 1}),
        ("nested", "intake", {"invoice": "INV-7", "step": 2, "page": 3}),
        ("after", "intake", {}),
    ]


async def test_with_bind_does_not_leak_between_tasks(con: Callable[[], Any]) -> None:
    """Bound context is per task (contextvars): one task's facts never reach another's."""
    log = semtrace.get_logger()
    shared = log.bind(batch="B1")
    started = asyncio.Event()

    async def binder() -> None:
        with shared:
            started.set()
            await asyncio.sleep(0.02)
            log.info("in binder")

    async def bystander() -> None:
        await started.wait()
        log.info("in bystander")

    await asyncio.gather(binder(), bystander())
    rows = {r["message"]: r["attributes"] for r in _logs(con)}
    assert rows == {"in binder": {"batch": "B1"}, "in bystander": {}}


def test_non_serialisable_and_huge_facts_are_kept_by_repr_and_truncated(
    con: Callable[[], Any],
) -> None:
    """Facts JSON cannot hold are stored by repr; huge values are truncated with a marker."""

    class Invoice:
        def __repr__(self) -> str:
            return "Invoice(number='INV-7')"

    semtrace.get_logger().info("odd facts", invoice=Invoice(), blob="y" * 10_000, when={1, 2})
    (row,) = _logs(con)
    attrs = row["attributes"]
    assert attrs["invoice"] == "Invoice(number='INV-7')"
    assert attrs["blob"].startswith("y" * 2000) and attrs["blob"].endswith(
        "…[truncated 8000 chars]"
    )
    assert sorted(attrs["when"]) == [1, 2]


def test_logging_never_raises_on_broken_values(
    con: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fact whose repr and str raise, or a non-string message, is still logged."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("repr")

        def __str__(self) -> str:
            raise RuntimeError("str")

    log = semtrace.get_logger()
    log.info(Hostile(), bad=Hostile())
    log.failure(action=Hostile(), cause=Hostile())
    rows = _logs(con)
    assert rows[0]["message"] == "<unrepresentable Hostile>"
    assert rows[0]["attributes"] == {"bad": "<unrepresentable Hostile>"}
    assert rows[1]["severity"] == "ERROR" and rows[1]["event_name"] == "failure"


def test_exception_method_stores_the_exception_as_facts(con: Callable[[], Any]) -> None:
    """log.exception() inside an except block stores type, message and traceback."""
    log = semtrace.get_logger(agent="extraction")
    try:
        {}["vendor_id"]
    except KeyError:
        log.exception("could not read the vendor")
    (row,) = _logs(con)
    assert row["severity"] == "ERROR"
    assert row["attributes"]["error.type"] == "KeyError"
    assert row["attributes"]["exception.message"] == "'vendor_id'"
    assert "Traceback" in row["attributes"]["exception.stacktrace"]


def test_warning_error_and_failure_become_span_events(con: Callable[[], Any]) -> None:
    """warning/error/failure records are also semtrace.log events on the current span."""
    log = semtrace.get_logger()
    with semtrace.step("reconcile"):
        log.info("not an event")
        log.warning("slow", latency_ms=4200)
        log.error("retry budget spent")
        log.failure(action="reconcile", cause="no ledger")
    rows = (
        con()
        .sql(
            "select e.name, e.attributes from span_events e join spans s using (span_id) "
            "where s.name = 'invoke_workflow reconcile' order by e.time_ns"
        )
        .to_arrow_table()
        .to_pylist()
    )
    events = [(r["name"], json.loads(r["attributes"])) for r in rows]
    assert [e[0] for e in events] == ["semtrace.log"] * 3
    assert [e[1]["semtrace.log.severity"] for e in events] == ["WARNING", "ERROR", "ERROR"]
    assert events[0][1]["semtrace.log.message"] == "slow" and events[0][1]["latency_ms"] == 4200
    assert events[2][1]["semtrace.log.message"] == ("Failed to reconcile because no ledger.")
    assert events[2][1]["semtrace.log.template"] == "Failed to reconcile because no ledger."
    assert events[2][1]["semtrace.log.cause"] == "no ledger"


def test_group_by_template_counts_kinds_of_failure(con: Callable[[], Any]) -> None:
    """One action failing for several causes: group by template counts each cause apart,
    the values in a cause (vendor names as facts, retry counts) do not split a kind."""
    log = semtrace.get_logger(agent="procurement")
    action = "retrieve the vendor ID of {vendor}"
    for vendor, tries in (("ACME", 3), ("Globex", 5), ("Initech", 2)):
        log.failure(
            action=action, cause=f"the ERP returned 503 after {tries} retries", vendor=vendor
        )
    for vendor in ("ACME", "Umbrella"):
        log.failure(action=action, cause="the Last-updated field was null", vendor=vendor)
    log.failure(action=action, cause="the ERP returned 404", vendor="Hooli")
    log.failure(action="pay the invoice")
    log.info("fine")
    counts = dict(
        con()
        .sql("select template, count(*) from logs where severity = 'ERROR' group by 1")
        .fetchall()
    )
    assert counts == {
        "{agent} failed to retrieve the vendor ID of {vendor} because the ERP returned 503 "
        "after <n> retries.": 3,
        "{agent} failed to retrieve the vendor ID of {vendor} because the Last-updated field "
        "was null.": 2,
        "{agent} failed to retrieve the vendor ID of {vendor} because the ERP returned 404.": 1,
        "{agent} failed to pay the invoice; the cause is unknown.": 1,
    }
    messages = [r["message"] for r in _logs(con) if r["severity"] == "ERROR"]
    assert messages[0] == (
        "The procurement agent failed to retrieve the vendor ID of ACME because the ERP "
        "returned 503 after 3 retries."
    )


def test_hand_written_error_sentences_keep_their_words_and_mask_their_values(
    con: Callable[[], Any],
) -> None:
    """log.error("...") with values inline: the template is the sentence with values masked,
    so two causes differ and two occurrences of one cause group."""
    log = semtrace.get_logger(agent="billing")
    log.error("charging invoice INV-7 for 120.50 EUR failed: card declined by the bank")
    log.error("charging invoice INV-9 for 80.00 EUR failed: card declined by the bank")
    log.error("charging invoice INV-9 for 80.00 EUR failed: the gateway returned 502")
    log.info("charged invoice INV-10")  # info sentences are stored as written
    rows = _logs(con)
    assert [r["template"] for r in rows] == [
        "charging invoice <n> for <n> EUR failed: card declined by the bank",
        "charging invoice <n> for <n> EUR failed: card declined by the bank",
        "charging invoice <n> for <n> EUR failed: the gateway returned 502",
        "charged invoice INV-10",
    ]
    assert rows[0]["message"] == (
        "charging invoice INV-7 for 120.50 EUR failed: card declined by the bank"
    )


def test_get_logger_is_a_no_op_when_not_configured() -> None:
    """Without configure(), logging still works (nothing stored, nothing raised)."""
    from semtrace.tracer.setup import STATE

    assert STATE.log_queue is None
    semtrace.get_logger(agent="x").failure(action="do it", cause="no store")


def test_bound_agent_does_not_hide_the_agent_of_a_nested_span(con: Callable[[], Any]) -> None:
    """Inside `with log.bind()` of one agent, a sub-agent's records name the sub-agent."""
    supervisor = semtrace.get_logger(agent="supervisor")
    anyone = semtrace.get_logger()

    @semtrace.agent("extraction")
    def extract() -> None:
        anyone.info("extracting")

    with supervisor.bind(run="R1"):
        extract()
        anyone.info("back")
    assert [(r["message"], r["agent_name"], r["attributes"]) for r in _logs(con)] == [
        ("extracting", "extraction", {"run": "R1"}),
        ("back", "supervisor", {"run": "R1"}),
    ]
