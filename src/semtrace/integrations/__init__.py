"""Meet agents where they are: ecosystem instrumentors, LLM SDK wrappers, OTel entry points,
Parquet export/import and query helpers. Optional packages are imported only when used."""

from __future__ import annotations

from semtrace.integrations.anthropic import wrap_anthropic
from semtrace.integrations.instrument import instrument, instrumented, uninstrument
from semtrace.integrations.openai import wrap_openai
from semtrace.integrations.parquet import export_parquet, import_parquet
from semtrace.integrations.query import Trace, query, trace

__all__ = [
    "Trace",
    "export_parquet",
    "import_parquet",
    "instrument",
    "instrumented",
    "query",
    "trace",
    "uninstrument",
    "wrap_anthropic",
    "wrap_openai",
]
