"""The robot's hardware abstraction layer: what Onthaal can ask of a Pepper-class robot.

One small :class:`RobotHAL` protocol, implemented by :class:`robot.naoqi.NaoqiRobot`
over libqi (to a real robot or to the simulated one in ``hw_sim/pepper``). Behaviours
only ever see this protocol. Everything the robot senses arrives as a typed event on
:meth:`RobotHAL.events`.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol, Self

Language = Literal["nl", "fr", "en", "de"]
Zone = Literal[1, 2, 3]

#: Movement bounds: Onthaal turns and shuffles, it never drives across the hall.
MAX_STEP_METRES = 1.0
MAX_TURN_RADIANS = 3.1416
MAX_SPEED_M_S = 0.35
MAX_POINT_RADIANS = 1.5


class Posture(enum.StrEnum):
    """Predefined NAOqi postures a Pepper supports."""

    STAND = "Stand"
    STAND_INIT = "StandInit"
    STAND_ZERO = "StandZero"
    CROUCH = "Crouch"


class HeadPart(enum.StrEnum):
    """The three tactile sensors on Pepper's head."""

    FRONT = "front"
    MIDDLE = "middle"
    REAR = "rear"


# -- errors ---------------------------------------------------------------------------


class RobotError(Exception):
    """Anything that went wrong talking to the robot."""


class RobotDisconnected(RobotError):
    """The robot link is down; the call was not made. The link reconnects by itself."""


class RobotTimeout(RobotError):
    """The robot did not answer in time."""


class RobotCommandFailed(RobotError):
    """The robot answered with an error (e.g. moving while resting)."""

    def __init__(self, service: str, method: str, reason: str) -> None:
        super().__init__(f"{service}.{method} failed: {reason}")
        self.service = service
        self.method = method
        self.reason = reason


class LanguageUnavailable(RobotError):
    """The robot has no voice (or recogniser) installed for this language."""

    def __init__(self, language: str) -> None:
        super().__init__(f"no voice installed on the robot for {language!r}")
        self.language = language


