"""What the demo tells the user when it is done, read back from the database it wrote.

Everything here is a query over the SQL contract (tables and views), so what the summary says
is exactly what ``semtrace sql`` and the dashboard will show: failures, their kinds and the
slow-step findings are counted by the store's named queries (:mod:`semtrace.store.queries`)
that the dashboard's pages use too. The queries it prints at the end are the ones to start
from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from semtrace import semconv as sc
from semtrace._words import plural
from semtrace.store import queries as store

__all__ = ["PATTERN_AGENTS", "DemoSummary", "build_summary", "pattern_sql"]

# Which agents make up each orchestration pattern, as the scenarios name them.
PATTERN_AGENTS: dict[str, tuple[str, ...]] = {
    "supervisor": ("travel_supervisor", "flight_agent", "hotel_agent", "car_agent"),
    "choreography": ("intake", "extraction", "procurement", "compliance", "payments"),
    "broker": ("support_inbox", "broker", "refunds_agent", "itinerary_agent", "contracts_agent"),
}
PATTERN_TITLES = {
    "supervisor": "synchronous supervisor (travel booking)",
    "choreography": "asynchronous choreography (invoices over an event bus)",
    "broker": "broker routing by content (customer support)",
}


def pattern_sql(agents_column: str = "agents") -> str:
    """A SQL ``CASE`` naming the pattern of a trace from its list of agents."""
    cases = " ".join(
        f"WHEN list_has_any({agents_column}, {list(agents)!r}) THEN '{name}'"
        for name, agents in PATTERN_AGENTS.items()
    )
    return f"CASE {cases} ELSE 'other' END"


@dataclass(frozen=True)
class PatternStats:
    """One orchestration pattern's traces, and where their time went."""

    pattern: str
    traces: int
    spans: int
    failures: int
    p50_ms: float
    max_ms: float
    tokens: int
    cost_usd: float
    top_steps: list[tuple[str, str, float, float]]  # (agent, span name, total ms, share)


@dataclass(frozen=True)
class FailureGroup:
    """Failures that are the same problem: how often, the sentence, and the diagnosis."""

    agent: str | None
    sentence: str
    occurrences: int
    category: str | None
    diagnosis: str | None
    actions: list[str]


@dataclass(frozen=True)
class DiagnosisLine:
    """A stored diagnosis, as a user would read it."""

    category: str | None
    summary: str | None
    occurrences: int
    actions: list[str]


