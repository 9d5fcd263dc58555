"""The simulated NAOqi services, with the method names and arities a Pepper has.

Each service keeps its part of :class:`~hw_sim.pepper.world.PepperState`, takes
simulated time where the real one takes time (speech, movement, posture changes), fails
where NAOqi would (moving while resting, unknown postures, unknown languages), and
writes what it did to the journal. Methods are called through
:meth:`~hw_sim.pepper.world.PepperWorld.invoke`, on the simulation's event loop.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hw_sim.pepper.world import DEVICE, PepperWorld, Subscriber, speech_seconds

LANGUAGES = ["Dutch", "French", "English", "German"]
POSTURES = ["Stand", "StandInit", "StandZero", "Crouch"]
LIFE_STATES = ["disabled", "solitary", "interactive", "safeguard"]


class _Service:
    def __init__(self, world: PepperWorld) -> None:
        self._w = world

    def _record(self, action: str, **fields: Any) -> None:
        self._w.journal.record(DEVICE, action, **fields)


class ALTextToSpeech(_Service):
    """Plain speech; ``stopAll`` cuts the current sentence short."""

    async def say(self, text: str) -> None:
        self._record("say", text=text, language=self._w.state.language)
        await self._w.speak(speech_seconds(text))

    def setLanguage(self, language: str) -> None:  # noqa: N802
        if language not in LANGUAGES:
            raise RuntimeError(f"ALTextToSpeech::setLanguage: language '{language}' not installed")
        self._w.state.language = language
        self._record("set-language", language=language)

    def getLanguage(self) -> str:  # noqa: N802
        return self._w.state.language

    def getAvailableLanguages(self) -> list[str]:  # noqa: N802
        return list(LANGUAGES)

    def stopAll(self) -> None:  # noqa: N802
        self._record("stop-speech", interrupted=self._w.stop_speaking())


class ALAnimatedSpeech(_Service):
    """Speech with gestures (none while resting, as on a real robot)."""

    async def say(self, text: str) -> None:
        gestures = self._w.state.awake
        self._record("animated-say", text=text, language=self._w.state.language, gestures=gestures)
        await self._w.speak(speech_seconds(text))


class ALSpeechRecognition(_Service):
    """Only the language matters to the simulator: speech arrives through ``hear``."""

    def setLanguage(self, language: str) -> None:  # noqa: N802
        if language not in LANGUAGES:
            raise RuntimeError(f"ALSpeechRecognition::setLanguage: '{language}' not installed")
        self._w.state.asr_language = language

    def getLanguage(self) -> str:  # noqa: N802
        return self._w.state.asr_language


class ALTabletService(_Service):
    """The tablet on Pepper's chest."""

    def showWebview(self, url: str) -> bool:  # noqa: N802
        self._w.state.tablet = ("webview", url)
        self._record("tablet-show", kind="webview", url=url[:200])
        return True

    def showImage(self, url: str) -> bool:  # noqa: N802
        self._w.state.tablet = ("image", url)
        self._record("tablet-show", kind="image", url=url[:200])
        return True

    def hideWebview(self) -> bool:  # noqa: N802
        return self.hide()

    def hideImage(self) -> bool:  # noqa: N802
        return self.hide()

    def hide(self) -> bool:
        self._w.state.tablet = None
        self._record("tablet-hide")
        return True


class ALMotion(_Service):
    """Stiffness and walking. Moving a resting robot fails, as it does on NAOqi."""

    async def wakeUp(self) -> None:  # noqa: N802
        if not self._w.state.awake:
            await self._w.clock.sleep(3.0)
        self._w.state.awake = True
        self._w.state.posture = "Stand"
        self._record("wake-up")

    async def rest(self) -> None:
        if self._w.state.awake:
            await self._w.clock.sleep(3.0)
        self._w.state.awake = False
        self._w.state.posture = "Crouch"
        self._record("rest")

    def robotIsWakeUp(self) -> bool:  # noqa: N802
        return self._w.state.awake

    async def moveTo(self, x: float, y: float, theta: float, config: Any) -> bool:  # noqa: N802
        if not self._w.state.awake:
            raise RuntimeError("ALMotion::moveTo: the robot is not awake (call wakeUp first)")
        speed = 0.35
        for pair in config or []:
            if len(pair) == 2 and pair[0] == "MaxVelXY":
                speed = float(pair[1])
        self._record("move", x=x, y=y, theta=theta, speed=speed)
        self._w.state.moving = True
        try:
            await self._w.clock.sleep(math.hypot(x, y) / max(speed, 0.01) + abs(theta) / 0.5)
        finally:
            self._w.state.moving = False
        return True

    def stopMove(self) -> None:  # noqa: N802
        self._w.state.moving = False
        self._record("stop-move")

    async def angleInterpolationWithSpeed(  # noqa: N802
        self, names: Any, angles: Any, speed: float
    ) -> None:
        if not self._w.state.awake:
            raise RuntimeError("ALMotion::angleInterpolationWithSpeed: the robot is not awake")
        self._record("joints", names=names, angles=angles, speed=speed)
        await self._w.clock.sleep(1.0 / max(speed, 0.05))