class MoveBlocked(RobotError):
    """A move stopped short or was refused (an obstacle, the charger, the hatch)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"move did not finish: {reason}")
        self.reason = reason


class InvalidCommand(RobotError, ValueError):
    """The command is out of bounds (too far, too fast, unknown posture); not sent."""


# -- events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonApproached:
    """Someone entered engagement zone 1 (closest), 2 or 3 (furthest)."""

    track_id: str  # anonymous, only valid while the person is tracked
    zone: Zone


@dataclass(frozen=True)
class PersonLeft:
    """A tracked person is no longer seen."""

    track_id: str


@dataclass(frozen=True)
class PersonOutOfSight:
    """A tracked person is not seen right now (NAOqi drops them a few seconds later).

    Seen in zone 1 just before, and another id appearing there at once, it is most
    likely the same person found again under a new id.
    """

    track_id: str


@dataclass(frozen=True)
class PersonInSight:
    """A tracked person who was out of sight is seen again (same id)."""

    track_id: str


@dataclass(frozen=True)
class UtteranceHeard:
    """Speech recognised by the robot (or a question typed on its tablet)."""

    text: str
    language: Language
    confidence: float
    # A phrase of the robot's vocabulary, spotted (NAOqi's recogniser, or a grammar made
    # of those phrases), not the visitor's sentence: reading its meaning adds nothing.
    spotted: bool = False


@dataclass(frozen=True)
class TabletTouched:
    """An element on the tablet page was tapped (the element's id, e.g. ``lang-fr``)."""

    element: str


@dataclass(frozen=True)
class HeadTouched:
    """A tactile sensor on the head was pressed."""

    part: HeadPart


@dataclass(frozen=True)
class BatteryChanged:
    """Battery charge (percent) or charging state changed."""

    percent: int
    charging: bool


@dataclass(frozen=True)
class ConnectionLost:
    """The link to the robot dropped; calls fail fast with RobotDisconnected until restored."""

    reason: str


@dataclass(frozen=True)
class ConnectionRestored:
    """The link is up (first connection or back after a drop), every subscription in place."""


RobotEvent = (
    PersonApproached
    | PersonLeft
    | PersonOutOfSight
    | PersonInSight
    | UtteranceHeard
    | TabletTouched
    | HeadTouched
    | BatteryChanged
    | ConnectionLost
    | ConnectionRestored
)


@dataclass(frozen=True)
class BatteryState:
    """Battery charge in percent and whether the robot is on its charger."""

    percent: int
    charging: bool


class EventStream(Protocol):
    """A subscription to the robot's events; close it (or leave ``async with``) when done."""

    def __aiter__(self) -> AsyncIterator[RobotEvent]:
        """Iterate over events as they arrive."""
        ...

    async def next(self, timeout: float | None = None) -> RobotEvent:
        """The next event; ``TimeoutError`` after ``timeout`` real seconds."""
        ...

    async def __aenter__(self) -> Self:
        """Return the stream itself."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Unsubscribe."""
        ...

    def close(self) -> None:
        """Unsubscribe; further events are not delivered."""
        ...


class RobotHAL(Protocol):
    """What behaviours may ask of the robot. Every call is a coroutine.

    Calls raise :class:`RobotDisconnected` at once while the link is down,
    :class:`InvalidCommand` for out-of-bounds requests (nothing is sent), and
    :class:`RobotCommandFailed` when the robot refuses.
    """

    @property
    def connected(self) -> bool:
        """Whether the link to the robot is up."""
        ...

    def events(self) -> EventStream:
        """Subscribe to everything the robot senses, from now on."""
        ...

    @property
    def languages(self) -> frozenset[str]:
        """The languages the robot can speak (Onthaal's codes), as read at connect."""
        ...

    def listen_for(self, vocabulary: Mapping[str, Sequence[str]]) -> None:
        """The phrases the robot's recogniser spots, per language (before connecting)."""
        ...

    async def say(self, text: str, language: Language) -> None:
        """Speak ``text`` in ``language``; returns when the robot finished speaking."""
        ...

    async def animated_say(self, text: str, language: Language) -> None:
        """Speak with gestures (ALAnimatedSpeech); returns when finished."""
        ...

    async def show_url(self, url: str) -> None:
        """Show a web page on the tablet."""
        ...

    async def show_image(self, url: str) -> None:
        """Show an image on the tablet."""
        ...

    async def show_html(self, html: str) -> None:
        """Show an HTML document on the tablet."""
        ...

    async def hide_tablet(self) -> None:
        """Clear the tablet (back to its default screen)."""
        ...

    async def stop_speech(self) -> None:
        """Stop speaking at once (the current sentence is cut)."""
        ...

    async def point(self, direction: float) -> None:
        """Point an arm towards ``direction`` (radians, positive: left) and lower it again.

        Bounded to a quarter turn either side; the robot does not drive.
        """
        ...

    async def move(self, x: float, y: float, theta: float, speed: float = 0.2) -> None:
        """Move ``x`` metres forward, ``y`` left and turn ``theta`` radians (bounded)."""
        ...

    async def turn(self, theta: float) -> None:
        """Turn on the spot by ``theta`` radians (positive: to the left)."""
        ...

    async def stop_motion(self) -> None:
        """Stop any movement at once."""
        ...

    async def go_to_posture(self, posture: Posture, speed: float = 0.6) -> None:
        """Go to a predefined posture at ``speed`` (fraction of max, 0-1)."""
        ...

    async def wake_up(self) -> None:
        """Turn motors on and stand up."""
        ...

    async def rest(self) -> None:
        """Go to a safe resting posture and turn motors off."""
        ...

    async def set_eyes(self, rgb: int, duration: float = 0.3) -> None:
        """Fade the eye LEDs to colour ``0xRRGGBB`` over ``duration`` seconds."""
        ...

    async def battery(self) -> BatteryState:
        """Current battery charge and charging state."""
        ...