@dataclass
class DemoSummary:
    """What a demo run wrote, read back from its database."""

    db: str
    seed: int
    runs: int
    generated_s: float
    elapsed_s: float
    failure_count: int = 0  # failures, each counted where it started (store.queries)
    failure_kinds: int = 0  # kinds of failure among them (fingerprints)
    diagnosed: int = 0  # failures with a diagnosis
    findings: int = 0  # slow steps, loops, stuck tasks (not failures)
    diagnosis_count: int = 0  # stored diagnoses: one per kind of failure or finding
    time_scale: float = 0.0  # real seconds per simulated second (0: nothing waited)
    traces: int = 0
    spans: int = 0
    logs: int = 0
    patterns: list[PatternStats] = field(default_factory=list)
    failures: list[FailureGroup] = field(default_factory=list)
    diagnoses: list[DiagnosisLine] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    messages: int = 0
    heal_attempts: list[tuple[str, str, int]] = field(default_factory=list)  # action, outcome, n
    queries: list[tuple[str, str]] = field(default_factory=list)

    def render(self, console: Console) -> None:
        """Print the summary: the story of the run, then where to look further."""
        console.print(self._overview())
        if self.patterns:
            console.print(self._patterns_table())
            console.print(self._time_panel())
        if self.failures:
            console.print(self._failures_panel())
        if self.diagnoses:
            console.print(self._diagnoses_panel())
        extra = self._tasks_and_heal()
        if extra is not None:
            console.print(extra)
        console.print(self._queries_panel())

    # -- pieces ------------------------------------------------------------------------------
    def _overview(self) -> Panel:
        text = Text()
        text.append(f"{self.runs} scenario runs", style="bold")
        text.append(
            f" wrote {self.traces:,} traces, {self.spans:,} spans and {self.logs:,} log sentences"
            f" to {self.db} in {self.generated_s:.1f} s"
        )
        found = f" and {plural(self.findings, 'slow step')}" if self.findings else ""
        text.append(
            f" (seed {self.seed}): {plural(self.failure_count, 'failure')} of "
            f"{plural(self.failure_kinds, 'kind')}{found}; {self.diagnosed} of the failures "
            f"diagnosed offline, {self.elapsed_s:.1f} s in all."
        )
        if self.time_scale > 0:
            text.append(
                f"\nThe clock is simulated: one second of agent time took "
                f"{self.time_scale * 1000:.0f} ms here, so durations are scaled down "
                f"{1 / self.time_scale:.0f}x (their proportions are real)."
            )
        if self.messages:
            text.append(f"\n{self.messages:,} messages passed between agents over event buses.")
        text.append("\nPatterns: ")
        text.append("; ".join(f"{name}: {PATTERN_TITLES[name]}" for name in PATTERN_TITLES))
        return Panel(text, title="semtrace demo", border_style="cyan")

    def _patterns_table(self) -> Table:
        t = Table(
            title="Runs by orchestration pattern",
            header_style="bold cyan",
            title_justify="left",
        )
        t.add_column("pattern")
        for col in ("traces", "spans", "failures", "p50 ms", "max ms", "tokens", "cost"):
            t.add_column(col, justify="right")
        for p in self.patterns:
            t.add_row(
                p.pattern,
                f"{p.traces:,}",
                f"{p.spans:,}",
                Text(str(p.failures), style="red" if p.failures else ""),
                f"{p.p50_ms:,.0f}",
                f"{p.max_ms:,.0f}",
                f"{p.tokens:,}",
                f"${p.cost_usd:.4f}",
            )
        return t

    def _time_panel(self) -> Panel:
        lines: list[Text] = []
        for p in self.patterns:
            line = Text(f"{p.pattern}: ", style="bold")
            line.append(
                ", ".join(
                    f"{share:.0%} {name} ({agent})" for agent, name, _ms, share in p.top_steps
                )
            )
            lines.append(line)
        return Panel(
            Group(*lines),
            title="Where the time went (share of LLM and tool time)",
            title_align="left",
            border_style="cyan",
        )

    def _failures_panel(self) -> Panel:
        lines: list[Text] = []
        for f in self.failures:
            line = Text("- ")
            if f.occurrences > 1:
                line.append(f"{f.occurrences}x ", style="bold")
            line.append(f.sentence, style="red")
            if f.category or f.actions:
                line.append(f"\n  diagnosis: {f.category or 'pending'}", style="yellow")
                if f.actions:
                    line.append(f"; do: {', '.join(f.actions)}", style="yellow")
            lines.append(line)
        return Panel(
            Group(*lines),
            title="What failed, in one sentence each",
            title_align="left",
            border_style="red",
        )

    def _diagnoses_panel(self) -> Panel:
        lines: list[Text] = []
        for d in self.diagnoses:
            line = Text(f"[{d.category}] ", style="bold yellow")
            if d.occurrences > 1:
                line.append(f"{d.occurrences}x ", style="bold")
            line.append(d.summary or "")
            if d.actions:
                line.append(f"\n  what to do: {', '.join(d.actions)}", style="green")
            lines.append(line)
        # One entry per fingerprint (agent, step, error): the same category can recur at
        # different places (a tool timing out and the supervisor waiting on it are two).
        shown = len(self.diagnoses)
        more = (
            f"; {shown} of {self.diagnosis_count} shown, `semtrace diagnose --db {self.db}` "
            "lists all"
            if self.diagnosis_count > shown
            else ""
        )
        return Panel(
            Group(*lines),
            title="Diagnoses (offline rules) and what to do",
            title_align="left",
            subtitle=f"one per kind of failure or slow step (fingerprint){more}",
            subtitle_align="left",
            border_style="yellow",
        )

    def _tasks_and_heal(self) -> Panel | None:
        lines: list[Text] = []
        for task in self.tasks:
            lines.append(Text(_task_line(task)))
        for action, outcome, n in self.heal_attempts:
            lines.append(Text(f"heal: {action} -> {outcome} ({n}x)"))
        if not lines:
            return None
        return Panel(
            Group(*lines),
            title="Long-running tasks and self-healing",
            title_align="left",
            border_style="cyan",
        )

    def _queries_panel(self) -> Panel:
        parts: list[Text] = []
        for title, sql in self.queries:
            parts.append(Text(f"# {title}", style="dim"))
            parts.append(Text(f'semtrace sql --db {self.db} "{sql}"', style="green"))
        return Panel(
            Group(*parts), title="Look further with SQL", title_align="left", border_style="cyan"
        )


