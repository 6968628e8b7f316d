"""``semtrace demo``: the built-in scenarios write the story they promise into DuckDB."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import semtrace
from semtrace.demo.runner import plan_runs, prepare_db, run_demo
from semtrace.exceptions import ConfigurationError
from semtrace.tracer.setup import STATE

NULL_SENTENCE = (
    "The procurement agent failed to retrieve the vendor ID because the Last-updated field "
    "was null, so no valid match could be made."
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The default demo, run once through the real command line: (database, stdout)."""
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "semtrace.cli", "demo", "--no-dashboard", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return db, proc.stdout


@pytest.fixture
def demo_con(demo_run: tuple[Path, str]) -> Iterator[duckdb.DuckDBPyConnection]:
    con = semtrace.connect(demo_run[0])
    try:
        yield con
    finally:
        con.close()


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    return list(con.sql(sql).to_arrow_table().to_pylist())


def _reset_semtrace() -> None:
    STATE.settings = None


def test_null_last_updated_failure_is_one_sentence_with_its_facts(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    """Procurement's failure on the vendor with a null Last-updated field is stored as the
    semantic sentence, with action, cause and impact as columns, and shows in failures."""
    logs = _rows(
        demo_con,
        "SELECT message, severity, agent_name, action, cause, impact, trace_id FROM logs "
        "WHERE action = 'retrieve the vendor ID'",
    )
    assert len(logs) == 1
    log = logs[0]
    assert log["message"] == NULL_SENTENCE
    assert log["severity"] == "ERROR"
    assert log["agent_name"] == "procurement"
    assert log["cause"] == "the Last-updated field was null"
    assert log["impact"] == "no valid match could be made"
    assert log["trace_id"] is not None
    failures = _rows(demo_con, "SELECT message FROM failures")
    assert NULL_SENTENCE in [f["message"] for f in failures]


TRIP_SENTENCE = (
    "The travel_supervisor agent failed to confirm trip TRIP-0001 because the hotel API timed "
    "out after 10 s, so the car was not booked and the traveller has no confirmed trip."
)


def test_story_and_view_count_each_failure_once(
    demo_run: tuple[Path, str], demo_con: duckdb.DuckDBPyConnection
) -> None:
    """Six failures: the hotel API timeout, the null vendor field and four rate limits. The
    error sentences that the travel supervisor and the invoice handler wrote after catching
    the first two are those failures' impact, not failures of their own: the story and the
    failures view both say six, of three kinds."""
    rows = _rows(demo_con, "SELECT source, trace_id, span_id, fingerprint FROM failures")
    assert len(rows) == 6
    assert {r["source"] for r in rows} == {"span"}
    assert len({(r["trace_id"], r["span_id"]) for r in rows}) == 6
    kinds = len({r["fingerprint"] for r in rows})
    assert kinds == 3
    flat = " ".join(demo_run[1].replace("│", " ").split())
    assert f"6 failures of {kinds} kinds" in flat


@pytest.mark.parametrize(
    ("step", "sentence"),
    [
        ("execute_tool search_hotels", TRIP_SENTENCE),
        ("execute_tool lookup_vendor_id", NULL_SENTENCE),
    ],
)
def test_a_caught_failure_says_the_sentence_of_who_caught_it(
    demo_run: tuple[Path, str], demo_con: duckdb.DuckDBPyConnection, step: str, sentence: str
) -> None:
    """The tool that failed is the failure, once; its message is the semantic sentence the
    agent above it wrote on catching it (a span that did not error), and the story prints
    that sentence once."""
    rows = _rows(
        demo_con,
        "SELECT f.message, s.status_code AS caught_by_status FROM failures f "
        "JOIN logs l ON l.message = f.message JOIN spans s "
        "ON s.trace_id = l.trace_id AND s.span_id = l.span_id AND s.caught_failure = f.span_id "
        f"WHERE f.name = '{step}'",
    )
    assert rows == [{"message": sentence, "caught_by_status": "UNSET"}]
    flat = " ".join(demo_run[1].replace("│", " ").split())
    assert flat.count(sentence) == 1


def test_rate_limited_calls_are_recorded_as_429_errors(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    """The broker's contracts specialist gets four HTTP 429s from its large model, each an
    ERROR LLM span saying so, and the fallback model answers twice (the second time chosen
    first, from what heal learned)."""
    errors = _rows(
        demo_con,
        "SELECT model, agent_name, error_type, status_message FROM spans "
        "WHERE operation = 'chat' AND status_code = 'ERROR'",
    )
    assert len(errors) == 4
    for row in errors:
        assert row["model"] == "claude-sonnet-4"
        assert row["agent_name"] == "contracts_agent"
        assert row["error_type"].endswith("RateLimitError")
        assert "429" in row["status_message"]
    fallback = _rows(
        demo_con,
        "SELECT count(*) AS n FROM llm_calls WHERE agent_name = 'contracts_agent' "
        "AND model = 'claude-haiku-4-5' AND status_code <> 'ERROR'",
    )
    assert fallback[0]["n"] == 2


def test_heal_attempts_show_retries_then_fallback(demo_con: duckdb.DuckDBPyConnection) -> None:
    """heal retried with backoff twice in vain, then the fallback model recovered; the second
    episode, having learned, used the fallback model first."""
    rows = _rows(
        demo_con,
        "SELECT step, attempt, action, outcome, parameters FROM heal_attempts "
        "ORDER BY time, attempt",
    )
    assert [(r["step"], r["attempt"], r["action"], r["outcome"]) for r in rows] == [
        ("review_contract", 2, "retry_with_backoff", "failed"),
        ("review_contract", 3, "retry_with_backoff", "failed"),
        ("review_contract", 4, "fallback_model", "recovered"),
        ("review_contract", 2, "fallback_model", "recovered"),
    ]
    fallback = json.loads(rows[2]["parameters"])
    assert fallback["fallback"] == {"model": "claude-haiku-4-5"}
    assert json.loads(rows[0]["parameters"])["chosen_by"] == "diagnosis"
    learned = json.loads(rows[3]["parameters"])
    assert learned["chosen_by"] == "history"
    assert "retry_with_backoff recovered 0 of 2 earlier tries" in learned["reason"]


def test_offline_rules_diagnose_each_kind_of_failure(demo_con: duckdb.DuckDBPyConnection) -> None:
    """The rule-based diagnoser explains the rate limit, the null field and the hotel timeout,
    with the remediation it proposes for each, and the failures view joins them."""
    rows = _rows(
        demo_con,
        "SELECT category, provider, occurrences, remediations FROM diagnoses",
    )
    assert {r["provider"] for r in rows} == {"rules"}
    by_category: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_category.setdefault(r["category"], []).append(r)
    assert {"rate_limit", "missing_data", "timeout"} <= set(by_category)
    rate = by_category["rate_limit"][0]
    assert rate["occurrences"] == 4
    actions = [rem["action"] for rem in json.loads(rate["remediations"])]
    assert actions[:2] == ["retry_with_backoff", "fallback_model"]
    joined = _rows(
        demo_con,
        "SELECT category FROM failures WHERE message = '" + NULL_SENTENCE.replace("'", "''") + "'",
    )
    assert [r["category"] for r in joined] == ["missing_data"]


def test_messages_view_joins_every_hop(demo_con: duckdb.DuckDBPyConnection) -> None:
    """Every published message was consumed by the expected agents, in both bus scenarios."""
    rows = _rows(
        demo_con,
        "SELECT topic, producer_agent, consumer_agents, outcome, count(*) AS n "
        "FROM messages GROUP BY ALL ORDER BY topic",
    )
    seen = {
        (r["topic"], r["producer_agent"], tuple(r["consumer_agents"] or ()), r["outcome"]): r["n"]
        for r in rows
    }
    assert seen[("invoice.received", "intake", ("extraction",), "ok")] == 6
    extracted = {k: v for k, v in seen.items() if k[0] == "invoice.extracted"}
    assert sum(extracted.values()) == 6
    assert all(sorted(k[2]) == ["compliance", "procurement"] for k in extracted)
    assert seen[("invoice.on_hold", "procurement", ("intake",), "ok")] == 1
    assert seen[("invoice.matched", "procurement", ("payments",), "ok")] == 5
    assert seen[("request.received", "support_inbox", ("broker",), "ok")] == 6
    assert seen[("request.contracts", "broker", ("contracts_agent",), "ok")] == 2
    assert all(r["outcome"] == "ok" for r in rows)


def test_compliance_task_waits_on_a_human_then_completes(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    """The ambiguous invoice becomes one long-running task that goes to input_required,
    gets a human answer after a measurable wait, and completes."""
    rows = _rows(
        demo_con,
        "SELECT name, agent_name, status, history, human_wait_ms, answers FROM tasks",
    )
    assert len(rows) == 1
    task = rows[0]
    assert (task["name"], task["agent_name"], task["status"]) == (
        "compliance review",
        "compliance",
        "completed",
    )
    assert [h["status"] for h in task["history"]] == [
        "working",
        "input_required",
        "working",
        "completed",
    ]
    assert "confirm the vendor" in task["history"][1]["message"]
    assert task["human_wait_ms"] > 0
    assert task["answers"] == 1


def test_supervisor_runs_include_a_slow_hotel_and_a_timeout(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    """Of four trips, one stalls on the slow hotel API (a warning) and one times out, which
    leaves the trip unconfirmed with a sentence saying why."""
    trips = _rows(
        demo_con,
        "SELECT session_id, status, services FROM traces "
        "WHERE root_agent = 'travel_supervisor' ORDER BY session_id",
    )
    assert {tuple(t["services"]) for t in trips} == {("travel-booking",)}
    assert [t["session_id"] for t in trips] == ["TRIP-0001", "TRIP-0002", "TRIP-0003", "TRIP-0004"]
    assert sorted(t["status"] for t in trips) == ["ERROR", "OK", "OK", "OK"]
    slow = _rows(demo_con, "SELECT count(*) AS n FROM logs WHERE message LIKE '%hotel API slow%'")
    assert slow[0]["n"] >= 1
    unconfirmed = _rows(
        demo_con,
        "SELECT message FROM logs WHERE agent_name = 'travel_supervisor' AND severity = 'ERROR'",
    )
    assert len(unconfirmed) == 1
    assert "because the hotel API timed out after 10 s" in unconfirmed[0]["message"]
    assert "the car was not booked" in unconfirmed[0]["message"]


def test_llm_calls_carry_tokens_and_cost(demo_con: duckdb.DuckDBPyConnection) -> None:
    """Every successful simulated LLM call has token counts and a cost from the price table."""
    rows = _rows(
        demo_con,
        "SELECT count(*) AS n, count(input_tokens) AS with_in, count(output_tokens) AS with_out, "
        "count(cost_usd) AS with_cost, min(input_tokens) AS min_in FROM llm_calls "
        "WHERE status_code <> 'ERROR'",
    )[0]
    assert rows["n"] > 20
    assert rows["with_in"] == rows["with_out"] == rows["with_cost"] == rows["n"]
    assert rows["min_in"] > 300


def test_summary_tells_the_story(demo_run: tuple[Path, str]) -> None:
    """The printed summary names the failures in their sentences, the diagnoses, the human
    wait, the heal attempts, the SQL to run next and how to open the dashboard."""
    db, out = demo_run
    flat = " ".join(out.split())
    assert NULL_SENTENCE in flat
    assert "[rate_limit] 4x" in flat
    assert "what to do: retry_with_backoff (85%), fallback_model (60%)" in flat
    assert "task compliance review (compliance): working -> input_required -> working" in flat
    assert "heal: fallback_model -> recovered (2x)" in flat
    assert f'semtrace sql --db {db} "select agent_name, message, category, diagnosis' in flat
    assert f"semtrace dashboard --db {db}" in flat


def test_same_seed_same_story_and_rerun_replaces_the_file(
    demo_run: tuple[Path, str], demo_con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """Running the demo again with the same seed writes the same spans, tokens, sentences and
    diagnoses of failures (ids and timings aside); running it twice into one file replaces the
    earlier run. Slow steps are judged on wall-clock time, which a seed does not fix: both runs
    find the slow hotel API, and a stall of the machine may add another."""
    db = tmp_path / "again.duckdb"
    try:
        run_demo(db, seed=7)
        summary = run_demo(db, seed=7)
    finally:
        _reset_semtrace()
    assert summary.spans == _rows(demo_con, "SELECT count(*) AS n FROM spans")[0]["n"]
    con = semtrace.connect(db)
    try:
        for sql in (
            "SELECT name, agent_name, status_code, model, input_tokens, output_tokens "
            "FROM spans ORDER BY ALL",
            "SELECT severity, agent_name, template, action, cause, impact FROM logs ORDER BY ALL",
            "SELECT category, occurrences FROM diagnoses "
            "WHERE context->>'$.failure.kind' <> 'slow' ORDER BY ALL",
            "SELECT DISTINCT context->>'$.failure.target' AS target FROM diagnoses "
            "WHERE context->>'$.failure.kind' = 'slow' AND summary LIKE '%search_hotels%'",
        ):
            assert _rows(con, sql) == _rows(demo_con, sql)
        assert _rows(con, sql) == [{"target": "search_hotels"}]
    finally:
        con.close()


def test_another_seed_tells_another_story(
    demo_con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """A different seed draws different trips and token counts."""
    db = tmp_path / "seed8.duckdb"
    try:
        run_demo(db, seed=8, diagnose=False)
    finally:
        _reset_semtrace()
    sql = "SELECT session_id, input_tokens FROM traces WHERE session_id IS NOT NULL ORDER BY ALL"
    con = semtrace.connect(db)
    try:
        assert _rows(con, sql) != _rows(demo_con, sql)
    finally:
        con.close()


def test_traces_option_runs_that_many_runs_with_progress(tmp_path: Path) -> None:
    """``traces=N`` runs N scenario runs in rotation and reports progress after each."""
    db = tmp_path / "scale.duckdb"
    seen: list[tuple[int, int]] = []
    try:
        summary = run_demo(db, seed=3, traces=12, progress=lambda d, t: seen.append((d, t)))
    finally:
        _reset_semtrace()
    assert seen == [(i, 12) for i in range(1, 13)]
    assert summary.runs == 12
    assert {p.pattern for p in summary.patterns} == {"supervisor", "choreography", "broker"}
    con = semtrace.connect(db)
    try:
        trips = _rows(
            con, "SELECT count(*) AS n FROM traces WHERE root_agent = 'travel_supervisor'"
        )
        assert trips[0]["n"] == 4
        assert _rows(con, "SELECT count(*) AS n FROM spans")[0]["n"] == summary.spans
    finally:
        con.close()
    assert [(r.pattern, r.index) for r in plan_runs(4)] == [
        ("supervisor", 0),
        ("supervisor", 1),
        ("choreography", 0),
        ("broker", 0),
    ]


def test_demo_refuses_to_overwrite_a_database_of_other_services(tmp_path: Path) -> None:
    """A file holding another service's traces is never replaced by the demo."""
    db = tmp_path / "mine.duckdb"
    semtrace.configure(service_name="billing", db=db)
    try:
        with semtrace.agent("billing_agent"):
            pass
    finally:
        semtrace.shutdown()
        _reset_semtrace()
    with pytest.raises(ConfigurationError, match="other services \\(billing\\)"):
        prepare_db(db)
    assert db.exists()
    result = subprocess.run(
        [sys.executable, "-m", "semtrace.cli", "demo", "--no-dashboard", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "other services" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_without_no_dashboard_the_demo_ends_serving_the_dashboard(tmp_path: Path) -> None:
    """``semtrace demo`` (as ``make demo`` runs it) ends with the dashboard answering HTTP on
    the requested port, reading the demo database."""
    import httpx

    db = tmp_path / "served.duckdb"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "semtrace.cli", "demo", "--db", str(db), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the dashboard runs as a child: stop the whole group
    )
    try:
        deadline = time.monotonic() + 120
        healthy = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/_stcore/health").text == "ok"
            except httpx.HTTPError:
                healthy = False
            if healthy:
                break
            time.sleep(0.5)
        assert healthy, "the dashboard never answered"
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    assert f"Serving the dashboard for {db}" in " ".join(out.split())
    assert db.exists()


def test_readme_example_queries_answer_on_the_demo_database(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    """Every example query in the README runs on the demo database and returns rows."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    queries = [q.strip().rstrip(";") for q in re.findall(r"```sql\n(.*?)```", readme, re.S)]
    assert queries, "the README has no example queries"
    for sql in queries:
        assert demo_con.sql(sql).to_arrow_table().num_rows > 0, sql
