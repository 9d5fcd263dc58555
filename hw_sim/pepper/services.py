"""The simulated NAOqi services, with the methods, types and overloads a Pepper has.

Each service keeps its part of :class:`~hw_sim.pepper.world.PepperState`, takes
simulated time where the real one takes time (speech, movement, posture changes), fails
where NAOqi would (moving while resting or charging, unknown postures, languages that
are not installed), and writes what it did to the journal. Methods are called through
:meth:`~hw_sim.pepper.world.PepperWorld.invoke`, on the simulation's event loop, which
checks each call against :mod:`hw_sim.pepper.signatures` first; a method implementing an
overload other than the first is named in that table (``say_in`` is ``say(ss)``).
"""

from __future__ import annotations

import asyncio
import json
import math
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from hw_sim.pepper.world import (
    AUDIO_RATE,
    DEVICE,
    SAFETY_DISTANCE,
    PepperWorld,
    Subscriber,
    speech_seconds,
)

POSTURES = ["Stand", "StandInit", "StandZero", "Crouch"]
LIFE_STATES = ["disabled", "solitary", "interactive", "safeguard"]
ABILITIES = [
    "AutonomousBlinking",
    "BackgroundMovement",
    "BasicAwareness",
    "ListeningMovement",
    "SpeakingMovement",
]
LED_GROUPS = ["AllLeds", "FaceLeds", "ChestLeds", "EarLeds", "LeftFaceLeds", "RightFaceLeds"]
COLOUR_NAMES = {
    "white": 0xFFFFFF,
    "red": 0xFF0000,
    "green": 0x00FF00,
    "blue": 0x0000FF,
    "yellow": 0xFFFF00,
    "magenta": 0xFF00FF,
    "cyan": 0x00FFFF,
}
TTS_PARAMETERS = {"speed": 100.0, "pitchShift": 1.0, "doubleVoice": 0.0, "doubleVoiceLevel": 0.0}
ROBOT_IP = "198.18.0.1"  # the head, as the tablet reaches it
MAX_SPEED = 0.35  # m/s, Pepper's default maximum walking speed


class _Service:
    def __init__(self, world: PepperWorld) -> None:
        self._w = world

    def _record(self, action: str, **fields: Any) -> None:
        self._w.journal.record(DEVICE, action, **fields)

    def _installed(self, owner: str, language: str) -> None:
        if language not in self._w.settings.languages:
            raise RuntimeError(f"{owner}: language '{language}' is not installed")


class ALTextToSpeech(_Service):
    """Plain speech; ``stopAll`` cuts the current sentence short."""

    def __init__(self, world: PepperWorld) -> None:
        super().__init__(world)
        self._parameters = dict(TTS_PARAMETERS)
        self._volume = 1.0

    async def say(self, text: str) -> None:
        await self.say_in(text, self._w.state.language)

    async def say_in(self, text: str, language: str) -> None:
        """``say(text, language)``: this sentence in ``language``, then back as it was."""
        self._installed("ALTextToSpeech::say", language)
        self._record("say", text=text, language=language)
        await self._w.speak(speech_seconds(text), text)

    def setLanguage(self, language: str) -> None:  # noqa: N802
        self._installed("ALTextToSpeech::setLanguage", language)
        self._w.state.language = language
        self._record("set-language", language=language)

    def getLanguage(self) -> str:  # noqa: N802
        return self._w.state.language

    def getAvailableLanguages(self) -> list[str]:  # noqa: N802
        return list(self._w.settings.languages)

    def stopAll(self) -> None:  # noqa: N802
        self._record("stop-speech", interrupted=self._w.stop_speaking())

    def setParameter(self, name: str, value: float) -> None:  # noqa: N802
        if name not in self._parameters:
            raise RuntimeError(f"ALTextToSpeech::setParameter: unknown parameter '{name}'")
        self._parameters[name] = value

    def getParameter(self, name: str) -> float:  # noqa: N802
        if name not in self._parameters:
            raise RuntimeError(f"ALTextToSpeech::getParameter: unknown parameter '{name}'")
        return self._parameters[name]

    def setVolume(self, volume: float) -> None:  # noqa: N802
        if not 0.0 <= volume <= 1.0:
            raise RuntimeError("ALTextToSpeech::setVolume: volume must be in [0, 1]")
        self._volume = volume

    def getVolume(self) -> float:  # noqa: N802
        return self._volume