class ALRobotPosture(_Service):
    """Predefined postures."""

    async def goToPosture(self, name: str, speed: float) -> bool:  # noqa: N802
        if name not in POSTURES:
            raise RuntimeError(f"ALRobotPosture::goToPosture: unknown posture '{name}'")
        self._w.state.awake = True  # NAOqi stiffens the joints itself
        await self._w.clock.sleep(1.5 / max(speed, 0.1))
        self._w.state.posture = name
        self._record("posture", posture=name, speed=speed)
        return True

    def getPosture(self) -> str:  # noqa: N802
        return self._w.state.posture


class ALLeds(_Service):
    """LED groups; the face LEDs are the eyes."""

    async def fadeRGB(self, name: str, rgb: int, duration: float) -> None:  # noqa: N802
        if name not in ("FaceLeds", "AllLeds", "ChestLeds"):
            raise RuntimeError(f"ALLeds::fadeRGB: unknown LED group '{name}'")
        self._w.state.eyes = int(rgb)
        self._record("leds", group=name, rgb=f"#{int(rgb):06x}", duration=duration)
        await self._w.clock.sleep(float(duration))


class ALBattery(_Service):
    """Battery charge in percent."""

    def getBatteryCharge(self) -> int:  # noqa: N802
        return int(self._w.state.battery)


class ALAutonomousLife(_Service):
    """The autonomous life state; 'disabled' puts the robot to rest, as on NAOqi."""

    def setState(self, state: str) -> None:  # noqa: N802
        if state not in LIFE_STATES:
            raise RuntimeError(f"ALAutonomousLife::setState: unknown state '{state}'")
        self._w.state.autonomous_life = state
        if state == "disabled":
            self._w.state.awake = False
            self._w.state.posture = "Crouch"
        self._record("autonomous-life", state=state)

    def getState(self) -> str:  # noqa: N802
        return self._w.state.autonomous_life


class ALMemory(_Service):
    """Key/value store and events."""

    def subscriber(self, key: str) -> Subscriber:
        return self._w.subscriber(key)

    def raiseEvent(self, key: str, value: Any) -> None:  # noqa: N802
        self._w.raise_event(key, value)

    def insertData(self, key: str, value: Any) -> None:  # noqa: N802
        self._w.memory[key] = value

    def getData(self, key: str) -> Any:  # noqa: N802
        if key not in self._w.memory:
            raise RuntimeError(f"ALMemory::getData: key '{key}' not found")
        return self._w.memory[key]

    def getDataList(self, prefix: str) -> list[str]:  # noqa: N802
        return sorted(k for k in self._w.memory if prefix in k)


class ALPeoplePerception(_Service):
    """People tracking; the simulator's visitors feed it."""

    def resetPopulation(self) -> None:  # noqa: N802
        self._w.state.people.clear()

    def getTrackedPeople(self) -> list[int]:  # noqa: N802
        return sorted(self._w.state.people)


class ALEngagementZones(_Service):
    """Engagement zone limits (metres); zones themselves come from the visitors."""

    def getFirstLimitDistance(self) -> float:  # noqa: N802
        return 1.5

    def getSecondLimitDistance(self) -> float:  # noqa: N802
        return 2.5


class OnthaalSimulator(_Service):
    """The simulator's control surface: what sensors would see, and faults."""

    def approach(self, track_id: int, zone: int) -> None:
        self._w.approach(int(track_id), int(zone))

    def leave(self, track_id: int) -> None:
        self._w.leave(int(track_id))

    def hear(self, text: str, language: str) -> None:
        self._w.hear(text, _naoqi_language(language))

    def tapTablet(self, element: str) -> None:  # noqa: N802
        self._w.tap_tablet(element)

    def touchHead(self) -> None:  # noqa: N802
        self._w.touch_head("Middle")

    def setBattery(self, percent: float, charging: bool) -> None:  # noqa: N802
        self._w.set_battery(float(percent), bool(charging))

    def dropConnection(self, seconds: float) -> None:  # noqa: N802
        self._w.drop_connection(float(seconds))

    def failService(self, service: str, message: str) -> None:  # noqa: N802
        self._w.fail_service(service, message)

    def slowService(self, service: str, seconds: float) -> None:  # noqa: N802
        self._w.slow_service(service, float(seconds))

    def clearFaults(self) -> None:  # noqa: N802
        self._w.clear_faults()

    def journal(self, since_index: int) -> list[str]:
        return [json.dumps(e, ensure_ascii=False) for e in self._w.journal.since(int(since_index))]

    def subscribedKeys(self) -> list[str]:  # noqa: N802
        return self._w.subscribed_keys()


_SHORT = {"nl": "Dutch", "fr": "French", "en": "English", "de": "German"}


def _naoqi_language(language: str) -> str:
    """Accept 'fr' or 'French'."""
    return _SHORT.get(language, language)


def install_services(world: PepperWorld) -> None:
    """Register every simulated service on ``world`` under its NAOqi name."""
    for cls in (
        ALTextToSpeech,
        ALAnimatedSpeech,
        ALSpeechRecognition,
        ALTabletService,
        ALMotion,
        ALRobotPosture,
        ALLeds,
        ALBattery,
        ALAutonomousLife,
        ALMemory,
        ALPeoplePerception,
        ALEngagementZones,
        OnthaalSimulator,
    ):
        world.add_service(cls.__name__, cls(world))
