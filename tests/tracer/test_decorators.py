"""The decorators and context managers, asserted as whole span trees read back from DuckDB."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import semtrace
from semtrace.pricing import reset_prices
from semtrace.testing import span_tree
from semtrace.tracer.setup import STATE

Rows = list[dict[str, Any]]


def spans(con: Callable[[], Any]) -> Rows:
    """Every span in the db as a dict, with attributes parsed."""
    rows = con().sql("SELECT * FROM spans ORDER BY start_time_ns").to_arrow_table().to_pylist()
    for r in rows:
        r["attributes"] = json.loads(r["attributes"]) if r["attributes"] else {}
    return rows


def by_name(rows: Rows, name: str) -> dict[str, Any]:
    (row,) = [r for r in rows if r["name"] == name]
    return row


@pytest.fixture(autouse=True)
def _prices() -> Iterator[None]:
    yield
    reset_prices()


# -- sync, async, nesting ---------------------------------------------------------------------


def test_sync_tree(con: Callable[[], Any]) -> None:
    """Nested sync agent/tool/llm/step calls become one trace with GenAI names, kinds, parents."""

    @semtrace.tool("search_flights")
    def search(origin: str, dest: str) -> list[str]:
        return ["TP123"]

    @semtrace.llm(model="gpt-4o-mini", provider="openai")
    def ask(prompt: str) -> dict[str, Any]:
        return {"usage": {"input_tokens": 10, "output_tokens": 5}}

    @semtrace.step("book")
    def book() -> str:
        return "ok"

    @semtrace.agent("supervisor")
    def plan(request: str) -> str:
        search("LIS", "JFK")
        ask(request)
        return book()

    assert plan("a trip") == "ok"
    rows = spans(con)
    assert span_tree(rows, "kind", "status_code", "agent_name", "operation") == [
        "invoke_agent supervisor INTERNAL UNSET supervisor invoke_agent",
        "  execute_tool search_flights INTERNAL UNSET supervisor execute_tool",
        "  chat gpt-4o-mini CLIENT UNSET supervisor chat",
        "  invoke_workflow book INTERNAL UNSET supervisor invoke_workflow",
    ]
    assert len({r["trace_id"] for r in rows}) == 1
    root = by_name(rows, "invoke_agent supervisor")
    assert root["parent_span_id"] is None
    assert root["service_name"] == "test-service"
    assert root["scope_name"] == "semtrace"
    assert root["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    assert root["attributes"]["gen_ai.agent.name"] == "supervisor"
    tool = by_name(rows, "execute_tool search_flights")
    assert tool["tool_name"] == "search_flights"
    assert tool["attributes"]["gen_ai.tool.name"] == "search_flights"
    assert tool["attributes"]["gen_ai.tool.type"] == "function"
    llm = by_name(rows, "chat gpt-4o-mini")
    assert (llm["model"], llm["provider"]) == ("gpt-4o-mini", "openai")
    assert llm["attributes"]["gen_ai.request.model"] == "gpt-4o-mini"
    assert llm["attributes"]["gen_ai.provider.name"] == "openai"
    step = by_name(rows, "invoke_workflow book")
    assert step["attributes"]["gen_ai.workflow.name"] == "book"


async def test_async_tree(con: Callable[[], Any]) -> None:
    """Async agents and tools nest through awaits and asyncio.gather."""

    @semtrace.tool("fetch")
    async def fetch(n: int) -> int:
        await asyncio.sleep(0)
        return n

    @semtrace.agent("gatherer")
    async def gather() -> list[int]:
        return list(await asyncio.gather(fetch(1), fetch(2)))

    assert await gather() == [1, 2]
    rows = spans(con)
    assert span_tree(rows, "kind") == [
        "invoke_agent gatherer INTERNAL",
        "  execute_tool fetch INTERNAL",
        "  execute_tool fetch INTERNAL",
    ]
    root = by_name(rows, "invoke_agent gatherer")
    assert all(r["parent_span_id"] == root["span_id"] for r in rows if r is not root)
    assert {r["agent_name"] for r in rows} == {"gatherer"}


def test_bare_decorator_uses_function_name(con: Callable[[], Any]) -> None:
    """A bare @agent/@tool/@step names the span after the function."""

    @semtrace.tool
    def lookup_vendor() -> None:
        pass

    @semtrace.step
    def reconcile() -> None:
        lookup_vendor()

    @semtrace.agent
    def procurement() -> None:
        reconcile()

    procurement()
    assert span_tree(spans(con)) == [
        "invoke_agent procurement",
        "  invoke_workflow reconcile",
        "    execute_tool lookup_vendor",
    ]


def test_remote_agent_is_client(con: Callable[[], Any]) -> None:
    """An agent marked remote gets a CLIENT span, with description/id/provider attributes."""

    @semtrace.agent("bedrock", remote=True, description="books hotels", id="a-1", provider="aws")
    def call() -> None:
        pass

    call()
    (row,) = spans(con)
    assert row["kind"] == "CLIENT"
    attrs = row["attributes"]
    assert attrs["gen_ai.agent.description"] == "books hotels"
    assert attrs["gen_ai.agent.id"] == "a-1"
    assert attrs["gen_ai.provider.name"] == "aws"


def test_methods(con: Callable[[], Any]) -> None:
    """Decorated methods trace per call and keep self bound."""

    class Planner:
        def __init__(self) -> None:
            self.calls = 0

        @semtrace.agent("planner")
        def plan(self, city: str) -> str:
            self.calls += 1
            return self.lookup(city)

        @semtrace.tool("lookup")
        def lookup(self, city: str) -> str:
            return city.upper()

        @semtrace.tool("alookup")
        async def alookup(self, city: str) -> str:
            return city

    p = Planner()
    assert p.plan("lisbon") == "LISBON"
    assert asyncio.run(p.alookup("porto")) == "porto"
    assert p.calls == 1
    assert span_tree(spans(con)) == [
        "invoke_agent planner",
        "  execute_tool lookup",
        "execute_tool alookup",
    ]


def test_static_and_class_methods(con: Callable[[], Any]) -> None:
    """The decorators work above or below @staticmethod and @classmethod, async ones too."""

    class Tools:
        factor = 3

        @semtrace.tool("above_static")
        @staticmethod
        async def above_static(x: int) -> int:
            await asyncio.sleep(0)
            return x

        @semtrace.tool("above_class")
        @classmethod
        def above_class(cls, x: int) -> int:
            return x * cls.factor

        @classmethod
        @semtrace.tool("below_class")
        def below_class(cls, x: int) -> int:
            return x + cls.factor

    with semtrace.agent("owner"):
        assert asyncio.run(Tools.above_static(2)) == 2
        assert Tools.above_class(2) == 6
        assert Tools().below_class(2) == 5
    assert span_tree(spans(con)) == [
        "invoke_agent owner",
        "  execute_tool above_static",
        "  execute_tool above_class",
        "  execute_tool below_class",
    ]


# -- context-manager form ---------------------------------------------------------------------


def test_context_manager_form(con: Callable[[], Any]) -> None:
    """`with semtrace.agent(...)` yields the span and nests like the decorator."""
    with semtrace.agent("supervisor") as span:
        span.set_attribute("custom.key", "v")
        with semtrace.tool("search"), semtrace.llm(model="claude-sonnet-4"):
            pass
        with semtrace.step("wrap-up"):
            pass
    rows = spans(con)
    assert span_tree(rows, "agent_name") == [
        "invoke_agent supervisor supervisor",
        "  execute_tool search supervisor",
        "    chat claude-sonnet-4 supervisor",
        "  invoke_workflow wrap-up supervisor",
    ]
    assert by_name(rows, "invoke_agent supervisor")["attributes"]["custom.key"] == "v"


async def test_async_context_manager_form(con: Callable[[], Any]) -> None:
    """`async with semtrace.tool(...)` nests awaited work under it."""

    @semtrace.tool("inner")
    async def inner() -> None:
        await asyncio.sleep(0)

    async with semtrace.agent("outer"):
        await inner()
    assert span_tree(spans(con)) == ["invoke_agent outer", "  execute_tool inner"]


async def test_shared_context_manager_in_concurrent_tasks(con: Callable[[], Any]) -> None:
    """One instance entered by two overlapping tasks: each task exits its own span, so each
    span covers its task's work (the first to exit does not end the other's span)."""
    shared = semtrace.tool("shared")
    entered, first_left = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with shared:
            entered.set()
            await asyncio.sleep(0)
        first_left.set()

    async def second() -> None:
        await entered.wait()
        async with shared:
            await first_left.wait()
            with semtrace.step("after_first_left"):
                pass

    await asyncio.gather(first(), second())
    rows = spans(con)
    assert span_tree(rows) == [
        "execute_tool shared",
        "execute_tool shared",
        "  invoke_workflow after_first_left",
    ]
    step = by_name(rows, "invoke_workflow after_first_left")
    parent = next(r for r in rows if r["span_id"] == step["parent_span_id"])
    assert parent["end_time_ns"] >= step["end_time_ns"]


def test_nested_reentry_of_one_instance(con: Callable[[], Any]) -> None:
    """The same instance entered inside itself nests and unwinds in order."""
    again = semtrace.step("again")
    with again, again:
        pass
    assert span_tree(spans(con)) == ["invoke_workflow again", "  invoke_workflow again"]


def test_context_manager_error(con: Callable[[], Any]) -> None:
    """An exception leaving a `with` block marks the span ERROR and propagates."""
    with pytest.raises(KeyError), semtrace.tool("kv"):
        raise KeyError("vendor_id")
    (row,) = spans(con)
    assert row["status_code"] == "ERROR"
    assert row["error_type"] == "KeyError"


# -- generators -------------------------------------------------------------------------------


def test_generator_span_covers_iteration(con: Callable[[], Any]) -> None:
    """A generator's span lasts the whole iteration and parents the work done between items."""

    @semtrace.tool("child")
    def child(i: int) -> int:
        return i

    @semtrace.tool("stream")
    def stream(n: int) -> Iterator[int]:
        for i in range(n):
            yield child(i)

    @semtrace.agent("consumer")
    def consume() -> list[int]:
        out = []
        for item in stream(3):
            with semtrace.step("handle"):  # the consumer's own work: parented to the agent
                out.append(item)
        return out

    assert consume() == [0, 1, 2]
    rows = spans(con)
    assert span_tree(rows) == [
        "invoke_agent consumer",
        "  execute_tool stream",
        "    execute_tool child",
        "    execute_tool child",
        "    execute_tool child",
        "  invoke_workflow handle",
        "  invoke_workflow handle",
        "  invoke_workflow handle",
    ]
    gen = by_name(rows, "execute_tool stream")
    handles = [r for r in rows if r["name"] == "invoke_workflow handle"]
    assert gen["end_time_ns"] >= max(h["end_time_ns"] for h in handles[:-1])
    assert gen["attributes"]["semtrace.items"] == 3
    children = [r for r in rows if r["name"] == "execute_tool child"]
    assert {c["parent_span_id"] for c in children} == {gen["span_id"]}


