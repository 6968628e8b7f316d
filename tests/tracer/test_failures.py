"""Exceptions in traced steps become sentences that say who, doing what, why and what it cost.

The sentences asserted here in full are the ones quoted in docs/semantic-logging.md.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pydantic
import pytest
import requests

import semtrace
from semtrace.telemetry.context import ATTEMPT_KEY
from semtrace.tracer._failures import CallInfo, describe_failure


def _rows(con: Callable[[], Any], sql: str) -> list[dict[str, Any]]:
    return con().sql(sql).to_arrow_table().to_pylist()  # type: ignore[no-any-return]


def _failure_logs(con: Callable[[], Any]) -> dict[str, dict[str, Any]]:
    """The ERROR logs of failed spans, by the span's name."""
    rows = _rows(
        con,
        "select s.name, l.* from logs l join spans s using (trace_id, span_id) "
        "where l.event_name = 'exception'",
    )
    return {r["name"]: r for r in rows}


@semtrace.tool
def lookup_vendor(invoice: dict[str, Any], api_key: str = "") -> str:
    """Look up the vendor record in the ERP."""
    return str(invoice["last_updated"]).strip()


@semtrace.agent("procurement")
def procure(invoice: dict[str, Any]) -> str:
    """Match each invoice to its vendor."""
    return lookup_vendor(invoice, api_key="sk-proj-Abc123DEF456ghi789JKLmno")


def test_a_tool_failure_says_who_what_with_what_why_and_the_impact(
    con: Callable[[], Any],
) -> None:
    """The tool's ERROR log: the agent and tool, the docstring as written, the input (secret
    redacted), the missing field as the cause, and that the agent failed at its purpose.
    The span's status is the same sentence without the impact."""
    with pytest.raises(KeyError):
        procure({"id": "INV-7"})
    logs = _failure_logs(con)
    tool = logs["execute_tool lookup_vendor"]
    message = tool["message"]
    assert message.startswith(
        'The procurement agent\'s tool lookup_vendor ("Look up the vendor record in the ERP") '
        "failed in "
    )
    assert re.search(
        r", called with invoice=\{'id': 'INV-7'\}, api_key='\[REDACTED:openai_key:\w+\]', "
        r"because the input invoice has no 'last_updated' \(KeyError: 'last_updated'\), "
        r'so the procurement agent failed at "Match each invoice to its vendor"\.$',
        message,
    )
    assert "sk-proj-" not in message
    (span,) = _rows(
        con, "select status_message from spans where name = 'execute_tool lookup_vendor'"
    )
    assert message == span["status_message"].removesuffix(".") + (
        ', so the procurement agent failed at "Match each invoice to its vendor".'
    )
    assert tool["template"] == (
        '{agent}\'s tool lookup_vendor ("Look up the vendor record in the ERP") failed in '
        "{duration}, called with {input}, because the input invoice has no 'last_updated' "
        "(KeyError: 'last_updated'), so the procurement agent failed at "
        '"Match each invoice to its vendor".'
    )
    assert (tool["action"], tool["cause"], tool["impact"]) == (
        "Look up the vendor record in the ERP",
        "the input invoice has no 'last_updated' (KeyError: 'last_updated')",
        'the procurement agent failed at "Match each invoice to its vendor"',
    )
    facts = json.loads(tool["attributes"])
    assert facts["error.type"] == "KeyError"
    assert facts["missing_field"] == "invoice['last_updated']"
    assert (facts["role"], facts["name"]) == ("tool", "lookup_vendor")
    assert isinstance(facts["duration_ms"], float)


def test_failures_view_shows_each_failure_once_with_its_sentence(con: Callable[[], Any]) -> None:
    """The failures view has one row for the failure, where it started (the tool), its
    message the sentence with its impact; the agent it took down is its impact, not another
    failure."""
    with pytest.raises(KeyError):
        procure({"id": "V-1"})
    rows = _rows(
        con, "select source, name, message, status_message, impact_count, ended_in from failures"
    )
    spans = [r for r in rows if r["source"] == "span"]
    assert [(r["name"], r["impact_count"], r["ended_in"]) for r in spans] == [
        ("execute_tool lookup_vendor", 1, "invoke_agent procurement")
    ]
    for row in spans:  # the sentence, with its impact (the span's status is without)
        assert row["message"] == row["status_message"].removesuffix(".") + (
            ', so the procurement agent failed at "Match each invoice to its vendor".'
        )
    assert not [r for r in rows if r["source"] == "log"]  # the error logs belong to the spans