class ALAnimatedSpeech(_Service):
    """Speech with gestures (none while resting, as on a real robot)."""

    MODES = ("disabled", "random", "contextual")

    async def say(self, text: str) -> None:
        await self.say_configured(text, {})

    async def say_configured(self, text: str, configuration: Any) -> None:
        """``say(text, configuration)``: e.g. ``{"bodyLanguageMode": "disabled"}``."""
        if not isinstance(configuration, dict):
            raise RuntimeError("ALAnimatedSpeech::say: the configuration must be a map")
        mode = configuration.get("bodyLanguageMode", "contextual")
        if mode not in self.MODES:
            raise RuntimeError(f"ALAnimatedSpeech::say: unknown bodyLanguageMode '{mode}'")
        gestures = self._w.state.awake and mode != "disabled"
        language = self._w.state.language
        self._record("animated-say", text=text, language=language, gestures=gestures)
        await self._w.speak(speech_seconds(text), text)


class ALSpeechRecognition(_Service):
    """The recogniser: a vocabulary, word spotting, subscribers, pause (see the world)."""

    def __init__(self, world: PepperWorld) -> None:
        super().__init__(world)
        self._parameters = {"Sensitivity": 0.5, "NbHypotheses": 1.0}

    def setLanguage(self, language: str) -> None:  # noqa: N802
        self._installed("ALSpeechRecognition::setLanguage", language)
        self._w.state.asr_language = language
        self._record("asr-language", language=language)

    def getLanguage(self) -> str:  # noqa: N802
        return self._w.state.asr_language

    def getAvailableLanguages(self) -> list[str]:  # noqa: N802
        return list(self._w.settings.languages)

    def setVocabulary(self, phrases: list[str], word_spotting: bool) -> None:  # noqa: N802
        state = self._w.state
        if state.asr_subscribers and not state.asr_paused:
            raise RuntimeError("ALSpeechRecognition::setVocabulary: pause the engine first")
        state.asr_vocabulary = list(phrases)
        state.asr_word_spotting = word_spotting
        self._record("asr-vocabulary", phrases=len(phrases), word_spotting=word_spotting)

    def pause(self, paused: bool) -> None:
        self._w.state.asr_paused = paused

    def subscribe(self, name: str) -> None:
        if not self._w.state.asr_vocabulary:
            raise RuntimeError("ALSpeechRecognition::subscribe: no vocabulary was set")
        self._w.state.asr_subscribers.add(name)
        self._record("asr-subscribe", subscriber=name)

    def unsubscribe(self, name: str) -> None:
        if name not in self._w.state.asr_subscribers:
            raise RuntimeError(f"ALSpeechRecognition::unsubscribe: '{name}' is not subscribed")
        self._w.state.asr_subscribers.discard(name)

    def setParameter(self, name: str, value: float) -> None:  # noqa: N802
        if name not in self._parameters:
            raise RuntimeError(f"ALSpeechRecognition::setParameter: unknown '{name}'")
        self._parameters[name] = value
        if name == "NbHypotheses":
            self._w.state.asr_hypotheses = max(1, int(value))

    def getParameter(self, name: str) -> float:  # noqa: N802
        if name not in self._parameters:
            raise RuntimeError(f"ALSpeechRecognition::getParameter: unknown '{name}'")
        return self._parameters[name]

    def setAudioExpression(self, enabled: bool) -> None:  # noqa: N802
        pass

    def setVisualExpression(self, enabled: bool) -> None:  # noqa: N802
        pass


#: Seconds the simulated tablet waits for a page (a real webview gives up after a while).
PAGE_TIMEOUT = 2.0


def fetch_status(url: str) -> int | str:
    """The HTTP status of ``url`` (redirects followed), or why it could not be reached."""
    request = urllib.request.Request(url, headers={"User-Agent": "Onthaal simulated tablet"})
    try:
        with urllib.request.urlopen(request, timeout=PAGE_TIMEOUT) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"unreachable ({reason})"


