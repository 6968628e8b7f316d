"""A small local HTTP server speaking the OpenAI chat/embeddings and Anthropic Messages APIs.

It stands in for the remote LLM API only: the real SDKs talk to it over 127.0.0.1. A model
named ``rate-limited`` answers 429, so error paths are exercised too. Requests are recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY = "Paris is the capital of France."


@dataclass
class LLMServer:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)


def _openai_chat(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": body["model"] + "-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 21,
            "completion_tokens": 7,
            "total_tokens": 28,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    }


def _openai_chunks(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    model = body["model"] + "-2024-07-18"
    base = {
        "id": "chatcmpl-test-2",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
    }
    words = REPLY.split(" ")
    for i, word in enumerate(words):
        text = word if i == 0 else " " + word
        yield {**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28},
        }


def _openai_response(body: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    done = status == "completed"
    return {
        "id": "resp_test_1",
        "object": "response",
        "created_at": 1_700_000_000,
        "model": body["model"] + "-2024-07-18",
        "status": status,
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": REPLY, "annotations": []}],
            }
        ]
        if done
        else [],
        "usage": {
            "input_tokens": 18,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 6,
            "output_tokens_details": {"reasoning_tokens": 2},
            "total_tokens": 24,
        }
        if done
        else None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def _openai_response_events(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    created = _openai_response(body, status="in_progress")
    yield (
        "response.created",
        {"type": "response.created", "sequence_number": 0, "response": created},
    )
    for i, word in enumerate(REPLY.split(" ")):
        yield (
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "sequence_number": i + 1,
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": word + " ",
            },
        )
    yield (
        "response.completed",
        {"type": "response.completed", "sequence_number": 99, "response": _openai_response(body)},
    )


def _anthropic_message(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_test_1",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": REPLY}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 30,
            "output_tokens": 9,
            "cache_read_input_tokens": 10,
            "cache_creation_input_tokens": 0,
        },
    }


def _anthropic_events(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    start = _anthropic_message(body)
    start = {
        **start,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 30, "output_tokens": 1},
    }
    yield "message_start", {"type": "message_start", "message": start}
    yield (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        },
    )
    for word in REPLY.split(" "):
        yield (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": word + " "},
            },
        )
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 9},
        },
    )
    yield "message_stop", {"type": "message_stop"}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: Iterator[tuple[str | None, dict[str, Any]]], done: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for name, payload in events:
            head = f"event: {name}\n" if name else ""
            self.wfile.write(f"{head}data: {json.dumps(payload)}\n\n".encode())
        if done:
            self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.record.requests.append({"path": self.path, "body": body})
        if body.get("model") == "rate-limited":
            self._json(
                429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}
            )
            return
        if self.path.endswith("/chat/completions"):
            if body.get("stream"):
                self._sse(((None, c) for c in _openai_chunks(body)), done=True)
            else:
                self._json(200, _openai_chat(body))
        elif self.path.endswith("/responses"):
            if body.get("stream"):
                self._sse(((n, e) for n, e in _openai_response_events(body)), done=False)
            else:
                self._json(200, _openai_response(body))
        elif self.path.endswith("/embeddings"):
            self._json(
                200,
                {
                    "object": "list",
                    "model": body["model"],
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                    "usage": {"prompt_tokens": 5, "total_tokens": 5},
                },
            )
        elif self.path.endswith("/messages"):
            if body.get("stream"):
                self._sse(((n, e) for n, e in _anthropic_events(body)), done=False)
            else:
                self._json(200, _anthropic_message(body))
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    record: LLMServer


@contextmanager
def llm_server() -> Iterator[LLMServer]:
    """Serve on a free 127.0.0.1 port for the duration of the ``with`` block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.record = LLMServer(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.record
    finally:
        server.shutdown()
        server.server_close()
