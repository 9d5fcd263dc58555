"""The simulated Pepper's state and the one door every service call goes through.

A :class:`PepperWorld` owns the robot's state (awake, posture, tablet, LEDs, battery,
languages, ALMemory), the journal, and the injected faults. The NAOqi services in
:mod:`hw_sim.pepper.services` act on it. Both transports (libqi on loopback, and the
in-process stand-in) call services only through :meth:`PepperWorld.invoke`, on the
simulation's event loop, so state is only ever touched from one thread.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from clock import Clock
from hw_sim.journal import Journal

log = logging.getLogger("onthaal.sim.pepper")

DEVICE = "pepper"


class Signal(Protocol):
    """A signal a transport makes: call it to emit a value to every subscriber."""

    def __call__(self, *values: Any) -> None: ...


#: Makes a transport's signal; the callback hears True when the first subscriber
#: connects and False when the last one leaves (libqi's onConnect semantics).
SignalFactory = Callable[[Callable[[bool], None]], Signal]


class Subscriber:
    """What ``ALMemory.subscriber(key)`` returns: an object with a ``signal``."""

    def __init__(self, key: str, signal: Signal) -> None:
        self.key = key
        self.signal = signal


@dataclass
class PepperState:
    """Everything about the simulated robot a test may want to look at."""

    awake: bool = True
    posture: str = "Stand"
    tablet: tuple[str, str] | None = None  # ("webview" | "image", url)
    eyes: int = 0xFFFFFF
    battery: float = 90.0
    charging: bool = False
    language: str = "Dutch"
    asr_language: str = "Dutch"
    autonomous_life: str = "solitary"
    moving: bool = False
    people: dict[int, int] = field(default_factory=dict)  # person id -> zone


class PepperWorld:
    """The simulated robot: state, ALMemory, journal, faults, and the service table."""

    def __init__(self, clock: Clock, journal: Journal) -> None:
        """A robot standing awake at 90 % battery; services are added by the transport."""
        self.clock = clock
        self.journal = journal
        self.state = PepperState()
        self.memory: dict[str, Any] = {}
        self.services: dict[str, object] = {}
        self._subscribers: dict[str, Subscriber] = {}
        self._subscribed: dict[str, bool] = {}
        self._signal_factory: SignalFactory | None = None
        self._faults: dict[str, str] = {}
        self._delays: dict[str, float] = {}
        self.drop_handler: Callable[[float], None] | None = None
        self._speaking: set[asyncio.Future[None]] = set()
        # Seconds of speech per second of a real Pepper's (a benchmark on the real clock
        # sets it low so a sentence takes milliseconds; the reaction path is unchanged).
        self.speech_scale = 1.0
        self.events_sent = 0  # ALMemory events emitted to a key that has a subscriber
        self.serving = 0  # service calls being carried out right now

    # -- speech --------------------------------------------------------------------------

    async def speak(self, seconds: float) -> None:
        """Take ``seconds`` to speak, unless ``stop_speaking`` cuts it short."""
        interrupted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._speaking.add(interrupted)
        talking = asyncio.ensure_future(self.clock.sleep(seconds * self.speech_scale))
        try:
            await asyncio.wait({talking, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            talking.cancel()
            self._speaking.discard(interrupted)

    @property
    def speaking(self) -> bool:
        """Whether a sentence is being spoken right now."""
        return bool(self._speaking)

    def stop_speaking(self) -> bool:
        """Cut every sentence being spoken; whether one was."""
        speaking = bool(self._speaking)
        for future in self._speaking:
            if not future.done():
                future.set_result(None)
        return speaking

    # -- wiring ------------------------------------------------------------------------

    def use_signals(self, factory: SignalFactory) -> None:
        """Set how signals are made (libqi or in-process); forgets existing subscribers."""
        self._signal_factory = factory
        self._subscribers.clear()
        self._subscribed.clear()

    def add_service(self, name: str, service: object) -> None:
        """Register a service implementation under its NAOqi name."""
        self.services[name] = service

    async def invoke(self, service: str, method: str, args: tuple[Any, ...]) -> Any:
        """Call ``service.method(*args)`` as a client would: faults, delays, then the call."""
        self.serving += 1
        try:
            if service in self._faults:
                raise RuntimeError(f"{service}::{method}: {self._faults[service]}")
            delay = self._delays.get(service, 0.0)
            if delay > 0:
                await self.clock.sleep(delay)
            target = getattr(self.services[service], method)
            result = target(*args)
            if inspect.isawaitable(result):
                result = await result
            return result
        finally:
            self.serving -= 1

    # -- ALMemory ----------------------------------------------------------------------

    def subscriber(self, key: str) -> Subscriber:
        """The (one) subscriber object for ``key``, made on first use."""
        if key not in self._subscribers:
            if self._signal_factory is None:
                raise RuntimeError("no transport attached to the simulated Pepper")

            def changed(has_subscribers: bool, key: str = key) -> None:
                self._subscribed[key] = has_subscribers

            self._subscribers[key] = Subscriber(key, self._signal_factory(changed))
        return self._subscribers[key]

    def raise_event(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` and tell the key's subscribers."""
        self.memory[key] = value
        subscriber = self._subscribers.get(key)
        if subscriber is not None:
            if self._subscribed.get(key):
                self.events_sent += 1
            subscriber.signal(value)

    def subscribed_keys(self) -> list[str]:
        """ALMemory keys that have at least one subscriber right now."""
        return sorted(k for k, has in self._subscribed.items() if has)

    # -- faults ------------------------------------------------------------------------

    def fail_service(self, service: str, message: str) -> None:
        """Make every call to ``service`` raise ``message`` until faults are cleared."""
        self._faults[service] = message
        self.journal.record("sim", "fault", service=service, fault="raise", message=message)

    def slow_service(self, service: str, seconds: float) -> None:
        """Delay every call to ``service`` by ``seconds`` of simulated time."""
        self._delays[service] = seconds
        self.journal.record("sim", "fault", service=service, fault="slow", seconds=seconds)

    def clear_faults(self) -> None:
        """Make every service behave again."""
        self._faults.clear()
        self._delays.clear()
        self.journal.record("sim", "fault-cleared")

    def drop_connection(self, seconds: float) -> None:
        """Drop every client's connection; accept connections again after ``seconds``."""
        if self.drop_handler is None:
            raise RuntimeError("no transport attached to the simulated Pepper")
        self.journal.record("sim", "drop-connection", seconds=seconds)
        self.drop_handler(seconds)

    # -- the battery -------------------------------------------------------------------

    DRAIN_PER_HOUR = 6.0  # a Pepper lasts some 12 hours away from its charger
    CHARGE_PER_HOUR = 30.0
    DOCK_BELOW = 15.0  # resting below this, it goes to its charging station
    UNDOCK_AT = 95.0
    BATTERY_TICK = 60.0

    def set_battery(self, percent: float, charging: bool) -> None:
        """Set the charge and charger state, raising NAOqi's battery events on change."""
        before = (int(self.state.battery), self.state.charging)
        self.state.battery = max(0.0, min(100.0, percent))
        self.state.charging = charging
        if self.state.charging != before[1]:
            self.raise_event("BatteryPowerPluggedChanged", self.state.charging)
        if int(self.state.battery) != before[0]:
            self.raise_event("BatteryChargeChanged", int(self.state.battery))

    async def run(self) -> None:
        """Drain (or charge) the battery as simulated time passes."""
        while True:
            await self.clock.sleep(self.BATTERY_TICK)
            charging = self.state.charging
            if not charging and not self.state.awake and self.state.battery < self.DOCK_BELOW:
                charging = True  # resting and nearly empty: it docks, as a real one would
            elif charging and self.state.battery >= self.UNDOCK_AT:
                charging = False
            rate = self.CHARGE_PER_HOUR if charging else -self.DRAIN_PER_HOUR
            self.set_battery(self.state.battery + rate * self.BATTERY_TICK / 3600, charging)

    # -- sensors (what the control surface injects) ------------------------------------

    def approach(self, person: int, zone: int) -> None:
        """A person is seen entering engagement zone ``zone`` (3 far ... 1 close)."""
        if zone not in (1, 2, 3):
            raise ValueError(f"zone must be 1, 2 or 3, got {zone}")
        first_time = person not in self.state.people
        self.state.people[person] = zone
        self.journal.record("sim", "approach", zone=zone)
        if first_time:
            self.raise_event("PeoplePerception/JustArrived", person)
        self.raise_event("PeoplePerception/VisiblePeopleList", sorted(self.state.people))
        self.raise_event(f"EngagementZones/PersonEnteredZone{zone}", person)

    async def walk_in(self, person: int, step: float = 1.5) -> None:
        """A visitor walks up to the robot: zone 3, then 2, then 1, ``step`` s apart."""
        for zone in (3, 2, 1):
            self.approach(person, zone)
            if zone != 1:
                await self.clock.sleep(step)

    def leave(self, person: int) -> None:
        """A tracked person walks away and is lost from view."""
        self.state.people.pop(person, None)
        self.journal.record("sim", "leave")
        self.raise_event("EngagementZones/PersonMovedAway", person)
        self.raise_event("PeoplePerception/JustLeft", person)
        self.raise_event("PeoplePerception/VisiblePeopleList", sorted(self.state.people))

    def hear(self, text: str, language: str) -> None:
        """A visitor says ``text`` in NAOqi language ``language`` (e.g. 'French').

        The recogniser listens in ``asr_language``; speech in another language is
        'recognised' with a low confidence, as a real recogniser would struggle.
        """
        confidence = 0.9 if language == self.state.asr_language else 0.35
        self.journal.record("sim", "hear", text=text, language=language)
        self.raise_event("WordRecognized", [text, confidence])

    def tap_tablet(self, element: str) -> None:
        """A visitor taps element ``element`` on the tablet page."""
        self.journal.record("sim", "tap-tablet", element=element)
        self.raise_event("Onthaal/TabletTapped", element)

    def touch_head(self, part: str = "Middle") -> None:
        """Someone touches a head sensor ('Front', 'Middle' or 'Rear')."""
        key = f"{part.capitalize()}TactilTouched"
        self.journal.record("sim", "touch-head", part=part)
        self.raise_event(key, 1.0)
        self.raise_event(key, 0.0)


def speech_seconds(text: str) -> float:
    """How long a Pepper takes to say ``text``: about 2.5 words per second."""
    return max(0.3, len(text.split()) / 2.5)
