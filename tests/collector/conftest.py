"""Fixtures for collector tests: a real collector on 127.0.0.1 and a tiny HTTP client."""

from __future__ import annotations

import http.client
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from semtrace.collector.server import Collector, CollectorConfig


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def post(
    url: str,
    path: str,
    body: bytes,
    content_type: str = "application/x-protobuf",
    headers: dict[str, str] | None = None,
) -> Reply:
    """POST one request on a fresh connection and read the whole reply."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(
            "POST", path, body=body, headers={"Content-Type": content_type, **(headers or {})}
        )
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def get(url: str, path: str, headers: dict[str, str] | None = None) -> Reply:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def kv(key: str, value: Any) -> common_pb2.KeyValue:
    if isinstance(value, bool):
        v = common_pb2.AnyValue(bool_value=value)
    elif isinstance(value, int):
        v = common_pb2.AnyValue(int_value=value)
    elif isinstance(value, float):
        v = common_pb2.AnyValue(double_value=value)
    else:
        v = common_pb2.AnyValue(string_value=str(value))
    return common_pb2.KeyValue(key=key, value=v)


def span_request(
    spans: list[dict[str, Any]], service: str = "svc"
) -> trace_service_pb2.ExportTraceServiceRequest:
    """A protobuf export request; each dict gives name, attributes and optional ids."""
    req = trace_service_pb2.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    ss = rs.scope_spans.add()
    ss.scope.name = "test-scope"
    for i, spec in enumerate(spans):
        s = ss.spans.add()
        s.trace_id = spec.get("trace_id", bytes.fromhex("0af7651916cd43dd8448eb211c80319c"))
        s.span_id = spec.get("span_id", os.urandom(8))
        if "parent" in spec:
            s.parent_span_id = spec["parent"]
        s.name = spec.get("name", f"span-{i}")
        s.kind = spec.get("kind", 1)
        s.start_time_unix_nano = spec.get("start", 1_700_000_000_000_000_000 + i)
        s.end_time_unix_nano = spec.get("end", 1_700_000_000_005_000_000 + i)
        s.status.code = spec.get("status", 0)
        if "message" in spec:
            s.status.message = spec["message"]
        s.attributes.extend(kv(k, v) for k, v in spec.get("attributes", {}).items())
    return req


@pytest.fixture
def make_collector(tmp_path: Path) -> Iterator[Callable[..., Collector]]:
    """Start collectors on free loopback ports (stopped after the test)."""
    started: list[Collector] = []

    def make(**overrides: Any) -> Collector:
        config = CollectorConfig(
            db=str(overrides.pop("db", tmp_path / "collector.duckdb")),
            port=overrides.pop("port", 0),
            **overrides,
        )
        c = Collector(config)
        c.start()
        started.append(c)
        return c

    yield make
    for c in started:
        c.stop()


@pytest.fixture
def collector(make_collector: Callable[..., Collector]) -> Collector:
    """A running collector with default settings."""
    return make_collector()


def rows(c: Collector, sql: str) -> list[tuple[Any, ...]]:
    """Query the collector's database in-process (through its sandbox, read-only)."""
    return [tuple(r.values()) for r in c.sandbox.run(sql).table.to_pylist()]


def rows_from_file(path: str | Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
