"""A simulated Pepper that speaks NAOqi's protocol.

:class:`SimulatedPepper` hosts the simulated NAOqi services (and the ``OnthaalSimulator``
control service) on a standalone libqi session on loopback whenever ``qi`` imports, or
in-process otherwise. ``NaoqiRobot`` connects to :attr:`SimulatedPepper.url` with
:attr:`SimulatedPepper.session_factory` exactly as it would to a real robot.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, Self

from clock import Clock
from hw_sim.journal import Journal
from hw_sim.pepper.inprocess import InProcessHub, InProcessSession
from hw_sim.pepper.services import install_services
from hw_sim.pepper.world import PepperSettings, PepperState, PepperWorld

Transport = Literal["auto", "libqi", "inprocess"]

#: A Pepper licensed for the four languages of a Flemish city hall.
FOUR_VOICES = PepperSettings(languages=("Dutch", "French", "English", "German"))

__all__ = ["FOUR_VOICES", "PepperSettings", "SimulatedPepper", "Transport", "libqi_available"]


def libqi_available() -> bool:
    """Whether the ``qi`` package (libqi-python) can be imported here."""
    return importlib.util.find_spec("qi") is not None


class SimulatedPepper:
    """The simulated robot: its world, its services and the transport that serves them."""

    def __init__(
        self,
        clock: Clock,
        journal: Journal | None = None,
        *,
        listen: str = "tcp://127.0.0.1:0",
        transport: Transport = "auto",
        settings: PepperSettings | None = None,
    ) -> None:
        """A robot standing awake, to be served on ``listen`` once started.

        ``settings`` are its installed languages, preferred language and how often it
        loses a visitor and finds them again (default: English and Dutch, never).
        """
        if transport == "auto":
            transport = "libqi" if libqi_available() else "inprocess"
        self.transport: Literal["libqi", "inprocess"] = transport
        self.journal = journal if journal is not None else Journal(clock)
        self.world = PepperWorld(clock, self.journal, settings)
        install_services(self.world)
        self._listen = listen
        self._host: Any = None
        self._battery: asyncio.Task[None] | None = None
        self.url = listen
        self.started = asyncio.Event()

    @property
    def state(self) -> PepperState:
        """The robot's current state (posture, tablet, battery, ...)."""
        return self.world.state

    @property
    def session_factory(self) -> Callable[[], Any]:
        """What a client makes sessions with: ``qi.Session`` or the in-process stand-in."""
        if self.transport == "libqi":
            import qi

            return qi.Session  # type: ignore[no-any-return]
        return InProcessSession

    async def start(self) -> str:
        """Start serving; returns the URL clients connect to."""
        if self.transport == "libqi":
            from hw_sim.pepper.qi_transport import QiHost

            self._host = QiHost(self.world, self._listen)
        else:
            self._host = InProcessHub(self.world)
        self.url = self._host.start()
        self._listen = self.url  # a restart comes back on the same port
        self._battery = asyncio.create_task(self.world.run(), name="sim-pepper-battery")
        self.started.set()
        return self.url

    async def stop(self) -> None:
        """Stop serving; clients see their connection drop."""
        if self._battery is not None:
            self._battery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._battery
            self._battery = None
        if self._host is not None:
            self._host.close()
            self._host = None
        self.started.clear()

    async def __aenter__(self) -> Self:
        """Start serving."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self.stop()

    async def run(self) -> None:
        """Serve until cancelled (for a supervisor)."""
        async with self:
            await asyncio.Event().wait()