def test_the_outer_agent_says_which_inner_call_raised(con: Callable[[], Any]) -> None:
    """An exception passing up through an agent names the tool it came from; a top-level
    agent has no agent above it, so no impact."""
    with pytest.raises(KeyError):
        procure({"id": "INV-7"})
    agent = _failure_logs(con)["invoke_agent procurement"]
    assert agent["message"].startswith(
        'The procurement agent ("Match each invoice to its vendor") failed in '
    )
    assert agent["message"].endswith(
        "because the tool lookup_vendor raised KeyError: 'last_updated'."
    )
    assert agent["impact"] is None
    assert agent["template"] == (
        '{agent} ("Match each invoice to its vendor") failed in {duration}, called with '
        "{input}, because the tool lookup_vendor raised KeyError: 'last_updated'."
    )
    assert json.loads(agent["attributes"])["failed_in"] == "the tool lookup_vendor"


def test_an_agent_that_carries_on_is_degraded_and_the_none_field_is_named(
    con: Callable[[], Any],
) -> None:
    """A None field the failing line touched is the cause; an agent that catches the error
    and goes on is 'degraded' at its purpose."""

    @semtrace.tool
    def vendor_age(invoice: dict[str, Any]) -> int:
        """Compute how old the vendor record is."""
        return len(invoice["vendor"].strip())

    @semtrace.agent("procurement")
    def triage(invoice: dict[str, Any]) -> str:
        """Rank invoices by risk."""
        try:
            vendor_age(invoice)
        except AttributeError:
            return "unranked"
        return "ranked"

    assert triage({"id": "INV-9", "vendor": None}) == "unranked"
    (log,) = _failure_logs(con).values()
    assert log["message"].endswith(
        "because the input field invoice['vendor'] was None (AttributeError: 'NoneType' "
        "object has no attribute 'strip'), so the procurement agent went on without its "
        'result ("Rank invoices by risk" degraded).'
    )


def test_heal_recovery_is_the_impact(con: Callable[[], Any]) -> None:
    """A failure heal recovered from says so: the agent went on, delayed."""
    calls = []

    @semtrace.heal(allow=["retry"], max_attempts=2)
    @semtrace.tool
    def fetch_rates() -> float:
        """Fetch today's exchange rates."""
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionResetError(104, "Connection reset by peer")
        return 1.08

    @semtrace.agent("treasury")
    def convert() -> float:
        """Convert the invoice total to EUR."""
        return fetch_rates()

    assert convert() == 1.08
    rows = _rows(con, "select message from logs where event_name = 'exception'")
    (message,) = (r["message"] for r in rows)
    assert message.startswith(
        "The treasury agent's tool fetch_rates (\"Fetch today's exchange rates\") failed in "
    )
    assert message.endswith(
        ", because it raised ConnectionResetError: [Errno 104] Connection reset by peer, so "
        'heal recovered it with retry and the treasury agent went on ("Convert the invoice '
        'total to EUR" delayed).'
    )


