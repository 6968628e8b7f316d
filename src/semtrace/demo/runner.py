"""Run the demo: the three scenarios into one DuckDB file, then the offline diagnosis.

``run_demo(db)`` is what ``semtrace demo`` calls. The default size tells the whole story in a
few seconds (four trips, one invoice batch, one batch of support requests); ``traces=N`` runs
N scenario runs in rotation, without pacing, for trying semtrace at scale.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

import semtrace
from semtrace.demo import broker, choreography, supervisor
from semtrace.demo._sim import Pace, rng_for
from semtrace.demo.llm_sim import SimulatedLLM
from semtrace.demo.summary import DemoSummary, build_summary
from semtrace.exceptions import ConfigurationError
from semtrace.store.database import resolve_path

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_SEED",
    "PATTERNS",
    "SERVICES",
    "DemoRun",
    "plan_runs",
    "prepare_db",
    "run_demo",
]

DEFAULT_DB = "semtrace-demo.duckdb"
DEFAULT_SEED = 7
PATTERNS = ("supervisor", "choreography", "broker")
# Each scenario is its own application, so each writes under its own service name.
SERVICES = {
    "supervisor": supervisor.SERVICE,
    "choreography": choreography.SERVICE,
    "broker": broker.SERVICE,
}
DEFAULT_TRIPS = 4
INVOICES_PER_BATCH = 6
REQUESTS_PER_BATCH = 6
FLUSH_EVERY_RUNS = 100  # at scale: let the exporter catch up instead of dropping spans
SCALE_DIAGNOSE_LIMIT = 100  # kinds of failure diagnosed after a --traces run

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DemoRun:
    """One scenario run: which pattern, and its index within that pattern."""

    pattern: str  # "supervisor", "choreography" or "broker"
    index: int


def plan_runs(traces: int | None) -> list[DemoRun]:
    """The default story (``None``), or ``traces`` runs shared out among the three patterns
    (grouped by pattern, so each application is configured once)."""
    if traces is None:
        return [
            *(DemoRun("supervisor", i) for i in range(DEFAULT_TRIPS)),
            DemoRun("choreography", 0),
            DemoRun("broker", 0),
        ]
    if traces < 1:
        raise ConfigurationError(f"--traces must be at least 1; got {traces}")
    runs = [DemoRun(PATTERNS[i % 3], i // 3) for i in range(traces)]
    return sorted(runs, key=lambda run: (PATTERNS.index(run.pattern), run.index))


class _Scenarios:
    """Runs each kind of scenario run with one simulated world."""

    def __init__(self, seed: int, pace: Pace, story: bool) -> None:
        self.seed = seed
        self.pace = pace
        self.story = story  # the default run: guarantee every failure appears once
        self.reviewer = choreography.HumanReviewer(pace)

    def run(self, run: DemoRun, loop: asyncio.Runner) -> None:
        # A fresh simulated provider per run: its state (call counts, a throttle) is per run,
        # so memory stays flat however many runs there are.
        self.llm = SimulatedLLM(self.seed, self.pace)
        if run.pattern == "supervisor":
            trip = self._trips(run.index)
            # The hotel API's behaviour on this trip is the simulated world's, not the agents'.
            hotel_api = supervisor.HotelAPI(self.pace, self.seed, trip.hotel_mode)
            desk = supervisor.TravelDesk(self.llm, self.pace, self.seed, hotel_api=hotel_api)
            desk.book_trip(trip)
        elif run.pattern == "choreography":
            invoices = choreography.make_invoices(
                self.seed, run.index, INVOICES_PER_BATCH if self.story else 5, guarantee=self.story
            )
            loop.run(
                choreography.process_invoices(
                    invoices, self.llm, self.pace, self.reviewer, self.seed
                )
            )
        else:
            requests = broker.make_requests(
                self.seed, run.index, REQUESTS_PER_BATCH if self.story else 4
            )
            # The story: a spike that outlasts the retries of the first contract question
            # (heal falls back to the other model) and fails the second one once (a retry
            # gets through). At scale, spikes hit one batch in twenty.
            spike_rng = rng_for(self.seed, "spike", run.index)
            spike = (
                4 if self.story else (spike_rng.choice([1, 4]) if spike_rng.random() < 0.05 else 0)
            )
            loop.run(broker.handle_requests(requests, self.llm, self.pace, self.seed, spike=spike))

    def _trips(self, index: int) -> supervisor.Trip:
        if self.story:
            return supervisor.make_trips(self.seed, DEFAULT_TRIPS)[index]
        return supervisor.make_trips(self.seed, 1, first=index, guarantee=False)[0]


def prepare_db(db: str | os.PathLike[str]) -> str:
    """The demo's database path, emptied if it holds an earlier demo run.

    A file that holds anything else is left alone: the demo refuses to write into it.
    """
    path = resolve_path(db)
    if not Path(path).exists():
        return path
    services = _services_in(path)
    if services is None:
        raise ConfigurationError(
            f"{path} exists and is not a database the demo wrote; choose another --db"
        )
    others = sorted(str(s) for s in services - {*SERVICES.values(), None})
    if others:
        raise ConfigurationError(
            f"{path} holds traces of other services ({', '.join(others)}); the demo only "
            "replaces its own database. Choose another --db."
        )
    for suffix in ("", ".wal"):
        Path(path + suffix).unlink(missing_ok=True)
    return path


def _services_in(path: str) -> set[str | None] | None:
    """The service names in a semtrace file (empty for an empty file); None if not one."""
    if Path(path).stat().st_size == 0:
        return set()
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error:
        return None
    try:
        rows = con.execute("SELECT DISTINCT service_name FROM spans").fetchall()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return {row[0] for row in rows}


def run_demo(
    db: str | os.PathLike[str] = DEFAULT_DB,
    seed: int = DEFAULT_SEED,
    traces: int | None = None,
    progress: Progress | None = None,
    *,
    pace: Pace | None = None,
    diagnose: bool = True,
) -> DemoSummary:
    """Run the scenarios into ``db`` (replacing an earlier demo database), diagnose the
    failures offline, and return what happened. semtrace is shut down afterwards, so the
    file is free for the dashboard."""
    started = time.perf_counter()
    path = prepare_db(db)
    runs = plan_runs(traces)
    story = traces is None
    if pace is None:
        pace = Pace() if story else Pace(scale=0.0, human_delay_s=0.0)
    try:
        scenarios = _Scenarios(seed, pace, story)
        service = None
        with asyncio.Runner() as loop:
            for done, run in enumerate(runs, start=1):
                if SERVICES[run.pattern] != service:
                    service = SERVICES[run.pattern]
                    semtrace.configure(service_name=service, db=path, capture_logging=False)
                scenarios.run(run, loop)
                if done % FLUSH_EVERY_RUNS == 0:
                    semtrace.force_flush()
                if progress is not None:
                    progress(done, len(runs))
        semtrace.force_flush()
        generated_s = time.perf_counter() - started
        if diagnose:
            _diagnose(path, pace, limit=None if story else SCALE_DIAGNOSE_LIMIT)
        semtrace.force_flush()
        con = semtrace.connect(path)
        try:
            return build_summary(
                con,
                db=path,
                seed=seed,
                runs=len(runs),
                generated_s=generated_s,
                elapsed_s=time.perf_counter() - started,
                time_scale=pace.scale,
            )
        finally:
            con.close()
    finally:
        semtrace.shutdown()


# The story's hold-up in simulated seconds: the slow hotel API answers after 7 to 9 s, while
# the other steps of a trip take 1 to 3 s. The story runs at ``pace.scale`` of that time (2 %),
# so a stall of the process (a busy machine, another agent's coroutine holding the loop)
# weighs fifty times more than on real work: 40 ms stalled in a 3 s flight booking read as a
# 5 s hold-up with the default 100 ms floor. The floor is 6 simulated seconds instead (120 ms
# at 2 %: a normal step needs a stall of 60 ms or more, the hotel's slow answer cannot be
# quicker than 140 ms). Slow steps stay a judgement on wall-clock time: a long enough stall
# still reads as one, so they are the one part of the story a seed does not fix.
SLOW_STEP_S = 6.0


def _diagnose(db: str, pace: Pace, limit: int | None) -> list[object]:
    """The offline rule-based diagnosis of every failure the run produced.

    A step is slow when it holds most of its trace's time (the slow hotel API the supervisor
    chain stalls on) and at least ``SLOW_STEP_S`` of the story's simulated seconds; never time
    spent waiting on a human.
    """
    from semtrace import diagnose
    from semtrace.diagnose.extract import DEFAULT_SLOW_MS

    slow_ms = max(DEFAULT_SLOW_MS, SLOW_STEP_S * 1_000 * pace.scale)
    return list(diagnose.run(db=db, provider="rules", limit=limit, slow_ms=slow_ms))
