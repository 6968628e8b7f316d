"""Zero-code: ``OTEL_TRACES_EXPORTER=semtrace opentelemetry-instrument python app.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.integrations._llm_server import LLMServer, llm_server

APP = textwrap.dedent(
    """
    import logging, os
    import openai
    from opentelemetry import trace

    tracer = trace.get_tracer("billing-app")
    with tracer.start_as_current_span("invoke_agent billing", attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "billing",
    }):
        client = openai.OpenAI(base_url=os.environ["LLM_URL"] + "/v1", api_key="k")
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "total?"}]
        )
        logging.getLogger("billing").warning("invoice total did not match the order")
    """
)


def _run_instrumented(tmp_path: Path, source: str, env: dict[str, str]) -> None:
    """Run ``source`` as a script under ``opentelemetry-instrument`` (metrics off, ``env``
    added to the environment) and require it to exit cleanly."""
    app = tmp_path / "app.py"
    app.write_text(source)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, str(app)],
        env={**os.environ, "OTEL_METRICS_EXPORTER": "none", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with llm_server() as s:
        yield s


def test_opentelemetry_instrument_writes_spans_and_logs_to_duckdb(
    tmp_path: Path, server: LLMServer
) -> None:
    """An uninstrumented app run under opentelemetry-instrument lands normalised in DuckDB."""
    db = tmp_path / "zero.duckdb"
    _run_instrumented(
        tmp_path,
        APP,
        {
            "OTEL_TRACES_EXPORTER": "semtrace",
            "OTEL_LOGS_EXPORTER": "semtrace",
            "OTEL_SERVICE_NAME": "billing-service",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
            "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
            "SEMTRACE_DB": str(db),
            "LLM_URL": server.url,
        },
    )
    con = duckdb.connect(str(db), read_only=True)
    spans = con.sql(
        """SELECT name, operation, agent_name, model, input_tokens, output_tokens, service_name,
                  json_extract_string(resource, '$."deployment.environment"') AS env,
                  parent_span_id IS NULL AS is_root
           FROM spans ORDER BY start_time_ns"""
    ).fetchall()
    assert spans == [
        (
            "invoke_agent billing",
            "invoke_agent",
            "billing",
            None,
            None,
            None,
            "billing-service",
            "test",
            True,
        ),
        (
            "ChatCompletion",
            "chat",
            "billing",  # inherited from the agent span it ran in
            "gpt-4o-mini-2024-07-18",
            21,
            7,
            "billing-service",
            "test",
            False,
        ),
    ]
    logs = con.sql(
        """SELECT l.severity, l.message, l.service_name, l.logger_name, s.name
           FROM logs l JOIN spans s ON l.span_id = s.span_id"""
    ).fetchall()
    assert logs == [
        (
            "WARNING",
            "invoice total did not match the order",
            "billing-service",
            "billing",
            "invoke_agent billing",
        )
    ]


APP_WITH_CONFIGURE = textwrap.dedent(
    """
    import semtrace

    semtrace.configure()  # same SEMTRACE_DB as the exporter: semtrace takes over

    @semtrace.agent("intake")
    def intake():
        with semtrace.tool("parse"):
            pass

    intake()
    """
)


def test_an_app_that_also_configures_semtrace_stores_each_span_once(tmp_path: Path) -> None:
    """Zero-code exporter plus semtrace.configure() on the same file writes no duplicates."""
    db = tmp_path / "both.duckdb"
    _run_instrumented(
        tmp_path,
        APP_WITH_CONFIGURE,
        {
            "OTEL_TRACES_EXPORTER": "semtrace",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_SERVICE_NAME": "intake-service",
            "SEMTRACE_DB": str(db),
        },
    )
    con = duckdb.connect(str(db), read_only=True)
    rows = con.sql("SELECT name, agent_name, service_name FROM spans ORDER BY name").fetchall()
    assert rows == [
        ("execute_tool parse", "intake", "intake-service"),
        ("invoke_agent intake", "intake", "intake-service"),
    ]