def _loadable(url: str) -> bool:
    """Whether the tablet's browser can load ``url`` at all (a web or data address)."""
    parts = urlsplit(url)
    if parts.scheme == "data":
        return bool(parts.path)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class ALTabletService(_Service):
    """The tablet on Pepper's chest."""

    def __init__(self, world: PepperWorld) -> None:
        super().__init__(world)
        self._brightness = 1.0

    async def showWebview(self, url: str) -> bool:  # noqa: N802
        """ "False if the url is not found or unreachable"."""
        if not await self.loadUrl(url):
            return False
        return self.show_last()

    def show_last(self) -> bool:
        """``showWebview()``: show the page loaded last (False if there is none)."""
        url = self._w.state.loaded_url
        if url is None:
            return False
        self._w.state.tablet = ("webview", url)
        self._record("tablet-show", kind="webview", url=url[:200])
        return True

    async def loadUrl(self, url: str) -> bool:  # noqa: N802
        """Load ``url`` as the tablet's browser would: a web page is fetched over HTTP.

        Not found (any status but 200) or unreachable is False, and journalled with the
        reason, as NAOqi documents; the fetch runs on a worker thread, off the loop.
        """
        if not _loadable(url):
            self._record("tablet-refused", url=url[:200], reason="not a web or data address")
            return False
        if self._w.settings.tablet_fetches and urlsplit(url).scheme in ("http", "https"):
            status = await asyncio.to_thread(fetch_status, url)
            if status != 200:
                self._record("tablet-refused", url=url[:200], reason=str(status))
                return False
        self._w.state.loaded_url = url
        return True

    def reloadPage(self, bypass_cache: bool) -> None:  # noqa: N802
        self._record("tablet-reload")

    def hideWebview(self) -> bool:  # noqa: N802
        showing = self._w.state.tablet is not None and self._w.state.tablet[0] == "webview"
        self.hide()
        return showing

    def executeJS(self, script: str) -> None:  # noqa: N802
        self._record("tablet-js", chars=len(script))

    def showImage(self, url: str) -> bool:  # noqa: N802
        """ "False if it can't ping the URL or if it's not a image"."""
        if not _loadable(url):
            return False
        self._w.state.tablet = ("image", url)
        self._record("tablet-show", kind="image", url=url[:200])
        return True

    def hideImage(self) -> None:  # noqa: N802
        self.hide()

    def hide(self) -> None:
        self._w.state.tablet = None
        self._record("tablet-hide")

    def robotIp(self) -> str:  # noqa: N802
        return ROBOT_IP

    def setBrightness(self, brightness: float) -> bool:  # noqa: N802
        if not 0.0 < brightness <= 1.0:
            return False
        self._brightness = brightness
        return True

    def getBrightness(self) -> float:  # noqa: N802
        return self._brightness

    def resetTablet(self) -> None:  # noqa: N802
        self._w.state.loaded_url = None
        self.hide()