def test_generator_closed_early(con: Callable[[], Any]) -> None:
    """Breaking out of a traced generator ends its span without an error."""

    @semtrace.step("numbers")
    def numbers() -> Iterator[int]:
        yield from range(100)

    gen = numbers()
    assert next(gen) == 0
    gen.close()
    (row,) = spans(con)
    assert row["status_code"] == "UNSET"
    assert row["attributes"]["semtrace.items"] == 1


def test_generator_error(con: Callable[[], Any]) -> None:
    """An exception inside a generator marks its span ERROR and reaches the consumer."""

    @semtrace.tool("flaky_stream")
    def flaky() -> Iterator[int]:
        yield 1
        raise ConnectionError("feed dropped")

    with pytest.raises(ConnectionError, match="feed dropped"):
        list(flaky())
    (row,) = spans(con)
    assert (row["status_code"], row["error_type"]) == ("ERROR", "ConnectionError")


async def test_async_generator_span_covers_iteration(con: Callable[[], Any]) -> None:
    """An async generator's span covers the iteration; awaited work inside nests under it."""

    @semtrace.llm(model="gpt-4o")
    async def token(i: int) -> str:
        await asyncio.sleep(0)
        return f"t{i}"

    @semtrace.tool("stream_tokens")
    async def stream(n: int) -> AsyncIterator[str]:
        for i in range(n):
            yield await token(i)

    @semtrace.agent("writer")
    async def write() -> str:
        return "".join([t async for t in stream(2)])

    assert await write() == "t0t1"
    rows = spans(con)
    assert span_tree(rows, "kind") == [
        "invoke_agent writer INTERNAL",
        "  execute_tool stream_tokens INTERNAL",
        "    chat gpt-4o CLIENT",
        "    chat gpt-4o CLIENT",
    ]
    assert by_name(rows, "execute_tool stream_tokens")["attributes"]["semtrace.items"] == 2


