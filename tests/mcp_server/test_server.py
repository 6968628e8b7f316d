"""``semtrace mcp`` over stdio and streamable HTTP, driven by the real ``mcp`` client."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import AnyUrl

import semtrace
from semtrace.store import queries
from semtrace.tracer.setup import STATE
from tests.mcp_server.conftest import (
    INTAKE_CAUSE,
    SENTENCE_PART,
    Telemetry,
    Waiting,
    server_command,
)

READ_TOOLS = {
    "query_sql",
    "describe_schema",
    "list_traces",
    "get_trace",
    "list_failures",
    "get_failure",
    "diagnose_failure",
}


def _params(db: Path, *extra: str) -> StdioServerParameters:
    command, args, env = server_command(db, *extra)
    return StdioServerParameters(command=command, args=args, env=env)


def _text(result: object) -> str:
    return "\n".join(block.text for block in result.content)  # type: ignore[attr-defined]


async def test_every_tool_answers_over_stdio(telemetry: Telemetry) -> None:
    """A client lists the tools and calls each: traces, the failed trace's tree with its
    sentence, the failure with its diagnosis, SQL rows and the schema."""
    async with (
        stdio_client(_params(telemetry.db)) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == READ_TOOLS
        assert tools["query_sql"].annotations.readOnlyHint is True

        async def call(name: str, **arguments: object) -> str:
            result = await session.call_tool(name, arguments)
            assert not result.isError, _text(result)
            return _text(result)

        traces = await call("list_traces", limit=10)
        assert telemetry.failed_trace in traces
        assert "2 traces" in traces
        # both runs failed: the procurement tool, and the intake told by a log sentence
        errors_only = await call("list_traces", status="error")
        assert telemetry.failed_trace in errors_only and "2 traces," in errors_only
        assert (await call("list_traces", status="ok")).startswith("no traces match")

        tree = await call("get_trace", trace_id=telemetry.failed_trace[:12])
        lines = tree.splitlines()
        agent = next(i for i, line in enumerate(lines) if "invoke_agent procurement" in line)
        tool = next(i for i, line in enumerate(lines) if "execute_tool lookup_vendor_id" in line)
        assert tool > agent and lines[tool].startswith("  ✗ ")
        assert telemetry.failed_span in lines[tool]
        assert any(SENTENCE_PART in line and line.lstrip().startswith(">") for line in lines)

        failures = await call("list_failures", agent="procurement")
        assert telemetry.failed_span in failures and telemetry.fingerprint in failures
        # The failure told by a log sentence alone (intake's) is named after the span it was
        # written in, as the dashboard names it, never by its template.
        every = await call("list_failures")
        header, *listed = every.splitlines()[1:]
        name = header.split(" | ").index("name")
        assert sorted(line.split(" | ")[name] for line in listed) == [
            "execute_tool lookup_vendor_id",
            "invoke_agent intake",
        ]
        assert INTAKE_CAUSE in every and "{agent}" not in every

        detail = await call("get_failure", failure_id=telemetry.failed_span)
        assert f"fingerprint: {telemetry.fingerprint}" in detail
        assert "diagnosis (rules" in detail and "remediation 1:" in detail

        diagnosis = await call("diagnose_failure", fingerprint=telemetry.fingerprint)
        assert "a stored diagnosis" in diagnosis  # diagnosed once already: cached

        rows = await call(
            "query_sql", sql="select agent_name from spans order by agent_name", limit=1
        )
        assert rows.splitlines()[:3] == [
            "1 row (cut at the limit of 1; raise limit, up to 500)",
            "agent_name",
            "intake",
        ]
        schema = await call("describe_schema")
        assert "- failures:" in schema and "- tasks:" in schema
        assert "duration_ms DOUBLE" in await call("describe_schema", relation="spans")


async def test_bad_sql_and_writes_are_error_results(telemetry: Telemetry) -> None:
    """Bad SQL, a write, a file read and an unknown id give MCP error results saying why,
    and the server keeps answering afterwards."""
    async with (
        stdio_client(_params(telemetry.db)) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        cases = {
            "selec * from spans": "does not parse",
            "delete from spans": "DELETE statements are not allowed",
            "drop table spans": "not allowed",
            "select 1; delete from spans": "only one statement",
            "select * from nowhere": "nowhere",
            "select * from read_csv('/etc/passwd')": "disabled by configuration",
        }
        for sql, reason in cases.items():
            result = await session.call_tool("query_sql", {"sql": sql})
            assert result.isError, sql
            assert reason in _text(result), (sql, _text(result))
        missing = await session.call_tool("get_failure", {"failure_id": "0" * 16})
        assert missing.isError and "list_failures()" in _text(missing)
        still = await session.call_tool("query_sql", {"sql": "select count(*) as n from spans"})
        assert not still.isError and _text(still).splitlines()[1:] == ["n", "3"]


async def test_the_sql_contract_is_a_resource(telemetry: Telemetry) -> None:
    """The contract resource lists every table and view; one relation has its own resource."""
    async with (
        stdio_client(_params(telemetry.db)) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = [str(r.uri) for r in (await session.list_resources()).resources]
        assert listed == ["semtrace://contract"]
        contract = await session.read_resource(AnyUrl("semtrace://contract"))
        text = contract.contents[0].text  # type: ignore[union-attr]
        for relation in ("spans", "logs", "traces", "failures", "tasks", "messages"):
            assert f"- {relation}:" in text
        one = await session.read_resource(AnyUrl("semtrace://relations/failures"))
        assert "fingerprint VARCHAR" in one.contents[0].text  # type: ignore[union-attr]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_streamable_http_answers_a_query(telemetry: Telemetry) -> None:
    """``--transport http`` serves the same tools at /mcp to a streamable HTTP client."""
    port = _free_port()
    command, args, env = server_command(telemetry.db, "--transport", "http", "--port", str(port))
    proc = subprocess.Popen([command, *args], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:  # up once it answers HTTP at all (a GET without a session is a 4xx)
            try:
                httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(proc.stderr.read().decode() if proc.stderr else "no output")
                time.sleep(0.2)
        async with (
            streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (
                read,
                write,
                _,
            ),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            result = await session.call_tool(
                "query_sql", {"sql": "select count(*) as traces from traces"}
            )
            assert _text(result).splitlines()[1:] == ["traces", "2"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()


def test_the_command_refuses_a_missing_database(tmp_path: Path) -> None:
    """``semtrace mcp`` on a file that does not exist says how to get one, before serving."""
    command, args, env = server_command(tmp_path / "none.duckdb")
    proc = subprocess.run([command, *args], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "no semtrace database at" in proc.stderr


def test_the_readme_block_starts_this_server() -> None:
    """The README's mcpServers block is valid JSON that runs ``semtrace mcp --db FILE``."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```json\n(.*?)```", readme, flags=re.S) if "mcp" in b]
    server = json.loads(block)["mcpServers"]["semtrace"]
    assert server["command"] == "semtrace"
    assert server["args"][:2] == ["mcp", "--db"]


