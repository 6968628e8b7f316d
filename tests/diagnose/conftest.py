"""Fixtures for diagnose tests: a local stand-in LLM server and helpers that make failures."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import semtrace
from semtrace.diagnose.heal import clear_cache


@dataclass
class Reply:
    """One scripted answer: the model's text (or a raw body), HTTP status, delay, headers."""

    text: str | None = None
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass
class FakeLLM:
    """A small HTTP server speaking OpenAI chat-completions and Anthropic messages."""

    url: str
    replies: list[Reply] = field(default_factory=list)
    default: Reply | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    # Chat-completions response formats refused with a 400, as some compatible local servers
    # refuse json_schema (the request does not use up a scripted reply).
    refuse_formats: set[str] = field(default_factory=set)

    @property
    def openai_base(self) -> str:
        return f"{self.url}/v1"

    def script(self, *replies: Reply, default: Reply | None = None) -> None:
        self.replies = list(replies)
        self.default = default


def _tool_input(request: dict[str, Any], text: str) -> tuple[str, dict[str, Any]] | None:
    """The tool call an Anthropic model makes when the request forces one and the scripted
    text is a JSON object (a model that ignores the tool answers text instead)."""
    tools = request.get("tools") or []
    if not tools:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return (tools[0]["name"], data) if isinstance(data, dict) else None


def _answer(path: str, reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    if reply.body is not None:
        return reply.body
    text = reply.text or ""
    if path.endswith("/chat/completions"):
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": "test-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160},
        }
    tool = _tool_input(request, text)
    content: list[dict[str, Any]] = (
        [{"type": "tool_use", "id": "toolu_test", "name": tool[0], "input": tool[1]}]
        if tool
        else [{"type": "text", "text": text}]
    )
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "test-model",
        "content": content,
        "stop_reason": "tool_use" if tool else "end_turn",
        "usage": {"input_tokens": 110, "output_tokens": 30},
    }


def _format_refused(fmt: str) -> dict[str, Any]:
    message = f"response_format type '{fmt}' is not supported by this server"
    return {"error": {"message": message, "type": "invalid_request_error", "code": 400}}


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A stand-in LLM API on 127.0.0.1 answering from a script, recording every request."""
    state = FakeLLM(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            body = json.loads(raw)
            with lock:
                state.raw.append(raw)
                state.times.append(time.monotonic())
                state.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                fmt = (body.get("response_format") or {}).get("type")
                if fmt in state.refuse_formats:
                    reply = Reply(status=400, body=_format_refused(fmt))
                else:
                    reply = state.replies.pop(0) if state.replies else state.default
            if reply is None:
                reply = Reply(status=500, body={"error": "no scripted reply"})
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if self.path not in ("/v1/chat/completions", "/v1/messages"):
                reply = Reply(status=404, body={"error": "not found"})
            payload = json.dumps(
                _answer(self.path, reply, body)
                if reply.status == 200
                else reply.body or {"error": "x"}
            ).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def valid_answer(
    category: str = "dependency_down", actions: tuple[str, ...] = ("retry_with_backoff",)
) -> str:
    """A well-formed diagnosis as a model would write it."""
    return json.dumps(
        {
            "summary": "The vendor service was down, so the lookup failed.",
            "root_cause": "The vendor API refused connections.",
            "category": category,
            "evidence": [{"kind": "span", "id": "abc", "why": "the failing call"}],
            "remediations": [
                {"action": a, "parameters": {}, "rationale": "because", "confidence": 0.9 - i / 10}
                for i, a in enumerate(actions)
            ],
        }
    )


@pytest.fixture(autouse=True)
def _fresh_heal_cache() -> Iterator[None]:
    """Each test starts with no in-process diagnoses cached by heal."""
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def make_failure(configured: Path) -> Callable[..., None]:
    """Run a traced tool inside an agent that raises ``exc`` (swallowed), into the test db."""

    def make(
        exc: BaseException,
        *,
        tool: str = "lookup_vendor",
        agent: str = "procurement",
        **inputs: Any,
    ) -> None:
        @semtrace.tool(tool)
        def the_tool(**kwargs: Any) -> None:
            raise exc

        @semtrace.agent(agent)
        def the_agent() -> None:
            the_tool(**inputs)

        with contextlib.suppress(BaseException):  # the failure is what we want recorded
            the_agent()

    return make


@pytest.fixture
def waited_task(configured: Path) -> None:
    """A compliance task that sat ~50 ms in input_required for a human, then completed
    (flushed into the test db)."""
    task = semtrace.start_task("compliance review", agent="compliance")
    task.set_status("input_required", "need a human to confirm the vendor")
    time.sleep(0.05)
    task.provide_input("confirmed", by="alice")
    task.complete()
    semtrace.force_flush()
