"""semtrace.wrap(obj): an existing agent object's entry points traced without editing its
class; inner calls become steps of the outer agent span; async methods keep their kind."""

from __future__ import annotations

import asyncio
import inspect

import pytest

import semtrace
from semtrace.testing import capture, span_tree


class Planner:
    """A framework-style agent object semtrace does not own."""

    name = "planner"

    def plan(self, goal: str) -> str:
        return self.refine(goal) + "!"

    def refine(self, goal: str) -> str:
        return goal.upper()

    async def act(self, step: str) -> str:
        await asyncio.sleep(0)
        return step

    def _private(self) -> str:
        return "hidden"


class Slotted:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 1

    def run(self) -> int:
        return self.value


async def test_wrap_public_methods_outer_agent_inner_steps() -> None:
    """Public methods become invoke_agent spans named after the object; a wrapped method
    called by another is a step under it; private methods and the class stay untouched."""
    planner = semtrace.wrap(Planner())
    assert semtrace.wrap(planner) is planner
    assert inspect.iscoroutinefunction(planner.act)
    with capture() as cap:
        assert planner.plan("book") == "BOOK!"
        assert await planner.act("go") == "go"
        assert planner._private() == "hidden"
        assert Planner().plan("x") == "X!"  # another instance is not traced
        spans = cap.spans()
    assert span_tree(spans, "kind") == [
        "invoke_agent planner INTERNAL",
        "  invoke_workflow refine INTERNAL",
        "invoke_agent planner INTERNAL",
    ]
    methods = [s.attributes["semtrace.wrapped.method"] for s in spans]
    assert sorted(methods) == ["act", "plan", "refine"]


def test_wrap_named_methods_with_a_role() -> None:
    """methods= limits wrapping to those names; role='tool' gives execute_tool spans; a
    missing method name is an error at wrap time."""
    planner = semtrace.wrap(Planner(), methods=["refine"], name="refiner", role="tool")
    with capture() as cap:
        planner.plan("a")
        spans = cap.spans()
    assert span_tree(spans) == ["execute_tool refiner"]
    with pytest.raises(AttributeError):
        semtrace.wrap(Planner(), methods=["missing"])


def test_wrap_slotted_object_returns_a_proxy_and_functions_are_decorated() -> None:
    """An object without instance attributes comes back as a forwarding proxy; a plain
    function comes back decorated."""
    obj = semtrace.wrap(Slotted(), name="slotted")

    def helper(x: int) -> int:
        return x + 1

    traced = semtrace.wrap(helper, name="helper", role="step")
    with capture() as cap:
        assert obj.run() == 1
        assert obj.value == 1
        assert traced(1) == 2
        spans = cap.spans()
    assert span_tree(spans) == ["invoke_agent slotted", "invoke_workflow helper"]


def test_wrap_a_langchain_runnable() -> None:
    """A LangChain runnable's entry point (invoke) is traced as the named agent."""
    runnables = pytest.importorskip("langchain_core.runnables")
    chain = semtrace.wrap(runnables.RunnableLambda(lambda x: x * 2), name="doubler")
    with capture() as cap:
        assert chain.invoke(21) == 42
        spans = cap.spans()
    assert span_tree(spans) == ["invoke_agent doubler"]