class ALMotion(_Service):
    """Stiffness and walking, refused where NAOqi refuses them.

    Moving a resting robot fails; while charging (docked or plugged in) or with the
    power hatch open every move is refused; a move stops at the safety distance from an
    obstacle and returns False, raising ``ALMotion/MoveFailed``.
    """

    def __init__(self, world: PepperWorld) -> None:
        super().__init__(world)
        self._protection = {"Move": True, "Arms": True}

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

    async def moveTo(self, x: float, y: float, theta: float) -> bool:  # noqa: N802
        return await self._move(x, y, theta, MAX_SPEED)

    async def moveTo_configured(  # noqa: N802
        self, x: float, y: float, theta: float, config: Any
    ) -> bool:
        """``moveTo(x, y, theta, moveConfig)``: ``[["MaxVelXY", 0.2], ...]``."""
        speed = MAX_SPEED
        for pair in config or []:
            if not isinstance(pair, list | tuple) or len(pair) != 2 or not isinstance(pair[0], str):
                raise RuntimeError("ALMotion::moveTo: moveConfig must be [[name, value], ...]")
            if pair[0] == "MaxVelXY":
                speed = min(MAX_SPEED, max(0.01, float(pair[1])))
        return await self._move(x, y, theta, speed)

    async def moveTo_timed(  # noqa: N802
        self, x: float, y: float, theta: float, seconds: float
    ) -> bool:
        """``moveTo(x, y, theta, time)`` (Pepper only): arrive after ``seconds``."""
        if seconds <= 0:
            raise RuntimeError("ALMotion::moveTo: the time must be positive")
        return await self._move(x, y, theta, min(MAX_SPEED, math.hypot(x, y) / seconds or 0.01))

    def _refusal(self) -> str | None:
        if self._w.state.hatch_open:
            return "Power hatch open"
        if self._w.state.charging:
            return "Robot on charging station"
        return None

    def _failed(self, cause: str, started: bool, obstacle: list[float] | None) -> bool:
        self._w.raise_event("ALMotion/MoveFailed", [cause, 1 if started else 0, obstacle])
        self._record("move-failed", cause=cause)
        return False

    async def _move(self, x: float, y: float, theta: float, speed: float) -> bool:
        if not self._w.state.awake:
            raise RuntimeError("ALMotion::moveTo: the robot is not awake (call wakeUp first)")
        refusal = self._refusal()
        if refusal is not None:
            return self._failed(refusal, False, None)
        blocked = self._w.state.obstacle
        if blocked is not None and x > 0 and x > blocked - SAFETY_DISTANCE:
            x = max(0.0, blocked - SAFETY_DISTANCE)
        else:
            blocked = None
        self._record("move", x=x, y=y, theta=theta, speed=speed)
        self._w.state.moving = True
        try:
            await self._w.clock.sleep(math.hypot(x, y) / speed + abs(theta) / 0.5)
        finally:
            interrupted = not self._w.state.moving
            self._w.state.moving = False
        px, py, ptheta = self._w.state.position
        self._w.state.position = (px + x, py + y, ptheta + theta)
        if blocked is not None:
            return self._failed("Safety", True, [blocked, 0.0])
        return not interrupted

    def moveToward(self, x: float, y: float, theta: float) -> None:  # noqa: N802
        self.moveToward_configured(x, y, theta, [])

    def moveToward_configured(  # noqa: N802
        self, x: float, y: float, theta: float, config: Any
    ) -> None:
        if any(abs(v) > 1.0 for v in (x, y, theta)):
            raise RuntimeError("ALMotion::moveToward: velocities are fractions in [-1, 1]")
        if not self._w.state.awake:
            raise RuntimeError("ALMotion::moveToward: the robot is not awake")
        if (refusal := self._refusal()) is not None:
            self._failed(refusal, False, None)
            return
        self._w.state.moving = any((x, y, theta))
        self._record("move-toward", x=x, y=y, theta=theta)

    def move(self, x: float, y: float, theta: float) -> None:
        self.moveToward(
            max(-1.0, min(1.0, x / MAX_SPEED)), max(-1.0, min(1.0, y / MAX_SPEED)), theta / 1.0
        )

    def stopMove(self) -> None:  # noqa: N802
        self._w.state.moving = False
        self._record("stop-move")

    def moveIsActive(self) -> bool:  # noqa: N802
        return self._w.state.moving

    def getRobotPosition(self, use_sensors: bool) -> list[float]:  # noqa: N802
        return list(self._w.state.position)

    async def angleInterpolationWithSpeed(  # noqa: N802
        self, names: Any, angles: Any, speed: float
    ) -> None:
        if not self._w.state.awake:
            raise RuntimeError("ALMotion::angleInterpolationWithSpeed: the robot is not awake")
        if not 0 < speed <= 1:
            raise RuntimeError("ALMotion::angleInterpolationWithSpeed: speed must be in (0, 1]")
        self._record("joints", names=names, angles=angles, speed=speed)
        await self._w.clock.sleep(1.0 / max(speed, 0.05))

    def setExternalCollisionProtectionEnabled(  # noqa: N802
        self, name: str, enabled: bool
    ) -> None:
        names = list(self._protection) if name == "All" else [name]
        if any(n not in self._protection for n in names):
            raise RuntimeError(f"ALMotion::setExternalCollisionProtectionEnabled: '{name}'")
        for n in names:
            self._protection[n] = enabled

    def getExternalCollisionProtectionEnabled(self, name: str) -> bool:  # noqa: N802
        if name == "All":
            return all(self._protection.values())
        if name not in self._protection:
            raise RuntimeError(f"ALMotion::getExternalCollisionProtectionEnabled: '{name}'")
        return self._protection[name]


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

    def getPostureList(self) -> list[str]:  # noqa: N802
        return list(POSTURES)

    def getPostureFamily(self) -> str:  # noqa: N802
        return "Standing" if self._w.state.posture.startswith("Stand") else "Crouching"


