"""What the web app sees of the running system, and the only ways it reaches into it.

The web app never touches the robot's objects. It reads a :class:`CoreSnapshot` (taken
on the robot's loop, at a bounded rate, by work that costs the same whatever the web
app is asked) and asks the core for four things only (:class:`Core`): a preview of
another moment, "the schedule changed", a tap or typed question from the robot's tablet,
and, when simulating, the simulated world's controls. Everything else the web app
needs, the schedule and the staff accounts, it reads from the SQLite files with
connections of its own.

In production the web app runs in a process of its own (:mod:`onthaal.web.bridge`) and
the snapshot arrives over a private socket; in one process (the tests, in-memory
databases) :class:`LocalCore` builds it on demand. Both satisfy :class:`Core`, and one
contract test runs on both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from beacons.ble import BeaconState
from beacons.fleet import Health
from beacons.signage import DisplayState
from clock import Clock
from onthaal.supervisor import ChildHealth
from robot.behaviour import Caption
from robot.hal import TabletTouched, UtteranceHeard
from scheduler.dispatch import DeviceStatus
from scheduler.resolve import Showing


class CoreUnavailable(Exception):
    """The core did not answer in time (the web app answers 503 and tries again later)."""


class ReceptionCounts:
    """Anonymous counts of what the robot did (a :class:`robot.stats.Statistics`).

    No text, no ids: per event (an intent id, "greeted", "handover") and language, and
    per day for the dashboard. Kept in memory only.
    """

    def __init__(self) -> None:
        """Start from nothing."""
        self.events: Counter[tuple[str, str]] = Counter()  # (event, language) -> count
        self.days: Counter[tuple[str, str]] = Counter()  # (ISO date, event) -> count

    def count(self, at: datetime, language: str, event: str) -> None:
        """The :class:`robot.stats.Statistics` hook."""
        self.events[(event, language)] += 1
        self.days[(at.date().isoformat(), event)] += 1

    def on(self, day: str) -> dict[str, int]:
        """Counts of one day (ISO date)."""
        return {event: n for (date, event), n in self.days.items() if date == day}

    def copy(self) -> ReceptionCounts:
        """A copy that no longer changes (for a snapshot)."""
        copied = ReceptionCounts()
        copied.events = Counter(self.events)
        copied.days = Counter(self.days)
        return copied


@dataclass(frozen=True)
class RobotState:
    """The robot as the dashboard shows it."""

    present: bool = False  # a robot is part of this system (its link counts for health)
    connected: bool = False
    last_seen: datetime | None = None
    battery: int | None = None  # None: not read from a connected robot
    running: tuple[str, ...] = ()
    caption: Caption | None = None  # what it says, for the tablet's live caption


@dataclass(frozen=True)
class CoreSnapshot:
    """Everything the web app shows of the running system, as of ``taken_at``."""

    taken_at: datetime  # by the core's clock (simulated time when simulating)
    health: tuple[ChildHealth, ...] = ()
    robot: RobotState = RobotState()
    status: Mapping[str, DeviceStatus] = field(default_factory=dict)
    showing: Mapping[str, Showing] = field(default_factory=dict)
    displays: Mapping[str, DisplayState] = field(default_factory=dict)
    beacons: Mapping[str, BeaconState] = field(default_factory=dict)
    beacon_feed: tuple[dict[str, Any], ...] = ()
    reception: ReceptionCounts = field(default_factory=ReceptionCounts)
    fleet: tuple[Health, ...] = ()  # every device's health (the fleet watcher's last look)


@dataclass
class SimControls:
    """What ``onthaal sim`` lets integrators do to the simulated world."""

    approach: Callable[[int, int], None]
    leave: Callable[[int], None]
    hear: Callable[[str, str], None]


class Core(Protocol):
    """The web app's whole view of, and reach into, the running system."""

    @property
    def sim(self) -> SimControls | None:
        """The simulated world's controls, or None when not simulating."""
        ...

    def snapshot(self) -> CoreSnapshot:
        """The latest snapshot (never waits)."""
        ...

    async def preview(self, at: datetime) -> dict[str, Showing]:
        """What every device shows at ``at`` (raises :class:`CoreUnavailable`)."""
        ...

    def schedule_changed(self) -> None:
        """The schedule database was written: resolve again (any thread)."""
        ...

    def tablet(self, event: TabletTouched | UtteranceHeard) -> None:
        """A tap or a typed question on the robot's tablet, for the behaviours."""
        ...