async def test_task_tools_only_with_the_flag_and_answers_are_recorded_once(
    waiting: Waiting,
) -> None:
    """Without --tasks no task tool is offered; with it the client lists the waiting task
    with its question, answers it, and a second answer is an error result saying why."""
    async with stdio_client(_params(waiting.db)) as (read, write), ClientSession(
        read, write
    ) as session:
        await session.initialize()
        assert {t.name for t in (await session.list_tools()).tools} == READ_TOOLS
    async with stdio_client(_params(waiting.db, "--tasks", "--answer-as", "claude")) as (
        read,
        write,
    ), ClientSession(read, write) as session:
        await session.initialize()
        names = {t.name for t in (await session.list_tools()).tools}
        assert names == READ_TOOLS | {"list_waiting_tasks", "answer_task", "cancel_task"}
        listed = _text(await session.call_tool("list_waiting_tasks", {}))
        assert waiting.task_id in listed and waiting.question in listed
        first = await session.call_tool(
            "answer_task", {"task_id": waiting.task_id, "answer": "yes, approve"}
        )
        assert not first.isError and "recorded" in _text(first)
        again = await session.call_tool(
            "answer_task", {"task_id": waiting.task_id, "decision": "reject"}
        )
        assert again.isError and "already answered by claude" in _text(again)
    con = semtrace.connect(waiting.db)
    try:
        rows = con.execute("select answer, answered_by, delivered_at from task_answers").fetchall()
    finally:
        con.close()
    assert rows == [('"yes, approve"', "claude", None)]