@contextmanager
def _http(status: int = 200, delay_s: float = 0.0) -> Iterator[str]:
    """A local HTTP server answering every GET with ``status`` after ``delay_s``."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if delay_s:
                stop.wait(delay_s)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the client gave up

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def test_the_http_status_and_host_are_the_cause(con: Callable[[], Any]) -> None:
    """A service answering 503 is named with its host; the span keeps the status code."""

    @semtrace.tool
    def erp_lookup(url: str) -> None:
        """Read the vendor from the ERP."""
        requests.get(f"{url}/vendors/V-1", timeout=5).raise_for_status()

    with _http(503) as url, pytest.raises(requests.HTTPError):
        erp_lookup(url)
    (log,) = _failure_logs(con).values()
    assert (
        "because the service at 127.0.0.1 answered HTTP 503 (HTTPError: 503 Server Error: "
        in (log["message"])
    )
    (span,) = _rows(con, "select attributes from spans")
    attrs = json.loads(span["attributes"])
    assert (attrs["http.response.status_code"], attrs["server.address"]) == (503, "127.0.0.1")


def test_the_timeout_that_elapsed_is_the_cause(con: Callable[[], Any]) -> None:
    """A read timeout says it timed out and which timeout the call was given."""

    @semtrace.tool
    def slow_rates(url: str, timeout: float = 0.1) -> None:
        """Fetch rates from the slow bank."""
        requests.get(url, timeout=timeout)

    with _http(200, delay_s=2.0) as url, pytest.raises(requests.ReadTimeout):
        slow_rates(url)
    (log,) = _failure_logs(con).values()
    assert log["cause"].startswith(
        "its 0.1 s timeout elapsed (ReadTimeout: HTTPConnectionPool(host='127.0.0.1', port="
    )


def test_a_validation_error_names_the_field(con: Callable[[], Any]) -> None:
    """A pydantic validation error names the field it rejected and why."""

    class Invoice(pydantic.BaseModel):
        number: str
        amount: float

    @semtrace.tool
    def parse_invoice(payload: dict[str, Any]) -> Invoice:
        """Parse the extracted invoice."""
        return Invoice.model_validate(payload)

    with pytest.raises(pydantic.ValidationError):
        parse_invoice({"number": "INV-7", "amount": "twelve"})
    (log,) = _failure_logs(con).values()
    assert log["cause"].startswith(
        "the field amount failed validation (Input should be a valid number, unable to parse "
        "string as a number) (ValidationError: 1 validation error for Invoice"
    )


def test_nested_agents_each_say_what_their_failure_cost(con: Callable[[], Any]) -> None:
    """Tool -> booking agent -> travel agent: the tool's failure cost the booking agent its
    purpose, the booking agent's failure cost the travel agent its own."""

    @semtrace.tool
    def book_hotel(city: str) -> None:
        """Book a hotel room."""
        raise ConnectionRefusedError(111, "Connection refused")

    @semtrace.agent("booking")
    def book(city: str) -> None:
        """Book the trip's hotel and car."""
        book_hotel(city)

    @semtrace.agent("travel")
    def plan(city: str) -> None:
        """Plan a business trip."""
        book(city)

    with pytest.raises(ConnectionRefusedError):
        plan("Lyon")
    logs = _failure_logs(con)
    assert logs["execute_tool book_hotel"]["impact"] == (
        'the booking agent failed at "Book the trip\'s hotel and car"'
    )
    assert logs["invoke_agent booking"]["impact"] == (
        'the travel agent failed at "Plan a business trip"'
    )
    assert logs["invoke_agent travel"]["impact"] is None
    assert logs["execute_tool book_hotel"]["message"].endswith(
        "because it raised ConnectionRefusedError: [Errno 111] Connection refused, so the "
        'booking agent failed at "Book the trip\'s hotel and car".'
    )


def test_a_step_outside_any_agent_is_logged_at_once_without_impact(
    con: Callable[[], Any],
) -> None:
    """No agent above a failing step: the log is the span's sentence, with no impact."""

    @semtrace.step
    def reconcile(ledger: list[int]) -> float:
        """Reconcile the ledger."""
        return sum(ledger) / len(ledger)

    with pytest.raises(ZeroDivisionError):
        reconcile([])
    (log,) = _failure_logs(con).values()
    (span,) = _rows(con, "select status_message from spans")
    assert log["message"] == span["status_message"]
    assert log["message"].endswith(
        ", called with ledger=[], because it raised ZeroDivisionError: division by zero."
    )
    assert log["impact"] is None


