"""Collector extension points: routes another module registers, hooks after each commit."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import orjson
import pyarrow as pa
import pytest

from semtrace.collector import extensions
from semtrace.collector.extensions import HttpError, Request, Response
from semtrace.collector.server import Collector
from tests.collector.conftest import get, post, rows, span_request


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Leave no route or hook registered for the collectors of later tests."""
    yield
    extensions.remove_route("POST", "/v1/echo")
    extensions.remove_route("GET", "/v1/echo")


def _echo(request: Request) -> Response:
    doc = request.json()
    if doc == {"refuse": True}:
        raise HttpError(409, "refused on request")
    return Response.json({"method": request.method, "got": doc, "q": request.param("q")})


def test_a_registered_route_serves_post_and_get_behind_the_token(
    make_collector: Callable[..., Collector], clean_registry: None
) -> None:
    """A route added with add_route() answers in a collector started afterwards, after the
    token check; its HttpError becomes a status body with its code."""
    extensions.add_route("POST", "/v1/echo", _echo)
    extensions.add_route("GET", "/v1/echo", _echo)
    c = make_collector(token="t")
    auth = {"Authorization": "Bearer t"}
    assert post(c.url, "/v1/echo", b'{"a": 1}', "application/json").status == 401
    reply = post(c.url, "/v1/echo?q=z", b'{"a": 1}', "application/json", headers=auth)
    assert (reply.status, orjson.loads(reply.body)) == (
        200,
        {"method": "POST", "got": {"a": 1}, "q": "z"},
    )
    got = get(c.url, "/v1/echo", headers=auth)
    assert orjson.loads(got.body) == {"method": "GET", "got": None, "q": None}
    refused = post(c.url, "/v1/echo", b'{"refuse": true}', "application/json", headers=auth)
    assert refused.status == 409
    assert orjson.loads(refused.body)["message"] == "refused on request"


def test_a_route_added_to_a_running_collector_serves_at_once(collector: Collector) -> None:
    """collector.routes.add() extends one running collector; others are left alone."""
    assert post(collector.url, "/v1/echo", b"{}", "application/json").status == 404
    collector.routes.add("POST", "/v1/echo", _echo)
    assert post(collector.url, "/v1/echo", b"{}", "application/json").status == 200


def test_commit_hooks_get_the_committed_tables_and_their_errors_are_counted(
    collector: Collector,
) -> None:
    """Each hook receives every committed (table, Arrow table) pair after the commit; a
    hook that raises is counted in /health and stops neither ingest nor the other hooks."""
    seen: list[tuple[str, int]] = []
    committed_before_hook: list[int] = []

    def record(tables: Sequence[tuple[str, pa.Table]]) -> None:
        committed_before_hook.append(rows(collector, "select count(*) from spans")[0][0])
        seen.extend((name, t.num_rows) for name, t in tables)

    def broken(tables: Sequence[tuple[str, pa.Table]]) -> None:
        raise RuntimeError("a sink that is down")

    collector.hooks.add(broken)
    collector.hooks.add(record)
    body = span_request([{"name": "a"}, {"name": "b"}]).SerializeToString()
    assert post(collector.url, "/v1/traces", body).status == 200
    assert post(collector.url, "/v1/traces", body).status == 200
    assert collector.hooks.drain(10)
    assert seen == [("spans", 2), ("spans", 2)]
    assert committed_before_hook[0] >= 2  # the hook ran after its rows were committed
    health = orjson.loads(get(collector.url, "/health").body)
    assert (health["hook_errors"], health["hooks_dropped"]) == (2, 0)
    assert health["spans_committed"] == 4


def test_a_slow_hook_never_holds_up_ingest(collector: Collector) -> None:
    """While a hook is stuck, commits go on and are acknowledged; commits that do not fit
    its bounded queue are counted as dropped for the hooks, not lost from the database."""
    release = threading.Event()
    collector.hooks.add(lambda tables: release.wait(30))
    body = span_request([{"name": "s"}]).SerializeToString()
    try:
        for _ in range(70):  # the dispatch queue holds 64 commits
            assert post(collector.url, "/v1/traces", body).status == 200
    finally:
        release.set()
    assert rows(collector, "select count(*) from spans") == [(70,)]
    assert collector.hooks.drain(10)
    assert collector.hooks.dropped >= 70 - 64 - 1


def test_a_request_over_the_queue_bound_is_split_not_queued_whole(
    make_collector: Callable[..., Collector],
) -> None:
    """A request with more spans than the queue may hold is committed in parts: every span
    is stored and the queue never held more than its bound."""
    c = make_collector(max_pending=100)
    body = span_request([{"name": f"s{i}"} for i in range(450)]).SerializeToString()
    assert post(c.url, "/v1/traces", body).status == 200
    assert rows(c, "select count(*), count(distinct name) from spans") == [(450, 450)]
    health = orjson.loads(get(c.url, "/health").body)
    assert health["pending_peak"] <= 100
    assert health["commits"] >= 5


def test_the_queue_is_bounded_by_bytes_too(make_collector: Callable[..., Collector]) -> None:
    """With a byte bound smaller than a request's tables, the request is split by size and
    the queue's byte peak stays near the bound, whatever the record count."""
    c = make_collector(max_pending_bytes=64 * 1024)
    body = span_request(
        [{"name": f"s{i}", "attributes": {"blob": "x" * 2000}} for i in range(200)]
    ).SerializeToString()
    assert post(c.url, "/v1/traces", body).status == 200
    assert rows(c, "select count(*) from spans") == [(200,)]
    health = orjson.loads(get(c.url, "/health").body)
    assert 0 < health["pending_bytes_peak"] <= 64 * 1024