class ALLeds(_Service):
    """LED groups; the face LEDs are the eyes."""

    async def fadeRGB(self, name: str, rgb: int, duration: float) -> None:  # noqa: N802
        """``fadeRGB(name, 0x00RRGGBB, duration)``."""
        if name not in LED_GROUPS:
            raise RuntimeError(f"ALLeds::fadeRGB: unknown LED group '{name}'")
        if not 0 <= rgb <= 0xFFFFFF:
            raise RuntimeError(f"ALLeds::fadeRGB: colour {rgb:#x} is not 0x00RRGGBB")
        if name in ("FaceLeds", "AllLeds"):
            self._w.state.eyes = rgb
        self._record("leds", group=name, rgb=f"#{rgb:06x}", duration=duration)
        await self._w.clock.sleep(max(0.0, duration))

    async def fadeRGB_named(self, name: str, colour: str, duration: float) -> None:  # noqa: N802
        """``fadeRGB(name, colorName, duration)``: "white", "red", "green", ..."""
        if colour not in COLOUR_NAMES:
            raise RuntimeError(f"ALLeds::fadeRGB: unknown colour name '{colour}'")
        await self.fadeRGB(name, COLOUR_NAMES[colour], duration)

    async def fadeRGB_components(  # noqa: N802
        self, name: str, red: float, green: float, blue: float, duration: float
    ) -> None:
        """``fadeRGB(name, r, g, b, duration)`` with each component in [0, 1]."""
        if not all(0.0 <= c <= 1.0 for c in (red, green, blue)):
            raise RuntimeError("ALLeds::fadeRGB: components must be in [0, 1]")
        rgb = (round(red * 255) << 16) | (round(green * 255) << 8) | round(blue * 255)
        await self.fadeRGB(name, rgb, duration)

    def reset(self, name: str) -> None:
        if name not in LED_GROUPS:
            raise RuntimeError(f"ALLeds::reset: unknown LED group '{name}'")
        if name in ("FaceLeds", "AllLeds"):
            self._w.state.eyes = 0xFFFFFF

    def listGroups(self) -> list[str]:  # noqa: N802
        return list(LED_GROUPS)


class ALBattery(_Service):
    """Battery charge in percent."""

    def getBatteryCharge(self) -> int:  # noqa: N802
        return int(self._w.state.battery)