async def test_async_step_timeout_says_it_was_cancelled_and_the_agent_timed_out(
    con: Callable[[], Any],
) -> None:
    """A step cut short by asyncio.timeout was cancelled; the agent around it timed out."""

    @semtrace.step
    async def fetch_rates() -> None:
        """Fetch today's exchange rates."""
        await asyncio.sleep(5)

    @semtrace.agent("treasury")
    async def run() -> None:
        async with asyncio.timeout(0.05):
            await fetch_rates()

    with pytest.raises(TimeoutError):
        await run()
    logs = _failure_logs(con)
    step = logs["invoke_workflow fetch_rates"]["message"]
    agent = logs["invoke_agent treasury"]["message"]
    assert step.startswith(
        "The treasury agent's step fetch_rates (\"Fetch today's exchange rates\") failed in "
    )
    assert step.endswith(", because it was cancelled, so the treasury agent failed.")
    assert agent.startswith("The treasury agent failed in ")
    assert agent.endswith(", because it timed out (TimeoutError (caused by CancelledError)).")
    logs_facts = [json.loads(r["attributes"]) for r in logs.values()]
    assert {f.get("cancelled") for f in logs_facts} == {True, None}


def test_attempt_and_chained_cause_are_in_the_sentence(con: Callable[[], Any]) -> None:
    """The attempt number from the context and an explicit 'raise ... from' cause are named."""
    from opentelemetry import context as otel_context

    @semtrace.tool("charge_card")
    def charge() -> None:
        try:
            raise ConnectionError("gateway refused")
        except ConnectionError as exc:
            raise RuntimeError("payment failed") from exc

    token = otel_context.attach(otel_context.set_value(ATTEMPT_KEY, 3))
    try:
        with pytest.raises(RuntimeError):
            charge()
    finally:
        otel_context.detach(token)
    (span,) = _rows(con, "select status_message from spans")
    assert span["status_message"].endswith(
        " on attempt 3, because it raised RuntimeError: payment failed (caused by "
        "ConnectionError: gateway refused)."
    )
    (log,) = _rows(con, "select template from logs where event_name = 'exception'")
    assert "attempt" not in log["template"]  # attempts 1 and 3 are one kind of failure


def test_durations_below_a_millisecond_read_in_under_1_ms() -> None:
    """A call that failed within a millisecond reads 'in under 1 ms', not '0 ms'."""
    call = CallInfo(role="step", name="reconcile", started=10.0, ended=10.0004, parent=None)
    text = describe_failure(call, ValueError("ledger empty"))
    assert text.message == (
        "The step reconcile failed in under 1 ms, because it raised ValueError: ledger empty."
    )
    assert text.template == (
        "The step reconcile failed in {duration}, because it raised ValueError: ledger empty."
    )
    assert text.action == "run the step reconcile"
    assert text.facts["duration_ms"] == 0.4


@pytest.mark.parametrize(
    "doc",
    ["Summarizes the vendor history.", "Caches the FX rates", "vendor lookup helper tool"],
)
def test_the_docstring_is_quoted_as_written(doc: str) -> None:
    """No verb guessing: the purpose is the docstring's first line as written."""
    call = CallInfo(
        role="tool", name="t", purpose=doc.rstrip("."), started=0, ended=2.5, parent=None
    )
    message = describe_failure(call, KeyError("x")).message
    assert message.startswith(f'The tool t ("{doc.rstrip(".")}") failed in 2.5 s, because ')


def test_facts_the_exception_carried_are_recorded_on_the_span(con: Callable[[], Any]) -> None:
    """errno (and the other facts telemetry.errors reads) land on the failing span."""

    @semtrace.tool
    def connect_erp() -> None:
        """Open a connection to the ERP."""
        sock = socket.socket()
        try:
            sock.connect(("127.0.0.1", 9))  # discard port: nothing listens
        finally:
            sock.close()

    with pytest.raises(ConnectionRefusedError):
        connect_erp()
    (span,) = _rows(con, "select attributes, error_type from spans")
    assert json.loads(span["attributes"])["semtrace.error.errno"] == 111
    assert span["error_type"] == "ConnectionRefusedError"