async def test_a_failure_is_diagnosed_on_demand_with_its_similar_failures(
    undiagnosed: Path,
) -> None:
    """On a database never diagnosed, get_failure names the fingerprint to diagnose;
    diagnose_failure runs a new diagnosis of both occurrences and stores it; get_failure
    then shows it and lists the similar failures (the other run's) by id and trace."""
    con = semtrace.connect(undiagnosed)
    try:
        failed = con.execute(
            "select span_id, trace_id from spans where tool_name = 'lookup_vendor_id' "
            "and status_code = 'ERROR' order by start_time_ns"
        ).fetchall()
        assert con.execute("select count(*) from diagnoses").fetchone() == (0,)
    finally:
        con.close()
    assert len(failed) == 2 and failed[0][1] != failed[1][1]
    async with (
        stdio_client(_params(undiagnosed)) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()

        async def call(name: str, **arguments: object) -> str:
            result = await session.call_tool(name, arguments)
            assert not result.isError, _text(result)
            return _text(result)

        first = failed[0][0]
        before = await call("get_failure", failure_id=first)
        [fp] = re.findall(r"diagnosis: none yet; diagnose_failure\('([0-9a-f]+)'\)", before)
        assert "occurrences of this fingerprint" not in before
        fresh = await call("diagnose_failure", fingerprint=fp)
        assert fresh.startswith("diagnosis (rules, ") and "category missing_data" in fresh
        assert "seen 2 times in 2 traces" in fresh
        assert "a stored diagnosis" not in fresh  # made now, not read from the cache
        after = await call("get_failure", failure_id=first)
        assert "diagnosis (rules" in after and "remediation 1:" in after
        similar = after.split("occurrences of this fingerprint (newest first):\n", 1)[1]
        header, *rows = similar.splitlines()
        assert header == "time | failure_kind | trace_id | failure_id"
        listed = {(r.split(" | ")[3], r.split(" | ")[2]) for r in rows}
        assert listed == set(failed)
        again = await call("diagnose_failure", fingerprint=fp)
        assert "a stored diagnosis" in again
    con = semtrace.connect(undiagnosed)
    try:
        stored = con.execute(
            "select status, occurrences, trace_count from diagnoses where fingerprint = ?", [fp]
        ).fetchall()
    finally:
        con.close()
    assert stored == [("ok", 2, 2)]


async def test_cancel_task_ends_the_waiting_task(
    waiting: Waiting, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cancel_task (with --tasks) records the cancel; a second cancel and a late answer are
    error results saying why; the agent that re-attaches to the task ends it cancelled."""
    async with (
        stdio_client(_params(waiting.db, "--tasks", "--answer-as", "claude")) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        done = await session.call_tool(
            "cancel_task", {"task_id": waiting.task_id, "reason": "duplicate invoice"}
        )
        assert not done.isError and "cancel recorded" in _text(done)
        twice = await session.call_tool("cancel_task", {"task_id": waiting.task_id})
        assert twice.isError and "cancel refused" in _text(twice)
        late = await session.call_tool(
            "answer_task", {"task_id": waiting.task_id, "decision": "approve"}
        )
        assert late.isError and "answer refused" in _text(late)
    monkeypatch.setenv("SEMTRACE_INBOX_POLL_S", "0.05")
    semtrace.configure(service_name="invoices", db=waiting.db, batch_interval_s=0.05)
    try:
        task = semtrace.resume_task(waiting.task_id)
        with pytest.raises(asyncio.CancelledError):
            task.wait_for_input_sync(timeout=60)
    finally:
        semtrace.shutdown()
        STATE.settings = None
    con = semtrace.connect(waiting.db)
    try:
        [row] = queries.tasks(con).to_pylist()
    finally:
        con.close()
    assert row["status"] == "cancelled"
    assert row["status_message"] == "cancelled by claude while waiting: duplicate invoice"