class ALAutonomousLife(_Service):
    """Autonomous Life: a state machine with NAOqi's manual-change rules.

    "Manual change from interactive to solitary state will fail"; every change resets
    language, LEDs and tablet (see :meth:`PepperWorld.set_life`).
    """

    def __init__(self, world: PepperWorld) -> None:
        super().__init__(world)
        self._abilities = dict.fromkeys(ABILITIES, True)
        self._safeguards: dict[str, bool] = {}

    def setState(self, state: str) -> None:  # noqa: N802
        if state not in LIFE_STATES:
            raise RuntimeError(f"ALAutonomousLife::setState: unknown state '{state}'")
        current = self._w.state.autonomous_life
        if current == "interactive" and state == "solitary":
            raise RuntimeError(
                "ALAutonomousLife::setState: manual change from interactive to solitary "
                "state is not allowed"
            )
        if state == current:
            return
        self._w.state.focus = "" if state != "interactive" else self._w.state.focus
        self._w.set_life(state, why="setState")

    def getState(self) -> str:  # noqa: N802
        return self._w.state.autonomous_life

    def focusedActivity(self) -> str:  # noqa: N802
        return self._w.state.focus

    def stopFocus(self) -> None:  # noqa: N802
        self._w.stop_focus("stopFocus")

    def switchFocus(self, activity: str) -> None:  # noqa: N802
        raise RuntimeError(f"ALAutonomousLife::switchFocus: no installed activity '{activity}'")

    def setAutonomousAbilityEnabled(self, ability: str, enabled: bool) -> None:  # noqa: N802
        names = ABILITIES if ability == "All" else [ability]
        if any(name not in self._abilities for name in names):
            raise RuntimeError(f"ALAutonomousLife::setAutonomousAbilityEnabled: '{ability}'")
        for name in names:
            self._abilities[name] = enabled
        self._record("autonomous-ability", ability=ability, enabled=enabled)

    def getAutonomousAbilityEnabled(self, ability: str) -> bool:  # noqa: N802
        if ability not in self._abilities:
            raise RuntimeError(f"ALAutonomousLife::getAutonomousAbilityEnabled: '{ability}'")
        return self._abilities[ability]

    def stopMonitoringLaunchpadConditions(self) -> None:  # noqa: N802
        self._w.state.launchpad = False
        self._record("launchpad", monitoring=False)

    def isMonitoringLaunchpadConditions(self) -> bool:  # noqa: N802
        return self._w.state.launchpad

    def setSafeguardEnabled(self, name: str, enabled: bool) -> None:  # noqa: N802
        self._safeguards[name] = enabled


class ALMemory(_Service):
    """Key/value store and events."""

    def __init__(self, world: PepperWorld) -> None:
        super().__init__(world)
        self._declared: set[str] = set()

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

    def getDataList(self, part: str) -> list[str]:  # noqa: N802
        return sorted(k for k in self._w.memory if part in k)

    def declareEvent(self, key: str) -> None:  # noqa: N802
        self._declared.add(key)

    def getEventList(self) -> list[str]:  # noqa: N802
        return sorted({*self._declared, *self._w.subscribed_keys()})

    def subscribeToEvent(self, key: str, module: str, method: str) -> None:  # noqa: N802
        # The old API calls back a module registered on the robot's broker; no client
        # module exists here, as none would on a robot for a plain qi client.
        raise RuntimeError(f"ALMemory::subscribeToEvent: module '{module}' not found")

    def unsubscribeToEvent(self, key: str, module: str) -> None:  # noqa: N802
        raise RuntimeError(f"ALMemory::unsubscribeToEvent: '{module}' is not subscribed")

    def removeData(self, key: str) -> None:  # noqa: N802
        self._w.memory.pop(key, None)


class _Extractor(_Service):
    """An extractor computes (and raises its events) only while someone subscribes."""

    def _subscribers(self) -> set[str]:
        raise NotImplementedError

    def subscribe(self, name: str) -> None:
        self._subscribers().add(name)
        self._record("extractor", service=type(self).__name__, subscriber=name, on=True)

    def subscribe_every(self, name: str, period: int, precision: float) -> None:
        """``subscribe(name, period, precision)``: the period and precision are kept."""
        self.subscribe(name)

    def unsubscribe(self, name: str) -> None:
        if name not in self._subscribers():
            raise RuntimeError(f"{type(self).__name__}::unsubscribe: '{name}' not subscribed")
        self._subscribers().discard(name)
        self._record("extractor", service=type(self).__name__, subscriber=name, on=False)


