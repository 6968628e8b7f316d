"""What healing tried before for one failure, and how it went: what ``heal`` ranks by.

The history is the ``heal_attempts`` table, read through :func:`semtrace.connect` (the file
itself in embedded mode, the process that owns the file otherwise), so it spans runs and
processes. It is cached per fingerprint for ``ttl_s`` and brought up to date in-process as
this process records attempts: learning is immediate here and reaches other processes when
their cache expires.

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

import duckdb

from semtrace._connect import connect
from semtrace.diagnose.models import Action, Remediation
from semtrace.exceptions import SemtraceError
from semtrace.store.queries import arrow

__all__ = ["HISTORY", "RUN_ID", "Choice", "History", "Tally", "rank"]

_log = logging.getLogger("semtrace.heal")
PRIOR_WEIGHT = 1.0  # how many tries the diagnosis' confidence counts for
RUN_ID = uuid.uuid4().hex[:12]  # this process' run: the recoveries view groups by it
_SQL = """
    SELECT action,
           count(*) FILTER (WHERE outcome IN ('recovered', 'failed')) AS tries,
           count(*) FILTER (WHERE outcome = 'recovered') AS recoveries,
           coalesce(sum(duration_ms) FILTER (WHERE outcome = 'recovered'), 0) AS recovery_ms
    FROM heal_attempts WHERE fingerprint = ? GROUP BY action
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
    """Per (database, fingerprint): the tallies of each action, read at most every ``ttl_s``."""

    def __init__(
        self,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 1024,
    ) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget what was read (tests; or to see another process' attempts at once)."""
        with self._lock:
            self._entries.clear()

    def tallies(self, db: str, fingerprint: str) -> dict[str, Tally]:
        """The tallies of each action tried on ``fingerprint`` in ``db``, across runs."""
        key = (db, fingerprint)
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry.loaded_at < self.ttl_s:
                return dict(entry.tallies)
        tallies = _read(db, fingerprint)
        with self._lock:
            self._entries[key] = _Entry(now, tallies)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return dict(tallies)

    def note(self, db: str, fingerprint: str, action: str, outcome: str, ms: float) -> None:
        """Count an attempt this process just recorded (it reaches the file later)."""
        if outcome not in ("recovered", "failed"):
            return
        with self._lock:
            entry = self._entries.get((db, fingerprint))
            if entry is None:
                return  # read in full on next use
            tally = entry.tallies.setdefault(action, Tally())
            tally.tries += 1
            if outcome == "recovered":
                tally.recoveries += 1
                tally.recovery_ms += ms


def _read(db: str, fingerprint: str) -> dict[str, Tally]:
    """The tallies from the store; none when it cannot be read (healing goes on without)."""
    try:
        con = connect(db)
        try:
            rows = arrow(con, _SQL, [fingerprint]).to_pylist()
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