async def test_async_generator_error(con: Callable[[], Any]) -> None:
    """An async generator that raises is recorded as ERROR and the error propagates."""

    @semtrace.tool("bad_stream")
    async def bad() -> AsyncIterator[int]:
        yield 1
        raise TimeoutError("upstream slow")

    with pytest.raises(TimeoutError):
        async for _ in bad():
            pass
    (row,) = spans(con)
    assert row["status_code"] == "ERROR"
    assert row["error_type"] == "TimeoutError"


# -- LLM usage and cost ------------------------------------------------------------------------


class _Usage:
    def __init__(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens


class _ChatCompletion:
    """Shaped like openai's ChatCompletion (attributes, not a dict)."""

    def __init__(self) -> None:
        self.id = "chatcmpl-1"
        self.model = "gpt-4o-mini-2024-07-18"
        self.usage = _Usage(1000, 500)
        self.choices = [type("Choice", (), {"finish_reason": "stop"})()]


def test_llm_usage_tokens_and_cost(con: Callable[[], Any]) -> None:
    """Usage on the returned object fills tokens, response model, finish reasons and cost."""

    @semtrace.llm(model="gpt-4o-mini", provider="openai")
    def ask() -> _ChatCompletion:
        return _ChatCompletion()

    ask()
    (row,) = spans(con)
    assert (row["input_tokens"], row["output_tokens"]) == (1000, 500)
    assert row["model"] == "gpt-4o-mini-2024-07-18"  # the response model wins
    # gpt-4o-mini: $0.15 / 1M input, $0.60 / 1M output (dated name matches by prefix)
    assert row["cost_usd"] == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    attrs = row["attributes"]
    assert attrs["gen_ai.usage.input_tokens"] == 1000
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["gen_ai.response.id"] == "chatcmpl-1"


def test_llm_anthropic_dict_usage(con: Callable[[], Any]) -> None:
    """An Anthropic-shaped dict (input/output tokens, stop_reason) is read the same way."""

    @semtrace.llm(model="claude-opus-4", provider="anthropic")
    async def ask() -> dict[str, Any]:
        return {"usage": {"input_tokens": 2000, "output_tokens": 100}, "stop_reason": "end_turn"}

    asyncio.run(ask())
    (row,) = spans(con)
    assert (row["input_tokens"], row["output_tokens"]) == (2000, 100)
    assert row["cost_usd"] == pytest.approx((2000 * 15 + 100 * 75) / 1e6)
    assert row["attributes"]["gen_ai.response.finish_reasons"] == ["end_turn"]


def test_set_prices_override_and_unknown_model(con: Callable[[], Any]) -> None:
    """set_prices overrides the table; a model with no price stores NULL cost, not zero."""
    semtrace.set_prices({"gpt-4o-mini": (1.0, 2.0), "house-model": (0.5, 0.5)})

    def make(model: str) -> Callable[[], dict[str, Any]]:
        @semtrace.llm(model=model)
        def ask() -> dict[str, Any]:
            return {"usage": {"input_tokens": 1_000_000, "output_tokens": 1_000_000}}

        return ask

    for model in ("gpt-4o-mini", "house-model", "mystery-model-9"):
        make(model)()
    cost = {r["model"]: r["cost_usd"] for r in spans(con)}
    assert cost == {"gpt-4o-mini": 3.0, "house-model": 1.0, "mystery-model-9": None}


def test_set_prices_rejects_bad_pairs() -> None:
    """A price that is not two non-negative numbers is refused with what the shape should be."""
    with pytest.raises(ValueError, match="usd_per_1m_input"):
        semtrace.set_prices({"m": (1.0, -2.0)})


def test_llm_without_usage_has_no_tokens(con: Callable[[], Any]) -> None:
    """A call that returns no usage leaves tokens and cost NULL."""

    @semtrace.llm(model="gpt-4o")
    def ask() -> str:
        return "plain text"

    ask()
    (row,) = spans(con)
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (None, None, None)


# -- exceptions -------------------------------------------------------------------------------


class VendorLookupError(Exception):
    pass


def test_exception_recorded_and_reraised_unchanged(con: Callable[[], Any]) -> None:
    """A raising tool: exception event (type, message, stacktrace), ERROR status on it and its
    agent, error_type set, and the very same exception object re-raised."""
    original = VendorLookupError("Last-updated field was null")

    @semtrace.tool("lookup_vendor")
    def lookup(invoice_id: str) -> None:
        raise original

    @semtrace.agent("procurement")
    def run() -> None:
        lookup("INV-7")

    with pytest.raises(VendorLookupError) as info:
        run()
    assert info.value is original
    rows = spans(con)
    assert span_tree(rows, "status_code") == [
        "invoke_agent procurement ERROR",
        "  execute_tool lookup_vendor ERROR",
    ]
    tool = by_name(rows, "execute_tool lookup_vendor")
    assert tool["error_type"] == f"{__name__}.VendorLookupError"
    assert "Last-updated field was null" in tool["status_message"]
    assert "lookup_vendor" in tool["status_message"]
    events = (
        con()
        .sql(
            "SELECT name, exception_type, exception_message, exception_stacktrace "
            "FROM span_events WHERE span_id = ?",
            params=[tool["span_id"]],
        )
        .fetchall()
    )
    ((name, etype, message, stack),) = events
    assert name == "exception"
    assert etype == f"{__name__}.VendorLookupError"
    assert message == "Last-updated field was null"
    assert "Traceback" in stack and "raise original" in stack


async def test_async_exception_recorded(con: Callable[[], Any]) -> None:
    """An async tool that raises is recorded the same way and the error propagates."""

    @semtrace.tool("pay")
    async def pay() -> None:
        raise PermissionError("card declined")

    with pytest.raises(PermissionError, match="card declined"):
        await pay()
    (row,) = spans(con)
    assert (row["status_code"], row["error_type"]) == ("ERROR", "PermissionError")
    n = con().sql("SELECT count(*) FROM span_events WHERE name = 'exception'").fetchall()
    assert n == [(1,)]


def test_failures_view_lists_the_error(con: Callable[[], Any]) -> None:
    """The failures view has one row per failed span with the sentence as its message."""

    @semtrace.tool("lookup")
    def lookup() -> None:
        raise ValueError("no vendor")

    with pytest.raises(ValueError):
        lookup()
    rows = con().sql("SELECT source, name, error_type, message FROM failures").fetchall()
    assert len(rows) == 1
    source, name, error_type, message = rows[0]
    assert (source, name, error_type) == ("span", "execute_tool lookup", "ValueError")
    assert "no vendor" in message


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [semtrace.agent, semtrace.tool, semtrace.step, semtrace.llm])
def test_decorating_a_class_is_a_type_error(factory: Callable[..., Any]) -> None:
    """Decorating a class raises TypeError pointing at its methods or semtrace.wrap."""

    class Agent:
        pass

    with pytest.raises(TypeError, match=r"cannot decorate the class Agent.*methods"):
        factory()(Agent)
    if factory is not semtrace.llm:
        with pytest.raises(TypeError, match="cannot decorate the class Agent"):
            factory(Agent)


