"""Robot event-to-action latency over libqi on loopback.

The simulated Pepper raises ``EngagementZones/PersonEnteredZone1``; NaoqiRobot turns it
into a PersonApproached event; a minimal reaction in the benchmark calls ``say``; we stop
the clock when the call arrives at the simulated ALTextToSpeech. Every hop is real:
libqi signal to the client's thread, into asyncio, a libqi call back to the server's
thread, into the simulator's loop. 1,000 events; target p99 under 20 ms.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from bench.common import Result, median, percentile
from clock import VirtualClock
from hw_sim.pepper import FOUR_VOICES, SimulatedPepper
from robot.hal import PersonApproached
from robot.naoqi import NaoqiRobot

EVENTS = 1_000
WARMUP = 20
TARGET_P99_MS = 20.0


async def _measure() -> list[float]:
    samples: list[float] = []
    async with (
        VirtualClock(datetime(2026, 11, 24, 8, tzinfo=UTC)) as clock,
        SimulatedPepper(clock, transport="libqi", settings=FOUR_VOICES) as sim,
        NaoqiRobot(sim.url, clock=clock, session_factory=sim.session_factory) as robot,
    ):
        arrived = asyncio.Event()
        arrival = 0.0

        def on_journal(entry: dict[str, object]) -> None:
            nonlocal arrival
            if entry["device"] == "pepper" and entry["action"] == "say":
                arrival = time.perf_counter()
                arrived.set()

        sim.journal.add_listener(on_journal)
        async with robot.events() as events:

            async def react() -> None:
                # The minimal reaction: greet whoever reaches zone 1.
                async for event in events:
                    if isinstance(event, PersonApproached) and event.zone == 1:
                        await robot.say("Welkom!", "nl")

            reactor = asyncio.create_task(react())
            try:
                for i in range(EVENTS + WARMUP):
                    arrived.clear()
                    injected = time.perf_counter()
                    sim.world.approach(i, 1)
                    await asyncio.wait_for(arrived.wait(), 5)
                    if i >= WARMUP:
                        samples.append(arrival - injected)
                    sim.world.leave(i)
            finally:
                reactor.cancel()
    return samples


def run() -> Result:
    """Measure event-to-action latency; median and p99 in milliseconds."""
    logging.disable(logging.WARNING)
    try:
        samples = [s * 1000 for s in asyncio.run(_measure())]
    finally:
        logging.disable(logging.NOTSET)
    result = Result("robot_event_to_action", "Person approached -> say() at the robot, over libqi")
    p99 = percentile(samples, 99)
    result.add("events", len(samples), "count")
    result.add("median", median(samples), "ms")
    result.add("p99", p99, "ms", target=f"< {TARGET_P99_MS:g} ms", met=p99 < TARGET_P99_MS)
    result.add("max", max(samples), "ms")
    result.notes = (
        "Simulated Pepper and NaoqiRobot in one process, libqi over TCP loopback both ways; "
        f"{WARMUP} warm-up events not counted. Speech itself takes simulated time only."
    )
    return result