# -- in one process -------------------------------------------------------------------------


class _Dispatching(Protocol):
    """The dispatcher's side the web app uses."""

    def status(self) -> Mapping[str, DeviceStatus]: ...
    def showing_now(self) -> Mapping[str, Showing]: ...
    async def preview_soon(self, at: datetime) -> dict[str, Showing]: ...
    def wake(self) -> None: ...


class _States(Protocol):
    def states(self) -> Mapping[str, Any]: ...


class _Feed(_States, Protocol):
    def feed(self) -> list[dict[str, Any]]: ...


@dataclass
class RobotLink:
    """How to read the robot's state (each a cheap read of what the link already knows)."""

    running: Callable[[], list[str]] = list
    battery: Callable[[], int | None] = lambda: None
    connected: Callable[[], bool] = lambda: False
    last_seen: Callable[[], datetime | None] = lambda: None
    present: bool = False
    caption: Callable[[], Caption | None] = lambda: None
    tablet: Callable[[TabletTouched | UtteranceHeard], None] = lambda event: None


class LocalCore:
    """:class:`Core` over the live parts, in the robot's own process and loop.

    :meth:`snapshot` copies what the parts already hold; it never reads a database or
    expands the schedule, so its cost does not grow with the schedule.
    """

    def __init__(
        self,
        clock: Clock,
        dispatcher: _Dispatching,
        *,
        health: Callable[[], list[ChildHealth]] = list,
        signage: _States | None = None,
        ble: _Feed | None = None,
        robot: RobotLink | None = None,
        reception: ReceptionCounts | None = None,
        fleet: Callable[[], tuple[Health, ...]] = tuple,
        sim: SimControls | None = None,
        wake: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        """``wake(callback)`` runs ``callback`` on the core's loop (default: at once)."""
        self._clock = clock
        self._dispatcher = dispatcher
        self._health = health
        self._signage = signage
        self._ble = ble
        self._robot = robot or RobotLink()
        self.reception = reception or ReceptionCounts()
        self._fleet = fleet
        self._sim = sim
        self._on_loop = wake or (lambda callback: callback())

    @property
    def sim(self) -> SimControls | None:
        """The simulated world's controls, or None."""
        return self._sim

    def snapshot(self) -> CoreSnapshot:
        """What the parts hold now, copied."""
        robot = self._robot
        connected = robot.connected()
        return CoreSnapshot(
            taken_at=self._clock.now(),
            health=tuple(self._health()),
            robot=RobotState(
                present=robot.present,
                connected=connected,
                last_seen=robot.last_seen(),
                battery=robot.battery() if connected else None,
                running=tuple(robot.running()),
                caption=robot.caption(),
            ),
            status=dict(self._dispatcher.status()),
            showing=dict(self._dispatcher.showing_now()),
            displays=dict(self._signage.states()) if self._signage is not None else {},
            beacons=dict(self._ble.states()) if self._ble is not None else {},
            beacon_feed=tuple(self._ble.feed()) if self._ble is not None else (),
            reception=self.reception.copy(),
            fleet=self._fleet(),
        )

    async def preview(self, at: datetime) -> dict[str, Showing]:
        """The dispatcher's preview (it expands the schedule off the loop).

        Whatever stops it (a locked database, a broken file) is :class:`CoreUnavailable`:
        the web app answers 503 and the staff member tries again.
        """
        try:
            return await self._dispatcher.preview_soon(at)
        except Exception as exc:  # any failure of the core is the core being unavailable
            raise CoreUnavailable(f"the preview failed: {exc}") from exc

    def schedule_changed(self) -> None:
        """Wake the dispatcher (on its loop)."""
        self._on_loop(self._dispatcher.wake)

    def tablet(self, event: TabletTouched | UtteranceHeard) -> None:
        """Hand a tap or typed question to the robot link (on its loop)."""
        self._on_loop(lambda: self._robot.tablet(event))