class ALPeoplePerception(_Extractor):
    """People tracking; the simulator's visitors feed it."""

    def _subscribers(self) -> set[str]:
        return self._w.state.perception

    def __init__(self, world: PepperWorld) -> None:
        super().__init__(world)
        self._range = 3.5

    def resetPopulation(self) -> None:  # noqa: N802
        self._w.reset_population()

    def getTimeBeforePersonDisappears(self) -> float:  # noqa: N802
        return self._w.state.time_before_disappears

    def setTimeBeforePersonDisappears(self, seconds: float) -> None:  # noqa: N802
        if seconds < 0:
            raise RuntimeError("ALPeoplePerception::setTimeBeforePersonDisappears: < 0")
        self._w.state.time_before_disappears = seconds

    def getTimeBeforeVisiblePersonDisappears(self) -> float:  # noqa: N802
        return self._w.state.time_before_visible_disappears

    def setTimeBeforeVisiblePersonDisappears(self, seconds: float) -> None:  # noqa: N802
        if seconds < 0:
            raise RuntimeError("ALPeoplePerception::setTimeBeforeVisiblePersonDisappears: < 0")
        self._w.state.time_before_visible_disappears = seconds

    def getMaximumDetectionRange(self) -> float:  # noqa: N802
        return self._range

    def setMaximumDetectionRange(self, metres: float) -> None:  # noqa: N802
        if metres <= 0:
            raise RuntimeError("ALPeoplePerception::setMaximumDetectionRange: must be > 0")
        self._range = metres


class ALEngagementZones(_Extractor):
    """Engagement zones (metres, degrees); the zones themselves come from the visitors."""

    def _subscribers(self) -> set[str]:
        return self._w.state.zones

    def __init__(self, world: PepperWorld) -> None:
        super().__init__(world)
        self._first, self._second, self._angle = 1.5, 2.5, 90.0

    def getFirstLimitDistance(self) -> float:  # noqa: N802
        return self._first

    def setFirstLimitDistance(self, metres: float) -> bool:  # noqa: N802
        # "must be positive and smaller than the current value of SecondDistance"
        if not 0 < metres < self._second:
            return False
        self._first = metres
        return True

    def getSecondLimitDistance(self) -> float:  # noqa: N802
        return self._second

    def setSecondLimitDistance(self, metres: float) -> bool:  # noqa: N802
        if metres <= self._first:
            return False
        self._second = metres
        return True

    def getLimitAngle(self) -> float:  # noqa: N802
        return self._angle

    def setLimitAngle(self, degrees: float) -> bool:  # noqa: N802
        if not 0 < degrees <= 180:
            return False
        self._angle = degrees
        return True


class ALBasicAwareness(_Service):
    """Basic Awareness: it turns the head (and with some modes the body) to people."""

    ENGAGEMENT = ("Unengaged", "FullyEngaged", "SemiEngaged")
    TRACKING = ("Head", "BodyRotation", "WholeBody", "MoveContextually")

    def __init__(self, world: PepperWorld) -> None:
        super().__init__(world)
        self._enabled, self._paused = True, False
        self._engagement, self._tracking = "Unengaged", "Head"

    def setEnabled(self, enabled: bool) -> None:  # noqa: N802
        self._enabled = enabled

    def isEnabled(self) -> bool:  # noqa: N802
        return self._enabled

    def pauseAwareness(self) -> None:  # noqa: N802
        self._paused = True

    def resumeAwareness(self) -> None:  # noqa: N802
        self._paused = False

    def isAwarenessPaused(self) -> bool:  # noqa: N802
        return self._paused

    def setEngagementMode(self, mode: str) -> None:  # noqa: N802
        if mode not in self.ENGAGEMENT:
            raise RuntimeError(f"ALBasicAwareness::setEngagementMode: unknown mode '{mode}'")
        self._engagement = mode

    def getEngagementMode(self) -> str:  # noqa: N802
        return self._engagement

    def setTrackingMode(self, mode: str) -> None:  # noqa: N802
        if mode not in self.TRACKING:
            raise RuntimeError(f"ALBasicAwareness::setTrackingMode: unknown mode '{mode}'")
        self._tracking = mode

    def getTrackingMode(self) -> str:  # noqa: N802
        return self._tracking

    def engagePerson(self, person: int) -> bool:  # noqa: N802
        return person in self._w.state.people


class ALTouch(_Service):
    """Touch sensors (the head's three, the bumpers and the hands)."""

    SENSORS = ("Head/Touch/Front", "Head/Touch/Middle", "Head/Touch/Rear", "Bumper/Back")

    def getSensorList(self) -> list[str]:  # noqa: N802
        return list(self.SENSORS)

    def getStatus(self) -> Any:  # noqa: N802
        return [[name, False] for name in self.SENSORS]


