"""The simulated world the demo scenarios run in: a seeded random source and a paced clock.

Nothing here is telemetry. A real agent waits on real networks; the demo waits on
:class:`Pace`, which sleeps a small fraction of the simulated time, so a run that "took" eight
seconds at the hotel API finishes in a blink while its spans keep the same proportions.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

__all__ = ["Pace", "rng_for"]


def rng_for(seed: int, *key: object) -> random.Random:
    """A random source for one named thing (a run, an invoice, a call), stable for a seed.

    Deriving one source per thing, instead of sharing one, keeps the demo deterministic even
    when asyncio interleaves agents differently from run to run.
    """
    return random.Random("|".join([str(seed), *map(str, key)]))


@dataclass(frozen=True)
class Pace:
    """How much real time one simulated second takes (``scale=0.02``: 1 s becomes 20 ms)."""

    scale: float = 0.02
    human_delay_s: float = 0.4  # the real time the simulated reviewer takes to answer

    def sleep(self, simulated_s: float) -> None:
        """Wait (scaled) for something that takes ``simulated_s`` seconds in the real world."""
        if self.scale > 0 and simulated_s > 0:
            time.sleep(simulated_s * self.scale)

    async def asleep(self, simulated_s: float) -> None:
        """The asyncio form of :meth:`sleep` (yields to other agents even when not pacing)."""
        await asyncio.sleep(simulated_s * self.scale if self.scale > 0 else 0)