@pytest.mark.parametrize("factory", [semtrace.agent, semtrace.tool, semtrace.step, semtrace.llm])
def test_decorating_a_non_callable_is_a_type_error(factory: Callable[..., Any]) -> None:
    """Decorating a non-callable raises TypeError listing what can be decorated."""
    with pytest.raises(TypeError, match="decorates functions, methods, generators"):
        factory()(42)


def test_name_must_be_a_string() -> None:
    """A name that is neither a string nor a callable is refused."""
    with pytest.raises(TypeError, match=r"takes a name \(str\)"):
        semtrace.tool(42)
    with pytest.raises(TypeError, match="model= as a keyword"):
        semtrace.llm("gpt-4o")


# -- input capture settings -------------------------------------------------------------------


def _failing_tool() -> Callable[[str], None]:
    @semtrace.tool("lookup")
    def lookup(vendor: str) -> None:
        raise LookupError("no such vendor")

    return lookup


def test_failure_sentence_names_the_input(con: Callable[[], Any]) -> None:
    """A failed call's sentence says what it was called with."""
    with pytest.raises(LookupError):
        _failing_tool()("ACME-42")
    (row,) = spans(con)
    assert "vendor='ACME-42'" in row["status_message"]


def test_capture_inputs_off(db_path: Any) -> None:
    """configure(capture_inputs=False) keeps arguments out of the sentence."""
    semtrace.configure(db=db_path, capture_inputs=False)
    try:
        with pytest.raises(LookupError):
            _failing_tool()("ACME-42")
        ((message,),) = semtrace.connect(db_path).sql("SELECT status_message FROM spans").fetchall()
        assert "ACME-42" not in message
        assert "no such vendor" in message
    finally:
        semtrace.shutdown()
        STATE.settings = None


