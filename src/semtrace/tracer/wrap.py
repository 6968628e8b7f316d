"""``semtrace.wrap(obj)``: instrument an existing agent object without editing its class.

Frameworks hand you objects (a LangChain runnable, a CrewAI agent, an MCP client session)
whose classes you do not own. ``wrap`` replaces the chosen methods *on that instance* with
traced versions::

    planner = semtrace.wrap(Planner(), name="planner")          # its public methods
    chain = semtrace.wrap(chain, methods=["invoke", "ainvoke"])  # just these

The outermost call is an ``invoke_agent {name}`` span (``role="tool"`` / ``"step"`` give tool
or workflow spans instead); a wrapped method called from inside another one of the same agent
is an ``invoke_workflow {method}`` step under it. Sync and async methods, generators and
async generators are all handled by the same decorators as ``@semtrace.agent``. An MCP
``ClientSession`` is instrumented with the MCP conventions (:mod:`semtrace.tracer.mcp`).
Wrapping twice does not trace twice.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from semtrace import semconv as sc
from semtrace.tracer._context import current_agent
from semtrace.tracer.decorators import agent, step, tool

__all__ = ["ENTRY_POINTS", "wrap"]

T = TypeVar("T")
_MARK = "__semtrace_wrapped__"
# Methods of framework base classes are not the object's own behaviour; these names are its
# usual entry points when the object's class comes from a framework.
_FRAMEWORK_PACKAGES = frozenset(
    {
        "builtins",
        "abc",
        "typing",
        "collections",
        "pydantic",
        "langchain_core",
        "langchain",
        "langgraph",
        "crewai",
        "llama_index",
        "autogen",
    }
)
ENTRY_POINTS = ("invoke", "ainvoke", "stream", "astream", "batch", "abatch", "run", "arun")


def _defining_package(cls: type, name: str) -> str:
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass.__module__.split(".")[0]
    return "builtins"


def _public_methods(obj: object) -> list[str]:
    cls = type(obj)
    names: list[str] = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        try:
            static = inspect.getattr_static(obj, name)
        except AttributeError:
            continue
        if isinstance(static, staticmethod | classmethod | property) or not inspect.isfunction(
            static
        ):
            continue
        if _defining_package(cls, name) in _FRAMEWORK_PACKAGES and name not in ENTRY_POINTS:
            continue
        names.append(name)
    return names


def _is_mcp_session(obj: object) -> bool:
    cls = type(obj)
    return any(
        k.__module__.startswith("mcp.") and k.__name__ == "ClientSession" for k in cls.__mro__
    )


def _traced_method(
    bound: Callable[..., Any], method: str, name: str, role: str
) -> Callable[..., Any]:
    attrs = {sc.SEMTRACE_WRAPPED_METHOD: method}
    if role == "tool":
        outer = tool(name, attributes=attrs)(bound)
        inner = outer
    elif role == "step":
        outer = inner = step(method, attributes=attrs)(bound)
    else:
        outer = agent(name, attributes=attrs)(bound)
        inner = step(method, attributes=attrs)(bound)

    def choose() -> Callable[..., Any]:
        return inner if role == "agent" and current_agent() == name else outer

    wrapper: Callable[..., Any]
    if inspect.iscoroutinefunction(bound):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await choose()(*args, **kwargs)

        wrapper = async_wrapper
    else:

        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            return choose()(*args, **kwargs)

        wrapper = sync_wrapper
    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        with contextlib.suppress(AttributeError):
            setattr(wrapper, attr, getattr(bound, attr))
    setattr(wrapper, "__wrapped__", bound)  # noqa: B010
    setattr(wrapper, _MARK, True)
    return wrapper


class _Proxy:
    """Stands in for an object whose instance attributes cannot be set (``__slots__``)."""

    def __init__(self, target: object, methods: dict[str, Callable[..., Any]]) -> None:
        object.__setattr__(self, "_semtrace_target", target)
        object.__setattr__(self, "_semtrace_methods", methods)

    def __getattr__(self, item: str) -> Any:
        methods = object.__getattribute__(self, "_semtrace_methods")
        if item in methods:
            return methods[item]
        return getattr(object.__getattribute__(self, "_semtrace_target"), item)

    def __setattr__(self, key: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_semtrace_target"), key, value)

    def __repr__(self) -> str:
        return f"<semtrace-wrapped {object.__getattribute__(self, '_semtrace_target')!r}>"


def wrap(
    obj: T,
    methods: Iterable[str] | None = None,
    *,
    name: str | None = None,
    role: str = "agent",
) -> T:
    """Instrument ``obj``'s public methods (or ``methods``) in place; returns the object.

    ``name`` is the agent's (or tool's) name, by default ``obj.name`` if it is a string, else
    the class name. A plain function is decorated and returned. An object whose attributes
    cannot be set comes back as a proxy that forwards everything else to it.
    """
    if role not in {"agent", "tool", "step"}:
        raise ValueError(f"wrap(role=...) is 'agent', 'tool' or 'step', not {role!r}")
    if _is_mcp_session(obj):
        from semtrace.tracer.mcp import instrument_session

        return instrument_session(obj)
    if inspect.isroutine(obj):
        if getattr(obj, _MARK, False):
            return obj
        factory: Callable[..., Any] = {"agent": agent, "tool": tool, "step": step}[role]
        wrapped = factory(name)(obj) if name else factory(obj)
        setattr(wrapped, _MARK, True)
        return cast(T, wrapped)
    own_name = getattr(obj, "name", None)
    label = name or (own_name if isinstance(own_name, str) and own_name else type(obj).__name__)
    chosen = list(methods) if methods is not None else _public_methods(obj)
    replacements: dict[str, Callable[..., Any]] = {}
    for method in chosen:
        bound = getattr(obj, method)  # a missing method is the caller's mistake: raise
        if not callable(bound):
            raise TypeError(f"wrap(): {type(obj).__name__}.{method} is not callable")
        if getattr(bound, _MARK, False):
            continue
        replacements[method] = _traced_method(bound, method, label, role)
    try:
        for method, fn in replacements.items():
            object.__setattr__(obj, method, fn)
    except (AttributeError, TypeError):
        return _Proxy(obj, replacements)  # type: ignore[return-value]
    return obj
