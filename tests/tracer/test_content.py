"""Inputs and outputs on every decorated span, by default: arguments and return values, an
LLM call's messages and response; redacted, cut at a configurable size; one switch off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import semtrace
from semtrace.tracer.setup import STATE

KEY = "sk-proj-Abc123DEF456ghi789JKLmno"


@semtrace.tool("lookup_vendor")
def lookup_vendor(vendor_id: str, api_key: str | None = None) -> dict[str, Any]:
    return {"vendor_id": vendor_id, "name": "Nordwind"}


@semtrace.llm(model="gpt-4o-mini", provider="openai")
def ask(messages: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "choices": [{"message": {"content": "Nordwind GmbH"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3},
    }


@semtrace.step("numbers")
def numbers(n: int) -> Iterator[int]:
    yield from range(n)


@semtrace.agent("procurement")
def procure(vendor_id: str) -> str:
    ask([{"role": "user", "content": f"Who is {vendor_id}?"}])
    sum(numbers(5))
    return lookup_vendor(vendor_id, api_key=KEY)["name"]


def _run(con: Any) -> dict[str, dict[str, Any]]:
    assert procure("V-7") == "Nordwind"
    rows = con().sql("SELECT name, input, output FROM spans").to_arrow_table().to_pylist()
    return {r["name"]: r for r in rows}


def test_every_span_records_its_input_and_output(con: Any) -> None:
    """Agent, tool and step spans carry their arguments and return value; the tool's appear
    in tool_calls, the LLM call's messages and response in llm_calls; a secret argument is
    redacted; a generator's output is its item count and first items."""
    spans = _run(con)
    assert json.loads(spans["invoke_agent procurement"]["input"]) == {"vendor_id": "V-7"}
    assert spans["invoke_agent procurement"]["output"] == "Nordwind"
    tool_input = spans["execute_tool lookup_vendor"]["input"]
    assert KEY not in tool_input and json.loads(tool_input)["vendor_id"] == "V-7"
    assert json.loads(spans["execute_tool lookup_vendor"]["output"]) == {
        "vendor_id": "V-7",
        "name": "Nordwind",
    }
    assert json.loads(spans["invoke_workflow numbers"]["output"]) == {
        "items": 5,
        "first": [0, 1, 2],
    }
    (tool,) = con().sql("SELECT arguments, result FROM tool_calls").fetchall()
    assert tool == (tool_input, spans["execute_tool lookup_vendor"]["output"])
    (llm,) = con().sql("SELECT prompt, response, total_tokens FROM llm_calls").fetchall()
    assert json.loads(llm[0]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Who is V-7?"}]}
    ]
    assert json.loads(llm[1]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Nordwind GmbH"}]}
    ]
    assert llm[2] == 15


@semtrace.tool("call_gateway")
def call_gateway(card_last4: str, token: str) -> str:
    return "accepted"


def test_an_argument_under_a_sensitive_name_is_redacted_whatever_it_looks_like(con: Any) -> None:
    """An opaque value (no secret pattern matches it) passed as ``token`` is replaced whole;
    the other arguments stay readable."""
    opaque = "q7Zr2LmX9vT4kP8wN1yB6cH3"
    call_gateway("4242", token=opaque)
    ((text,),) = con().sql("SELECT input FROM spans").fetchall()
    assert opaque not in text
    arguments = json.loads(text)
    assert arguments["card_last4"] == "4242" and arguments["token"].startswith("[REDACTED:")


def test_content_is_cut_at_the_configured_size(db_path: Path) -> None:
    """max_content_chars bounds what a span records, with a marker saying how much was cut."""
    semtrace.configure(service_name="t", db=db_path, max_content_chars=20)
    try:
        lookup_vendor("V" * 100)
        semtrace.force_flush()
        ((text,),) = semtrace.connect(db_path).sql("SELECT input FROM spans").fetchall()
    finally:
        semtrace.shutdown()
        STATE.settings = None
    assert text.startswith('{"vendor_id":"VVVVVV') and "…[truncated " in text
    assert len(text.split("…")[0]) == 20


@pytest.mark.parametrize(
    ("argument", "env"),
    [
        (False, {}),
        (None, {"SEMTRACE_CAPTURE_CONTENT": "false"}),
        (None, {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"}),
    ],
)
def test_one_switch_turns_content_off(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, argument: bool | None, env: dict[str, str]
) -> None:
    """configure(capture_content=False), SEMTRACE_CAPTURE_CONTENT=false or the GenAI
    conventions' OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false record no content."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    semtrace.configure(service_name="t", db=db_path, capture_content=argument)
    try:
        procure("V-7")
        semtrace.force_flush()
        rows = semtrace.connect(db_path).sql("SELECT input, output, attributes FROM spans")
        got = rows.fetchall()
    finally:
        semtrace.shutdown()
        STATE.settings = None
    assert len(got) == 4
    assert all(i is None and o is None for i, o, _ in got)
    assert not any("input.value" in (a or "") for _, _, a in got)


@semtrace.tool("send_note")
def send_note(note: str) -> str:
    return f"sent to {note.split()[-1]}"


def test_secrets_in_content_are_redacted_before_they_are_stored(db_path: Path) -> None:
    """Content is redacted on the store's write path (an email inside an argument and inside
    a return value), and a text too long to keep whole is redacted before it is cut: the cut
    falls inside the email, and not even its first half is stored."""
    note = "please forward the invoice to " + "x" * 10 + " ana.silva@example.org"
    semtrace.configure(service_name="t", db=db_path, max_content_chars=60)
    try:
        send_note("ana.silva@example.org")
        send_note(note)
        semtrace.force_flush()
        got = semtrace.connect(db_path).sql("SELECT input, output FROM spans").fetchall()
    finally:
        semtrace.shutdown()
        STATE.settings = None
    assert len(got) == 2
    texts = [t for row in got for t in row]
    assert all("ana.silva" not in t and "example.org" not in t for t in texts), texts
    assert sum("[REDACTED:email:" in t for t in texts) >= 2
    # The long note was cut, after its email had been replaced: the marker, not half of it.
    cut = next(t for t in texts if "…[truncated " in t)
    assert cut.startswith('{"note":"please forward the invoice to xxxxxxxxxx [REDACTED:'), cut
