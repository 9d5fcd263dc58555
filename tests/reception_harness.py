"""The whole reception stack against the simulated Pepper over libqi, for scenario tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from clock import VirtualClock
from hw_sim.pepper import FOUR_VOICES, PepperSettings, SimulatedPepper, Transport
from hw_sim.pepper.in_flight import LibqiInFlight
from onthaal.config import Config, load_config
from onthaal.reception_stack import build_reception
from robot.behaviour import BehaviourEngine
from robot.naoqi import NaoqiRobot
from robot.reception import Situation
from robot.staff import HandoverRequest

REPO = Path(__file__).resolve().parent.parent
SETTLE = 0.003


@dataclass
class Reception:
    """Handles on every part a scenario needs."""

    clock: VirtualClock
    sim: SimulatedPepper
    robot: NaoqiRobot
    situation: Situation
    engine: BehaviourEngine
    handovers: list[HandoverRequest]

    def journal(self, device: str = "pepper", action: str | None = None) -> list[dict[str, Any]]:
        """Journal entries of ``device`` (and ``action``)."""
        return self.sim.journal.find(device, action)

    def said(self) -> list[str]:
        """Everything the robot said, in order."""
        return [
            e["text"] for e in self.sim.journal.since(0) if e["action"] in ("say", "animated-say")
        ]

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait (real time) until ``condition()`` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; the robot said: {self.said()}")
            await asyncio.sleep(0.002)

    async def tell(self, text: str, language: str) -> None:
        """The visitor says ``text`` once the robot has finished speaking and listens."""
        state = self.sim.state
        await self.until(
            lambda: (
                not self.sim.world.speaking and bool(state.asr_subscribers) and not state.asr_paused
            )
        )
        self.sim.world.hear(text, language)

    async def until_said(self, fragment: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until the robot says something containing ``fragment``; that entry."""

        def found() -> dict[str, Any] | None:
            for entry in self.sim.journal.since(0):
                if entry["action"] in ("say", "animated-say") and fragment in entry["text"]:
                    return entry
            return None

        await self.until(lambda: found() is not None, timeout)
        entry = found()
        assert entry is not None
        return entry


@asynccontextmanager
async def reception(
    start: datetime,
    *,
    speed: float | None = None,
    transport: Transport = "libqi",
    config: Config | None = None,
    settings: PepperSettings = FOUR_VOICES,
) -> AsyncIterator[Reception]:
    """Run the reception behaviours against a simulated Pepper from ``start``.

    ``config`` defaults to the repository's ``robot.toml``.
    """
    config = config or load_config(REPO / "robot.toml")
    async with VirtualClock(start, speed=speed, settle=SETTLE) as clock:
        sim = SimulatedPepper(clock, transport=transport, settings=settings)
        async with sim:
            robot = NaoqiRobot(sim.url, clock=clock, session_factory=sim.session_factory)
            # Time waits for what is on its way through libqi (events could otherwise
            # overtake each other on libqi's threads when the machine is busy).
            if sim.transport == "libqi":
                clock.watch_outside(LibqiInFlight(sim.world, robot.traffic))
            built = build_reception(config, REPO / "robot.toml", robot, clock)
            handovers: list[HandoverRequest] = []
            built.staff.subscribe(handovers.append)
            async with robot:
                runner = asyncio.create_task(built.engine.run())
                try:
                    yield Reception(clock, sim, robot, built.situation, built.engine, handovers)
                finally:
                    runner.cancel()
                    await asyncio.gather(runner, return_exceptions=True)