def test_max_input_chars_truncates(db_path: Any) -> None:
    """configure(max_input_chars=N) cuts the described input to N characters."""
    semtrace.configure(db=db_path, max_input_chars=12)
    try:
        with pytest.raises(LookupError):
            _failing_tool()("A" * 100)
        ((message,),) = semtrace.connect(db_path).sql("SELECT status_message FROM spans").fetchall()
        assert "called with vendor='AAA…, because" in message  # 12 characters in all
    finally:
        semtrace.shutdown()
        STATE.settings = None


def test_streamed_llm_usage(con: Callable[[], Any]) -> None:
    """A streamed LLM call (a generator) takes usage from the chunks that carry it: OpenAI's
    last chunk, Anthropic's message_start and message_delta."""

    @semtrace.llm(model="gpt-4o-mini", provider="openai")
    def openai_stream() -> Iterator[dict[str, Any]]:
        yield {"model": "gpt-4o-mini", "choices": [{"delta": {"content": "Hi"}}]}
        yield {
            "model": "gpt-4o-mini",
            "choices": [],
            "usage": {"prompt_tokens": 20, "completion_tokens": 2},
        }

    @semtrace.llm(model="claude-sonnet-4", provider="anthropic")
    async def anthropic_stream() -> AsyncIterator[dict[str, Any]]:
        yield {
            "type": "message_start",
            "message": {
                "model": "claude-sonnet-4",
                "usage": {"input_tokens": 30, "output_tokens": 1},
            },
        }
        yield {"type": "content_block_delta", "delta": {"text": "Hi"}}
        yield {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 7},
        }

    async def drain() -> None:
        async for _ in anthropic_stream():
            pass

    assert len(list(openai_stream())) == 2
    asyncio.run(drain())
    got = {r["provider"]: (r["input_tokens"], r["output_tokens"]) for r in spans(con)}
    assert got == {"openai": (20, 2), "anthropic": (30, 7)}
    cost = {r["provider"]: r["cost_usd"] for r in spans(con)}
    assert cost["anthropic"] == pytest.approx((30 * 3.0 + 7 * 15.0) / 1e6)