def _task_line(task: dict[str, Any]) -> str:
    """``task compliance review (compliance): working -> input_required -> ...; waited ...``."""
    history = task.get("history") or []
    states = " -> ".join(str(h.get("status")) for h in history if isinstance(h, dict))
    text = f"task {task.get('name')} ({task.get('agent_name')}): {states or task.get('status')}"
    wait = task.get("human_wait_ms")
    if isinstance(wait, int | float) and wait > 0:
        text += f"; waited {wait:,.0f} ms on a human"
    return text


# -- reading the database ---------------------------------------------------------------------


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    rel = con.sql(sql, params=params) if params else con.sql(sql)
    if rel is None:
        return []
    return list(rel.to_arrow_table().to_pylist())


def _has(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    try:
        con.sql(f"SELECT * FROM {relation} LIMIT 0")
    except duckdb.Error:
        return False
    return True


def _actions(remediations: Any) -> list[str]:
    if remediations is None:
        return []
    items = json.loads(remediations) if isinstance(remediations, str) else remediations
    out: list[str] = []
    for item in items or []:
        if isinstance(item, dict) and item.get("action"):
            conf = item.get("confidence")
            out.append(
                f"{item['action']}" + (f" ({conf:.0%})" if isinstance(conf, int | float) else "")
            )
    return out


def _pattern_stats(con: duckdb.DuckDBPyConnection) -> list[PatternStats]:
    case = pattern_sql("t.agents")
    of_trace = {
        row["trace_id"]: row["pattern"]
        for row in _rows(con, f"SELECT trace_id, {case} AS pattern FROM traces t")
    }
    failures: dict[str, int] = {}
    for trace_id in store.failures(con).column("trace_id").to_pylist():
        pattern = of_trace.get(trace_id, "other")
        failures[pattern] = failures.get(pattern, 0) + 1
    totals = _rows(
        con,
        f"""SELECT {case} AS pattern, count(*) AS traces, sum(span_count) AS spans,
                   median(duration_ms) AS p50_ms,
                   max(duration_ms) AS max_ms,
                   coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0) AS tokens,
                   coalesce(sum(cost_usd), 0) AS cost_usd
            FROM traces t GROUP BY 1 ORDER BY 1""",
    )
    steps = _rows(
        con,
        f"""WITH t AS (SELECT trace_id, {case} AS pattern FROM traces t),
            leaf AS (
                SELECT t.pattern, s.agent_name, s.name, sum(s.duration_ms) AS ms
                FROM spans s JOIN t USING (trace_id)
                WHERE s.operation = 'execute_tool' OR s.operation IN {sc.LLM_OPERATIONS_SQL}
                GROUP BY ALL)
            SELECT *, ms / sum(ms) OVER (PARTITION BY pattern) AS share FROM leaf
            QUALIFY row_number() OVER (PARTITION BY pattern ORDER BY ms DESC) <= 3
            ORDER BY pattern, ms DESC""",
    )
    by_pattern: dict[str, list[tuple[str, str, float, float]]] = {}
    for row in steps:
        by_pattern.setdefault(row["pattern"], []).append(
            (row["agent_name"] or "", row["name"], float(row["ms"]), float(row["share"] or 0))
        )
    return [
        PatternStats(
            pattern=row["pattern"],
            traces=int(row["traces"]),
            spans=int(row["spans"] or 0),
            failures=failures.get(row["pattern"], 0),
            p50_ms=float(row["p50_ms"] or 0),
            max_ms=float(row["max_ms"] or 0),
            tokens=int(row["tokens"] or 0),
            cost_usd=float(row["cost_usd"] or 0),
            top_steps=by_pattern.get(row["pattern"], []),
        )
        for row in totals
    ]


def _failure_groups(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[FailureGroup]:
    kinds = sorted(store.failure_kinds(con), key=lambda k: k["first_seen"])[:limit]
    return [
        FailureGroup(
            agent=k["agent_name"],
            sentence=k["example_sentence"] or "",
            occurrences=int(k["occurrences"]),
            category=k["category"],
            diagnosis=k["diagnosis"],
            actions=_actions(k["remediations"]),
        )
        for k in kinds
    ]


def _diagnosis_lines(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[DiagnosisLine]:
    rows = _rows(
        con,
        """SELECT category, coalesce(summary, root_cause) AS summary,
                  coalesce(occurrences, 1) AS occurrences, remediations
           FROM diagnoses QUALIFY row_number() OVER (
               PARTITION BY fingerprint ORDER BY created_at DESC) = 1
           ORDER BY occurrences DESC, category LIMIT ?""",
        [limit],
    )
    return [
        DiagnosisLine(
            row["category"], row["summary"], int(row["occurrences"]), _actions(row["remediations"])
        )
        for row in rows
    ]


QUERIES: list[tuple[str, str]] = [
    (
        "the traces, slowest first",
        "select trace_id, root_name, duration_ms, span_count, error_count from traces "
        "order by duration_ms desc limit 10",
    ),
    (
        "every failure with its sentence and diagnosis",
        "select agent_name, message, category, diagnosis from failures",
    ),
    (
        "kinds of failure, counted",
        "select template, count(*) from logs where severity = 'ERROR' group by 1 order by 2 desc",
    ),
    (
        "latency, errors, tokens and cost per agent",
        "select agent_name, calls, p95_ms, error_rate, input_tokens + output_tokens as tokens, "
        "cost_usd from agents order by p95_ms desc",
    ),
    ("messages between agents", "select * from messages limit 20"),
    ("long-running tasks and human wait", "select * from tasks"),
    (
        "what the runtime tried to heal",
        "select action, outcome, count(*) from heal_attempts group by all",
    ),
]


def build_summary(
    con: duckdb.DuckDBPyConnection,
    *,
    db: str,
    seed: int,
    runs: int,
    generated_s: float,
    elapsed_s: float,
    time_scale: float = 0.0,
) -> DemoSummary:
    """Read the summary of a demo run from its database."""
    summary = DemoSummary(
        db=db,
        seed=seed,
        runs=runs,
        generated_s=generated_s,
        elapsed_s=elapsed_s,
        time_scale=time_scale,
    )
    counts = _rows(
        con,
        """SELECT (SELECT count(DISTINCT trace_id) FROM spans) AS traces,
                  (SELECT count(*) FROM spans) AS spans, (SELECT count(*) FROM logs) AS logs""",
    )[0]
    summary.traces, summary.spans, summary.logs = (
        int(counts["traces"]),
        int(counts["spans"]),
        int(counts["logs"]),
    )
    summary.patterns = _pattern_stats(con)
    summary.failures = _failure_groups(con)
    summary.diagnoses = _diagnosis_lines(con)
    # The counts the dashboard shows, from the same named queries.
    kinds = store.failure_kinds(con)
    summary.failure_count = store.failure_count(con)
    summary.failure_kinds = len(kinds)
    summary.diagnosed = sum(k["diagnosed"] for k in kinds)
    summary.findings = store.findings(con).num_rows
    summary.diagnosis_count = int(
        _rows(con, "SELECT count(DISTINCT fingerprint) AS n FROM diagnoses")[0]["n"]
    )
    if _has(con, "tasks"):
        summary.tasks = _rows(con, "SELECT * FROM tasks LIMIT 10")
    if _has(con, "messages"):
        summary.messages = int(_rows(con, "SELECT count(*) AS n FROM messages")[0]["n"])
    summary.heal_attempts = [
        (row["action"] or "", row["outcome"] or "", int(row["n"]))
        for row in _rows(
            con,
            "SELECT action, outcome, count(*) AS n FROM heal_attempts GROUP BY ALL "
            "ORDER BY min(time)",
        )
    ]
    summary.queries = [
        (title, sql)
        for title, sql in QUERIES
        if not sql.startswith("select * from ") or _has(con, sql.split()[3])
    ]
    return summary
