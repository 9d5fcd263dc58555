"""Watching the robot's loop: how long it was held by something that did not yield.

Everything shares one event loop with the robot, so a callback that runs for long (a
synchronous database call, a big JSON, a regression) delays the robot in front of a
visitor. :class:`LoopWatch` wakes up every few milliseconds and measures how late it
was woken: that lateness is the time the loop was held. Holds over the budget are
logged (at most once a minute, with the worst since), so a regression shows in the log
of every run, test and benchmark.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("onthaal.loop")

BUDGET = 0.020  # seconds the loop may be held at a time (#15)
INTERVAL = 0.005
REPORT_EVERY = 60.0


class LoopWatch:
    """A supervised child measuring the event loop's lag in real time."""

    def __init__(self, budget: float = BUDGET, interval: float = INTERVAL) -> None:
        """Watch with ``budget`` seconds allowed per hold, looking every ``interval``."""
        self.budget = budget
        self.interval = interval
        self.worst = 0.0  # the longest hold seen, in seconds
        self.over = 0  # how many holds were over the budget

    async def run(self) -> None:
        """Measure until cancelled."""
        loop = asyncio.get_running_loop()
        reported_at = loop.time()
        worst_since = 0.0
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)  # clock-ok: the loop itself, in real time
            held = loop.time() - before - self.interval
            if held > self.worst:
                self.worst = held
            if held > self.budget:
                self.over += 1
                worst_since = max(worst_since, held)
                if loop.time() - reported_at >= REPORT_EVERY or self.over == 1:
                    log.warning(
                        "the robot's loop was held %.0f ms (budget %.0f ms; %d times so far)",
                        worst_since * 1000,
                        self.budget * 1000,
                        self.over,
                    )
                    reported_at, worst_since = loop.time(), 0.0
