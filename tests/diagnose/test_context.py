"""Context packs built from a real traced run: the chain around a failure, redacted, bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import semtrace
from semtrace.bus import EventBus
from semtrace.diagnose.context import build_context, estimate_tokens, fit_budget
from semtrace.diagnose.extract import extract_failures


def _packs(db: Path, **kw: Any) -> list[dict[str, Any]]:
    semtrace.force_flush()
    con = semtrace.connect(db)
    try:
        return [build_context(con, f, **kw) for f in extract_failures(con)]
    finally:
        con.close()


def test_pack_has_ancestors_siblings_logs_and_exception(configured: Path) -> None:
    """The failing hotel call comes with its callers, the flight call before it and its sentence."""
    log = semtrace.get_logger()

    @semtrace.tool("flight_api")
    def flight() -> str:
        return "AF123"

    @semtrace.tool("hotel_api")
    def hotel(city: str) -> None:
        log.info("asking the hotel API", city=city)
        raise ConnectionRefusedError("hotel API refused the connection")

    @semtrace.agent("booking")
    def booking() -> None:
        flight()
        hotel("Paris")

    @semtrace.agent("supervisor")
    def supervisor() -> None:
        booking()

    with pytest.raises(ConnectionRefusedError):
        supervisor()
    [pack] = _packs(configured)
    assert pack["failure"]["target"] == "hotel_api"
    assert pack["failure"]["agent"] == "booking"
    assert [a["name"] for a in pack["ancestors"]] == [
        "invoke_agent supervisor",
        "invoke_agent booking",
    ]
    assert [(s["name"], s["status"]) for s in pack["siblings"]] == [
        ("execute_tool flight_api", "UNSET")
    ]
    assert pack["exception"]["type"] == "ConnectionRefusedError"
    assert "hotel API refused the connection" in pack["exception"]["message"]
    messages = [lg["message"] for lg in pack["logs"] if lg["on_failing_span"]]
    assert any("asking the hotel API" in m for m in messages)
    assert pack["span"]["attributes"]["gen_ai.tool.name"] == "hotel_api"


async def test_pack_names_the_upstream_message(configured: Path) -> None:
    """A failing consumer's pack points at the message (producer span) that led to it."""
    bus = EventBus(name="invoices")

    @bus.subscribe("invoice.received", agent="extraction")
    async def on_invoice(msg: Any) -> None:
        raise KeyError("vendor_id")

    with semtrace.agent("intake"):
        await bus.publish("invoice.received", {"id": 7}, agent="intake")
    await bus.join()
    packs = [p for p in _packs(configured) if p["failure"].get("error_type") == "KeyError"]
    assert packs, "the consumer failure was extracted"
    upstream = packs[0].get("upstream") or []
    assert any(u["relation"] == "message link" for u in upstream), packs[0]


def test_fit_budget_keeps_the_failure_and_cuts_the_rest() -> None:
    """An oversized pack is cut within the budget, keeping the failure and the stack's end."""
    pack = {
        "failure": {"kind": "error", "message": "boom"},
        "exception": {"type": "E", "message": "m", "stacktrace": "frame\n" * 5000 + "LAST"},
        "logs": [{"message": "x" * 500, "on_failing_span": False} for _ in range(50)],
        "siblings": [{"name": f"s{i}"} for i in range(40)],
    }
    cut = fit_budget(pack, 600)
    assert estimate_tokens(cut) <= 600
    assert cut["failure"]["message"] == "boom"
    assert cut["exception"]["stacktrace"].endswith("LAST")
