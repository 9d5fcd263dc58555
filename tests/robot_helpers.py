"""Shared helpers for the robot tests: a simulated Pepper with a NaoqiRobot on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from clock import VirtualClock
from hw_sim.pepper import FOUR_VOICES, PepperSettings, SimulatedPepper, Transport
from robot.hal import EventStream, RobotEvent
from robot.naoqi import NaoqiRobot
from tests.conftest import T0

E = TypeVar("E", bound=RobotEvent)

# Real seconds of quiet before virtual time jumps: lets libqi round trips finish first.
SETTLE = 0.003


#: What the test robot's recogniser spots (the reception builds this from the KB).
VOCABULARY = {"nl": ["paspoort", "toiletten"], "fr": ["passeport", "toilettes"], "en": ["passport"]}


@asynccontextmanager
async def pepper_and_robot(
    transport: Transport, settings: PepperSettings = FOUR_VOICES
) -> AsyncIterator[tuple[VirtualClock, SimulatedPepper, NaoqiRobot]]:
    """A virtual clock, a simulated Pepper on ``transport``, and a robot linked to it."""
    async with (
        VirtualClock(T0, settle=SETTLE) as clock,
        SimulatedPepper(clock, transport=transport, settings=settings) as sim,
        NaoqiRobot(
            sim.url,
            clock=clock,
            session_factory=sim.session_factory,
            reconnect_max=1.0,
            vocabulary=VOCABULARY,
        ) as robot,
    ):
        yield clock, sim, robot


async def next_event(stream: EventStream, kind: type[E], timeout: float = 5.0) -> E:
    """The next event of ``kind`` (others, like battery ticks, are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        event = await stream.next(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(event, kind):
            return event


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (real time) until ``condition()`` holds; libqi delivers some things async."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.005)
