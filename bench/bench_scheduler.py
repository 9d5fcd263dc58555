"""Scheduler: resolving 1,000 devices against 10,000 messages, and a month dispatched.

Messages are generated with a fixed seed: one-off windows and weekly/daily recurring
dayparts across a month, targeting groups, single devices, or everything, with a few
emergencies. Measured: building the timeline (expanding every message over the
dispatcher's 8-day horizon), full resolution of every device at 200 instants (median,
p99), the next-change computation, peak memory (tracemalloc), and the wall time of a
simulated month of dispatching on the virtual clock.
Targets: full resolution under 100 ms, under 300 MB.
"""

from __future__ import annotations

import asyncio
import random
import time
import tracemalloc
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from zoneinfo import ZoneInfo

from beacons.content import LocalizedContent
from bench.common import Result, median, percentile
from clock import VirtualClock
from scheduler.dispatch import DeviceDefaults, Dispatcher
from scheduler.model import Daypart, Kind, Message, Recurrence, Targets
from scheduler.resolve import Device, Timeline, resolve
from scheduler.store import Store

TZ = ZoneInfo("Europe/Brussels")
MONTH_START = datetime(2026, 11, 2, tzinfo=TZ)
GROUPS = [f"g{n:02d}" for n in range(20)]


def make_devices(count: int) -> list[Device]:
    return [
        Device(f"d{n:04d}", "display" if n % 3 else "beacon", GROUPS[n % len(GROUPS)])
        for n in range(count)
    ]


def make_messages(count: int, devices: list[Device], rng: random.Random) -> list[Message]:
    messages = []
    for n in range(count):
        start = MONTH_START + timedelta(days=rng.randrange(28), hours=rng.randrange(7, 18))
        roll = rng.random()
        if roll < 0.01:
            targets = Targets(everything=True)
        elif roll < 0.6:
            targets = Targets(groups=rng.sample(GROUPS, rng.randint(1, 3)))
        else:
            picked = rng.sample(devices, rng.randint(1, 5))
            targets = Targets(
                displays=[d.id for d in picked if d.kind == "display"],
                beacons=[d.id for d in picked if d.kind == "beacon"],
            )
        recurring = rng.random() < 0.4
        hour = rng.randrange(7, 16)
        messages.append(
            Message(
                id=f"m{n:05d}",
                title=f"message {n}",
                content={"nl": LocalizedContent(title=f"Bericht {n}")},
                targets=targets,
                starts=start if not recurring else MONTH_START,
                ends=start + timedelta(hours=rng.randint(1, 72)) if not recurring else None,
                recurrence=Recurrence(
                    rrule=rng.choice(
                        ["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "FREQ=WEEKLY;BYDAY=SA"]
                    ),
                    dayparts=[
                        Daypart(
                            start=dt_time(hour),
                            end=dt_time(hour + 2),
                        )
                    ],
                )
                if recurring
                else None,
                priority=rng.randint(0, 100),
                kind=Kind.EMERGENCY if rng.random() < 0.001 else Kind.INFO,
                updated=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=n),
            )
        )
    return messages


class _Quiet:
    def push_many(self, messages: Mapping[str, Any]) -> None:
        self.count = getattr(self, "count", 0) + len(messages)

    def on_delivery(self, callback: Any) -> None:
        pass


async def _month(messages: list[Message], devices: list[Device]) -> tuple[float, int]:
    with TemporaryDirectory() as folder:
        store = Store(Path(folder) / "s.sqlite")
        async with VirtualClock(MONTH_START) as clock:
            for message in messages:
                store.add(message, "bench", clock.now())
            defaults = {
                d.id: DeviceDefaults(content={"nl": LocalizedContent(title="Welkom")})
                for d in devices
            }
            displays = [d for d in devices if d.kind == "display"]
            dispatcher = Dispatcher(store, displays, defaults, TZ, clock, displays=_Quiet())
            started = time.perf_counter()
            runner = asyncio.create_task(dispatcher.run())
            await clock.sleep_until(MONTH_START + timedelta(days=30))
            elapsed = time.perf_counter() - started
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        store.close()
    return elapsed, dispatcher.passes


def run() -> Result:
    """Resolution at scale, next-change, memory, and a month of dispatching."""
    rng = random.Random(42)
    devices = make_devices(1000)
    result = Result("scheduler", "10,000 messages x 1,000 devices; a month dispatched")
    messages = make_messages(10_000, devices, rng)
    at = MONTH_START + timedelta(days=10, hours=10)
    started = time.perf_counter()
    timeline = Timeline(messages, TZ, at - timedelta(days=1), at + timedelta(days=8))
    build = time.perf_counter() - started
    instants = [at + timedelta(minutes=rng.randrange(0, 7 * 24 * 60)) for _ in range(200)]
    resolution, next_change = [], []
    for instant in instants:
        started = time.perf_counter()
        shown = resolve(timeline, devices, instant)
        resolution.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        timeline.next_change(instant)
        next_change.append((time.perf_counter() - started) * 1000)
    # Memory in a separate pass: tracemalloc slows everything it watches.
    del timeline, messages
    tracemalloc.start()
    messages = make_messages(10_000, devices, random.Random(42))
    timeline = Timeline(messages, TZ, at - timedelta(days=1), at + timedelta(days=8))
    resolve(timeline, devices, at)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(shown) == 1000
    p99 = percentile(resolution, 99)
    peak_mb = peak / 2**20
    result.add("timeline build (8-day horizon)", build * 1000, "ms")
    result.add("full resolution median", median(resolution), "ms")
    result.add("full resolution p99", p99, "ms", target="< 100 ms", met=p99 < 100)
    result.add("next change median", median(next_change), "ms")
    result.add("next change p99", percentile(next_change, 99), "ms")
    result.add("peak memory", peak_mb, "MiB", target="< 300 MiB", met=peak_mb < 300)
    month_messages = make_messages(1000, devices[:200], random.Random(7))
    wall, passes = asyncio.run(_month(month_messages, devices[:200]))
    result.add("month dispatched (1,000 messages, 133 displays)", wall, "s")
    result.add("dispatch passes in the month", passes, "count")
    result.notes = (
        "Resolution assumes the timeline for the horizon is built (the dispatcher rebuilds "
        "it only when the schedule changes or the horizon runs out). The month run uses the "
        "real SQLite store and the dispatcher on the virtual clock with a no-op display sink; "
        "its wall time includes one resolution per change point and, since signage "
        "protocol v2, the 24-hour look-ahead of every display whose content changes (and "
        "of all of them after a schedule change), computed off the loop per display over "
        "its own messages: 0.9 s before v2, about 18 s with it for this dense month "
        "(1,000 messages on 200 devices, 552 change points: some 30 ms per pass)."
    )
    return result
