"""What healing tried before for one failure, and how it went: what ``heal`` ranks by.

Other runs' attempts are the ``heal_attempts`` table, read through :func:`semtrace.connect`
(the file itself in embedded mode, the process that owns the file otherwise), so history
spans runs and processes; that read is cached per fingerprint for ``ttl_s``. This run's own
attempts are counted in memory as they are recorded (and left out of the read, whether or
not they reached the file yet): learning is immediate here, exact whatever the write queue
holds, and reaches other processes when their cache expires.

Ranking: each allowed action scores its recovery rate, smoothed toward the diagnosis'
confidence in it (``(recoveries + w * confidence) / (tries + w)``), so an action that never
worked sinks below one not tried yet, and with no history at all the diagnosis' order stands.
Ties go to the faster recovery, then to the diagnosis' order.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from semtrace._connect import connect
from semtrace.diagnose.models import Action, Remediation
from semtrace.exceptions import SemtraceError
from semtrace.store.queries import arrow

__all__ = ["HISTORY", "Choice", "History", "Tally", "rank"]

_log = logging.getLogger("semtrace.heal")
PRIOR_WEIGHT = 1.0  # how many tries the diagnosis' confidence counts for
_SQL = """
    SELECT action,
           count(*) FILTER (WHERE outcome IN ('recovered', 'failed')) AS tries,
           count(*) FILTER (WHERE outcome = 'recovered') AS recoveries,
           coalesce(sum(duration_ms) FILTER (WHERE outcome = 'recovered'), 0) AS recovery_ms
    FROM heal_attempts
    WHERE fingerprint = ?
      AND coalesce(json_extract_string(parameters, '$.run_id'), '') <> ?
    GROUP BY action
"""


@dataclass
class Tally:
    """How one action went for one failure: tries, recoveries, time to recover."""

    tries: int = 0
    recoveries: int = 0
    recovery_ms: float = 0.0  # summed over the recoveries

    @property
    def mean_recovery_ms(self) -> float | None:
        return self.recovery_ms / self.recoveries if self.recoveries else None


@dataclass
class _Entry:
    loaded_at: float
    tallies: dict[str, Tally] = field(default_factory=dict)


class History:
    """Per (database, fingerprint): the tallies of each action, other runs' read at most
    every ``ttl_s``, this run's counted as they happen."""

    def __init__(
        self,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 1024,
    ) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.max_entries = max_entries
        self._read: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._own: OrderedDict[tuple[str, str], dict[str, Tally]] = OrderedDict()
        self._lock = threading.Lock()
        self._session: object | None = None
        self.run_id = uuid.uuid4().hex[:12]

    def session(self, settings: object) -> str:
        """This run's id (the recoveries view groups by it). A run is one ``configure()``:
        a new one starts a new run, whose history is read again from the store (the earlier
        run's attempts were written there by its shutdown, or the file was replaced)."""
        with self._lock:
            if settings is not self._session:
                self._session = settings
                self.run_id = uuid.uuid4().hex[:12]
                self._own.clear()
                self._read.clear()
            return self.run_id

    def clear(self) -> None:
        """Forget what was read (tests; or to see another process' attempts at once)."""
        with self._lock:
            self._read.clear()

    def tallies(self, db: str, fingerprint: str) -> dict[str, Tally]:
        """The tallies of each action tried on ``fingerprint`` in ``db``, across runs."""
        key = (db, fingerprint)
        now = self.clock()
        with self._lock:
            entry = self._read.get(key)
        if entry is None or now - entry.loaded_at >= self.ttl_s:
            entry = _Entry(now, _read(db, fingerprint, self.run_id))
            with self._lock:
                self._read[key] = entry
                _bound(self._read, key, self.max_entries)
        with self._lock:
            own = self._own.get(key, {})
            out = {a: Tally(t.tries, t.recoveries, t.recovery_ms) for a, t in entry.tallies.items()}
            for action, t in own.items():
                total = out.setdefault(action, Tally())
                total.tries += t.tries
                total.recoveries += t.recoveries
                total.recovery_ms += t.recovery_ms
        return out

    def note(self, db: str, fingerprint: str, action: str, outcome: str, ms: float) -> None:
        """Count an attempt this run just recorded."""
        if outcome not in ("recovered", "failed"):
            return
        key = (db, fingerprint)
        with self._lock:
            tally = self._own.setdefault(key, {}).setdefault(action, Tally())
            _bound(self._own, key, self.max_entries)
            tally.tries += 1
            if outcome == "recovered":
                tally.recoveries += 1
                tally.recovery_ms += ms


def _bound(entries: OrderedDict[tuple[str, str], Any], key: tuple[str, str], most: int) -> None:
    entries.move_to_end(key)
    while len(entries) > most:
        entries.popitem(last=False)


def _read(db: str, fingerprint: str, run_id: str) -> dict[str, Tally]:
    """The tallies from the store; none when it cannot be read (healing goes on without)."""
    try:
        con = connect(db)
        try:
            rows = arrow(con, _SQL, [fingerprint, run_id]).to_pylist()
        finally:
            con.close()
    except (duckdb.Error, SemtraceError, OSError) as exc:
        _log.debug("heal: no history for %s (%s)", fingerprint, exc)
        return {}
    return {
        str(r["action"]): Tally(int(r["tries"]), int(r["recoveries"]), float(r["recovery_ms"]))
        for r in rows
    }


HISTORY = History()


@dataclass(frozen=True)
class Choice:
    """An action to try, the remediation it came from, and why it comes where it does."""

    action: Action
    remediation: Remediation
    chosen_by: str  # "history" or "diagnosis"
    reason: str


def _score(tally: Tally | None, confidence: float) -> float:
    tries = tally.tries if tally else 0
    recoveries = tally.recoveries if tally else 0
    return (recoveries + PRIOR_WEIGHT * confidence) / (tries + PRIOR_WEIGHT)


def _said(action: Action, tally: Tally | None) -> str:
    if tally is None or not tally.tries:
        return f"{action.value} not tried before"
    said = f"{action.value} recovered {tally.recoveries} of {tally.tries} earlier tries"
    mean = tally.mean_recovery_ms
    return said + (f" (in {mean:.0f} ms on average)" if mean is not None else "")


def rank(
    candidates: Sequence[tuple[Action, Remediation]], tallies: dict[str, Tally]
) -> list[Choice]:
    """``candidates`` (in the diagnosis' order) ranked by what worked before."""
    if not any(tallies.get(a.value) and tallies[a.value].tries for a, _ in candidates):
        return [
            Choice(a, r, "diagnosis", f"no history yet: the diagnosis ranks {a.value} #{i + 1}")
            for i, (a, r) in enumerate(candidates)
        ]
    order = sorted(
        range(len(candidates)),
        key=lambda i: (
            -_score(tallies.get(candidates[i][0].value), candidates[i][1].confidence),
            (tallies.get(candidates[i][0].value) or Tally()).mean_recovery_ms or float("inf"),
            i,
        ),
    )
    summary = "; ".join(_said(a, tallies.get(a.value)) for a, _ in candidates)
    return [
        Choice(candidates[i][0], candidates[i][1], "history", f"for this failure: {summary}")
        for i in order
    ]
