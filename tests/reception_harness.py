"""The whole reception stack against the simulated Pepper over libqi, for scenario tests.

The robot's tablet pages are the real web app's (served on a free port on the same
loop): the simulated tablet fetches every page the robot shows, as a real one does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from beacons.tasks import cancel_all
from clock import VirtualClock
from hw_sim.brokers import free_port, wait_listening
from hw_sim.pepper import FOUR_VOICES, PepperSettings, SimulatedPepper, Transport
from hw_sim.pepper.in_flight import LibqiInFlight
from onthaal.config import Config, load_config
from onthaal.reception_stack import build_reception
from onthaal.scheduler_stack import build_dispatcher
from onthaal.web.app import WebServices, create_app, serve
from onthaal.web.core import LocalCore, RobotLink
from onthaal.web.users import Users
from robot.behaviour import BehaviourEngine
from robot.naoqi import NaoqiRobot
from robot.reception import Situation
from robot.staff import HandoverRequest
from scheduler.store import Store

REPO = Path(__file__).resolve().parent.parent
SETTLE = 0.003
TABLET_KEY = "test-tablet-key"


@dataclass
class Reception:
    """Handles on every part a scenario needs."""

    clock: VirtualClock
    sim: SimulatedPepper
    robot: NaoqiRobot
    situation: Situation
    engine: BehaviourEngine
    handovers: list[HandoverRequest]
    tablet: str  # where the web app serves the tablet pages (http://127.0.0.1:port/tablet)
    tablet_key: str  # the robot's key to them

    def refused_pages(self) -> list[dict[str, Any]]:
        """Pages the tablet was told to show that did not load."""
        return self.journal("pepper", "tablet-refused")

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
    # Words only (a test injects a prepared semantic stage where it wants one): the
    # tablet's web app would otherwise prepare one per test.
    config = config.model_copy(
        update={"dialogue": config.dialogue.model_copy(update={"semantic": "off"})}
    )
    async with VirtualClock(start, speed=speed, settle=SETTLE) as clock:
        sim = SimulatedPepper(clock, transport=transport, settings=settings)
        async with sim:
            robot = NaoqiRobot(sim.url, clock=clock, session_factory=sim.session_factory)
            # Time waits for what is on its way through libqi (events could otherwise
            # overtake each other on libqi's threads when the machine is busy).
            if sim.transport == "libqi":
                clock.watch_outside(LibqiInFlight(sim.world, robot.traffic))
            parts: dict[str, Any] = {}
            link = RobotLink(
                running=lambda: list(parts["built"].engine.running),
                connected=lambda: robot.connected,
                present=True,
                caption=lambda: parts["built"].engine.captions.current,
                tablet=robot.tablet_input,
            )
            async with tablet_pages(config, clock, link) as tablet:
                config = config.model_copy(
                    update={
                        "behaviours": config.behaviours.model_copy(update={"tablet_url": tablet})
                    }
                )
                built = parts["built"] = build_reception(
                    config, REPO / "robot.toml", robot, clock, tablet_token=TABLET_KEY
                )
                handovers: list[HandoverRequest] = []
                built.staff.subscribe(handovers.append)
                async with robot:
                    runner = asyncio.create_task(built.engine.run())
                    try:
                        yield Reception(
                            clock,
                            sim,
                            robot,
                            built.situation,
                            built.engine,
                            handovers,
                            tablet,
                            TABLET_KEY,
                        )
                    finally:
                        runner.cancel()
                        await asyncio.gather(runner, return_exceptions=True)


@asynccontextmanager
async def tablet_pages(config: Config, clock: VirtualClock, link: RobotLink) -> AsyncIterator[str]:
    """The web app (databases in memory) with ``link`` as its robot: the tablet's address."""
    store, users = Store(":memory:"), Users(":memory:")
    dispatcher = build_dispatcher(config, store, clock, displays=None, beacons=None)
    services = WebServices(
        config=config,
        config_path=REPO / "robot.toml",
        clock=clock,
        users=users,
        store=store,
        core=LocalCore(clock, dispatcher, robot=link),
        tablet_token=TABLET_KEY,
    )
    port = free_port()
    server = asyncio.create_task(serve(create_app(services), "127.0.0.1", port))
    try:
        await wait_listening("127.0.0.1", port)
        yield f"http://127.0.0.1:{port}/tablet"
    finally:
        await cancel_all([server])
        store.close()
        users.close()
