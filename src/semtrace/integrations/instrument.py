"""``semtrace.instrument("openai", "langchain", ...)``: turn on the ecosystem's instrumentors.

semtrace does not rewrite instrumentation that OpenInference (Arize) and OpenLLMetry
(Traceloop) already maintain: it finds the installed instrumentor for each name, points it at
semtrace's tracer provider, and lets the store's normalisation map its attributes onto the same
columns (agent_name, operation, model, tokens, cost, session_id) as semtrace's own spans.
OpenInference is preferred when both are installed.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from opentelemetry import trace

from semtrace.exceptions import ConfigurationError
from semtrace.tracer.setup import STATE

__all__ = ["INTEGRATIONS", "Integration", "instrument", "instrumented", "uninstrument"]

_log = logging.getLogger("semtrace.integrations")


@dataclass(frozen=True)
class Candidate:
    """One instrumentor that can serve an integration: where it lives, which package has it."""

    module: str
    package: str


@dataclass(frozen=True)
class Integration:
    """A framework or SDK semtrace knows how to instrument."""

    name: str
    library: str  # the package being instrumented, named in the hint when it is missing
    candidates: tuple[Candidate, ...]
    extra: str | None = None  # semtrace's optional extra that installs everything needed

    def install_hint(self) -> str:
        if self.extra:
            return f"pip install 'semtrace[{self.extra}]'"
        return f"pip install {self.library} {self.candidates[0].package}"


def _oi(module: str) -> Candidate:
    return Candidate(
        f"openinference.instrumentation.{module}",
        "openinference-instrumentation-" + module.replace("_", "-"),
    )


def _ollm(module: str, package: str | None = None) -> Candidate:
    return Candidate(
        f"opentelemetry.instrumentation.{module}",
        package or "opentelemetry-instrumentation-" + module.replace("_", "-"),
    )


_KNOWN = (
    Integration("openai", "openai", (_oi("openai"), _ollm("openai")), extra="openai"),
    Integration("anthropic", "anthropic", (_oi("anthropic"), _ollm("anthropic")), "anthropic"),
    Integration("langchain", "langchain-core", (_oi("langchain"), _ollm("langchain")), "langchain"),
    Integration("mcp", "mcp", (_oi("mcp"), _ollm("mcp")), extra="mcp"),
    Integration("crewai", "crewai", (_oi("crewai"), _ollm("crewai"))),
    Integration("openai_agents", "openai-agents", (_oi("openai_agents"), _ollm("openai_agents"))),
    Integration("autogen", "autogen-agentchat", (_oi("autogen_agentchat"),)),
    Integration("llama_index", "llama-index", (_oi("llama_index"), _ollm("llamaindex"))),
    Integration("bedrock", "boto3", (_oi("bedrock"), _ollm("bedrock"))),
    Integration("litellm", "litellm", (_oi("litellm"),)),
    Integration("groq", "groq", (_oi("groq"), _ollm("groq"))),
    Integration("mistralai", "mistralai", (_oi("mistralai"), _ollm("mistralai"))),
    Integration("google_genai", "google-genai", (_oi("google_genai"), _ollm("google_genai"))),
    Integration("vertexai", "google-cloud-aiplatform", (_oi("vertexai"), _ollm("vertexai"))),
    Integration("dspy", "dspy", (_oi("dspy"),)),
    Integration("smolagents", "smolagents", (_oi("smolagents"),)),
    Integration("haystack", "haystack-ai", (_oi("haystack"), _ollm("haystack"))),
)

INTEGRATIONS: dict[str, Integration] = {i.name: i for i in _KNOWN}
# Other spellings people use for the same thing.
_ALIASES = {
    "langgraph": "langchain",
    "openai-agents": "openai_agents",
    "agents": "openai_agents",
    "autogen_agentchat": "autogen",
    "llamaindex": "llama_index",
    "llama-index": "llama_index",
    "google-genai": "google_genai",
    "gemini": "google_genai",
}

_lock = threading.Lock()
_active: dict[str, Any] = {}  # integration name -> the instrumentor instance it turned on


def _resolve(name: str) -> Integration:
    key = name.strip().lower()
    key = _ALIASES.get(key, key.replace("-", "_"))
    integration = INTEGRATIONS.get(key)
    if integration is None:
        known = ", ".join(sorted(INTEGRATIONS))
        raise ConfigurationError(f"semtrace.instrument() does not know {name!r}; known: {known}")
    return integration


def _instrumentor_class(module: ModuleType) -> type[Any] | None:
    """The instrumentor a package exports (each exports exactly one BaseInstrumentor)."""
    from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
        BaseInstrumentor,
    )

    for value in vars(module).values():
        if (
            inspect.isclass(value)
            and issubclass(value, BaseInstrumentor)
            and value is not BaseInstrumentor
            and value.__module__.startswith(module.__name__)
        ):
            return value
    return None


def _find(integration: Integration) -> tuple[type[Any], Candidate] | None:
    for candidate in integration.candidates:
        try:
            module = importlib.import_module(candidate.module)
        except ImportError:
            continue
        cls = _instrumentor_class(module)
        if cls is not None:
            return cls, candidate
    return None


def _missing_library(instrumentor: Any) -> str | None:
    """Why the instrumented library cannot be instrumented (missing or wrong version)."""
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    try:
        deps = instrumentor.instrumentation_dependencies()
    except Exception:  # an instrumentor that cannot say: let instrument() decide
        return None
    conflict = get_dependency_conflicts(deps)
    return str(conflict) if conflict is not None else None


def _provider() -> trace.TracerProvider:
    return STATE.provider if STATE.provider is not None else trace.get_tracer_provider()


def _turn_on(integration: Integration, **kwargs: Any) -> str:
    found = _find(integration)
    if found is None:
        raise ConfigurationError(
            f"no instrumentor for {integration.name} is installed; install one with: "
            f"{integration.install_hint()}"
        )
    cls, candidate = found
    instrumentor = cls()
    problem = _missing_library(instrumentor)
    if problem is not None:
        raise ConfigurationError(
            f"{candidate.package} cannot instrument {integration.name}: {problem}. "
            f"Install it with: {integration.install_hint()}"
        )
    if not instrumentor.is_instrumented_by_opentelemetry:
        # The caller's own tracer_provider= (or skip_dep_check=) wins over semtrace's.
        instrumentor.instrument(
            **{"tracer_provider": _provider(), "skip_dep_check": True, **kwargs}
        )
    return f"{cls.__module__}.{cls.__qualname__}"


def instrument(*names: str, **kwargs: Any) -> dict[str, str]:
    """Turn on the OpenInference (or OpenLLMetry) instrumentor for each named integration.

    ``semtrace.instrument("openai", "langchain")``; with no names, every known integration
    whose instrumentor and library are installed. Returns ``{name: instrumentor class}``.
    Spans go to semtrace's tracer provider once ``configure()`` ran (to the global one before).
    A name whose instrumentor is not installed raises :class:`ConfigurationError` with the
    ``pip install`` line that fixes it. Extra keyword arguments go to each ``instrument()``;
    a ``tracer_provider=`` among them is used instead of semtrace's.
    Calling it again for an integration already on is a no-op.
    """
    wanted = [_resolve(n) for n in names] if names else _installed()
    result: dict[str, str] = {}
    with _lock:
        for integration in wanted:
            result[integration.name] = _turn_on(integration, **kwargs)
            _active[integration.name] = True
    return result


def _installed() -> list[Integration]:
    found: list[Integration] = []
    for integration in _KNOWN:
        hit = _find(integration)
        if hit is not None and _missing_library(hit[0]()) is None:
            found.append(integration)
    return found


def instrumented() -> list[str]:
    """The integrations semtrace turned on in this process."""
    with _lock:
        return sorted(_active)


def uninstrument(*names: str) -> None:
    """Turn instrumentors off again (all that semtrace turned on when no names are given)."""
    with _lock:
        targets: Iterable[str] = [_resolve(n).name for n in names] if names else list(_active)
        for name in targets:
            found = _find(INTEGRATIONS[name])
            if found is not None:
                instrumentor = found[0]()
                if instrumentor.is_instrumented_by_opentelemetry:
                    instrumentor.uninstrument()
            _active.pop(name, None)


STATE.instrumenter = instrument  # configure(instrument=[...]) calls it
