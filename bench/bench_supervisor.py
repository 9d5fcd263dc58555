"""Supervisor overhead: from a child's crash to the child running again.

A child raises; the supervisor notices, applies its policy (back-off set to zero) and
starts it again. We time each crash-to-running interval over 1,000 restarts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from bench.common import Result, median, percentile
from clock import RealClock
from onthaal.logs import configure_logging
from onthaal.supervisor import Backoff, ChildSpec, Intensity, Supervisor

RESTARTS = 1_000


class _Crash(RuntimeError):
    pass


async def _measure() -> list[float]:
    samples: list[float] = []
    crashed_at: float | None = None
    done = asyncio.Event()

    async def crashing_child() -> None:
        nonlocal crashed_at
        now = time.perf_counter()
        if crashed_at is not None:
            samples.append(now - crashed_at)
        if len(samples) >= RESTARTS:
            done.set()
            await asyncio.Event().wait()
        crashed_at = time.perf_counter()
        raise _Crash("bench")

    async def sibling() -> None:
        await asyncio.Event().wait()

    supervisor = Supervisor(
        "bench",
        [ChildSpec("sibling", sibling), ChildSpec("crasher", crashing_child)],
        clock=RealClock(),
        backoff=Backoff(initial=0.0),
        intensity=Intensity(max_restarts=RESTARTS * 10, period=3600),
    )
    runner = asyncio.create_task(supervisor.run())
    await done.wait()
    supervisor.stop()
    await runner
    return samples


def run() -> Result:
    """Measure restart latency (median, p99), with and without log output."""
    result = Result("supervisor_restart", __doc__.strip().splitlines()[0] if __doc__ else "")
    with open(os.devnull, "w") as sink:  # noqa: PTH123
        # As in production: every crash is logged (with its traceback) through our formatter.
        configure_logging("json", "INFO", stream=sink)
        logged = [s * 1e6 for s in asyncio.run(_measure())]
        logging.disable(logging.CRITICAL)
        try:
            bare = [s * 1e6 for s in asyncio.run(_measure())]
        finally:
            logging.disable(logging.NOTSET)
    result.add("restarts", len(logged), "count")
    result.add("crash-to-running median (logged)", median(logged), "µs")
    result.add("crash-to-running p99 (logged)", percentile(logged, 99), "µs")
    result.add("crash-to-running median (no logging)", median(bare), "µs")
    result.add("crash-to-running p99 (no logging)", percentile(bare, 99), "µs")
    result.notes = (
        "Back-off 0, one sibling running. 'logged' writes each crash as a JSON log line "
        "with traceback, as production does; the restart itself runs in the child's own "
        "task without a trip through the event loop."
    )
    return result