class ALAudioDevice(_Service):
    """The loudspeakers' volume, and the microphones for remote clients.

    A client names itself, sets its preferences (16 kHz from one microphone: what the
    simulator's synthesised visitors give) and subscribes; the robot then calls that
    client's own ``processRemote(nbOfChannels, nbOfSamplesByChannel, timeStamp, buffer)``
    with the audio (``audio/alaudiodevice-api.html``, "remote" processing).
    """

    def setClientPreferences(  # noqa: N802
        self, name: str, rate: int, channels: int, deinterleaved: int
    ) -> None:
        if rate != AUDIO_RATE or channels not in (1, 2, 3, 4):
            raise RuntimeError(
                "ALAudioDevice::setClientPreferences: the simulated robot gives 16000 Hz "
                "from one microphone (channels 1 to 4)"
            )
        self._w.state.audio_clients[name] = (rate, channels)

    def subscribe(self, name: str) -> None:
        if name not in self._w.state.audio_clients:
            raise RuntimeError(f"ALAudioDevice::subscribe: {name} set no preferences")
        self._w.state.audio_subscribers.add(name)
        self._record("audio-subscribe", client=name)

    def unsubscribe(self, name: str) -> None:
        self._w.state.audio_subscribers.discard(name)
        self._record("audio-unsubscribe", client=name)

    def __init__(self, world: PepperWorld) -> None:
        super().__init__(world)
        self._volume, self._muted = 60, False

    def setOutputVolume(self, volume: int) -> None:  # noqa: N802
        if not 0 <= volume <= 100:
            raise RuntimeError("ALAudioDevice::setOutputVolume: volume must be in [0, 100]")
        self._volume = volume

    def getOutputVolume(self) -> int:  # noqa: N802
        return self._volume

    def muteAudioOut(self, muted: bool) -> None:  # noqa: N802
        self._muted = muted

    def isAudioOutMuted(self) -> bool:  # noqa: N802
        return self._muted


class ALRecharge(_Service):
    """The charging station: going there and leaving it (NAOqi's error codes)."""

    OK, ON_STATION, NOT_AWAKE = 0, 3, 8
    IDLE = 0

    async def goToStation(self) -> int:  # noqa: N802
        if self._w.state.charging:
            return self.ON_STATION
        if not self._w.state.awake:
            return self.NOT_AWAKE
        await self._w.clock.sleep(40.0)  # "less than a minute in normal cases"
        self._w.set_battery(self._w.state.battery, True)
        self._w.raise_event("ALBattery/ConnectedToChargingStation", True)
        self._record("docked")
        return self.OK

    async def leaveStation(self) -> int:  # noqa: N802
        """The only way to move while on the station."""
        if not self._w.state.charging:
            return self.OK
        await self._w.clock.sleep(5.0)
        self._w.set_battery(self._w.state.battery, False)
        self._w.raise_event("ALBattery/ConnectedToChargingStation", False)
        self._record("undocked")
        return self.OK

    def getStatus(self) -> int:  # noqa: N802
        return self.IDLE


class ALSystem(_Service):
    """The robot's name and software."""

    def robotName(self) -> str:  # noqa: N802
        return "onthaal-sim"

    def systemVersion(self) -> str:  # noqa: N802
        return "2.5.10.7"

    def timezone(self) -> str:
        return "Europe/Brussels"


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

    def setHatchOpen(self, open_: bool) -> None:  # noqa: N802
        self._w.state.hatch_open = open_
        self._w.raise_event("BatteryTrapIsOpen", open_)

    def setObstacle(self, metres: float) -> None:  # noqa: N802
        """Something ``metres`` straight ahead (0 or less: nothing in the way)."""
        self._w.state.obstacle = metres if metres > 0 else None

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
        ALBasicAwareness,
        ALTouch,
        ALAudioDevice,
        ALRecharge,
        ALSystem,
        OnthaalSimulator,
    ):
        world.add_service(cls.__name__, cls(world))
