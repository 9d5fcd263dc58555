"""``NaoqiRobot``: the :class:`~robot.hal.RobotHAL` over libqi, for a real Pepper.

It speaks to the NAOqi services a Pepper really has (ALTextToSpeech, ALAnimatedSpeech,
ALTabletService, ALMotion, ALRobotPosture, ALLeds, ALBattery, ALAutonomousLife,
ALSpeechRecognition, ALPeoplePerception, ALEngagementZones) with their typed overloads,
and subscribes to the real ALMemory event keys. The same code drives the simulated
Pepper in ``hw_sim/pepper``, which refuses what NAOqi 2.5 refuses.

On a robot, Autonomous Life shares the robot with Onthaal. On connect the link reads its
state and focus, asks for the configured state without failing when NAOqi refuses
(interactive → solitary is refused by design), stops the Launchpad, takes the focus back
from the robot's own dialog, and subscribes the people extractors itself (Life runs them
only in solitary). Every Autonomous Life change resets the voice and recogniser language
and the tablet; the link watches ``AutonomousLife/State`` and re-applies both. Plain
speech uses ``say(text, language)``; animated speech (which has no language overload)
sets the voice again after every reset, so a reset can at worst catch one sentence.

The link is owned by :meth:`NaoqiRobot.run` (a supervised child, or the task behind
``async with``): it connects, notices a drop through the session's ``disconnected``
signal, reports :class:`~robot.hal.ConnectionLost`, reconnects with exponential back-off
on the injected clock, restores every subscription, and reports
:class:`~robot.hal.ConnectionRestored`. While the link is down, calls raise
:class:`~robot.hal.RobotDisconnected` at once instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from clock import Clock
from robot.hal import (
    MAX_POINT_RADIANS,
    MAX_SPEED_M_S,
    MAX_STEP_METRES,
    MAX_TURN_RADIANS,
    BatteryChanged,
    BatteryState,
    ConnectionLost,
    ConnectionRestored,
    HeadPart,
    HeadTouched,
    InvalidCommand,
    Language,
    LanguageUnavailable,
    MoveBlocked,
    PersonApproached,
    PersonInSight,
    PersonLeft,
    PersonOutOfSight,
    Posture,
    RobotCommandFailed,
    RobotDisconnected,
    RobotError,
    RobotEvent,
    RobotTimeout,
    TabletTouched,
    UtteranceHeard,
)
from robot.hearing import FRONT, RATE, StreamHearing
from robot.qi_bridge import QiCallError, Traffic, threadsafe_callback, to_asyncio

log = logging.getLogger("onthaal.robot.naoqi")

#: NAOqi's names for the languages Onthaal speaks.
NAOQI_LANGUAGE = {"nl": "Dutch", "fr": "French", "en": "English", "de": "German"}
_FROM_NAOQI_LANGUAGE = {v: k for k, v in NAOQI_LANGUAGE.items()}

# The ALMemory keys Onthaal listens to; all but the tablet key are NAOqi's own.
ZONE_KEYS = {f"EngagementZones/PersonEnteredZone{zone}": zone for zone in (1, 2, 3)}
KEY_PERSON_LEFT = "PeoplePerception/JustLeft"
KEY_WORD_RECOGNIZED = "WordRecognized"
KEY_BATTERY_CHARGE = "BatteryChargeChanged"
KEY_POWER_PLUGGED = "BatteryPowerPluggedChanged"
HEAD_KEYS = {
    "FrontTactilTouched": HeadPart.FRONT,
    "MiddleTactilTouched": HeadPart.MIDDLE,
    "RearTactilTouched": HeadPart.REAR,
}
#: Raised by Onthaal's own tablet pages (through QiMessaging JS) when an element is tapped.
KEY_TABLET_TAPPED = "Onthaal/TabletTapped"
KEY_VISIBLE = "PeoplePerception/VisiblePeopleList"
KEY_LIFE_STATE = "AutonomousLife/State"
KEY_FOCUS = "AutonomousLife/FocusedActivity"
KEY_MOVE_FAILED = "ALMotion/MoveFailed"
EVENT_KEYS = (
    *ZONE_KEYS,
    KEY_PERSON_LEFT,
    KEY_VISIBLE,
    KEY_LIFE_STATE,
    KEY_FOCUS,
    KEY_MOVE_FAILED,
    KEY_WORD_RECOGNIZED,
    KEY_TABLET_TAPPED,
    *HEAD_KEYS,
    KEY_BATTERY_CHARGE,
    KEY_POWER_PLUGGED,
)

SERVICES = (
    "ALMemory",
    "ALTextToSpeech",
    "ALAnimatedSpeech",
    "ALTabletService",
    "ALMotion",
    "ALRobotPosture",
    "ALLeds",
    "ALBattery",
    "ALAutonomousLife",
    "ALSpeechRecognition",
    "ALPeoplePerception",
    "ALEngagementZones",
    "ALAudioDevice",
)

#: Extractors compute only while subscribed; Autonomous Life runs them only in solitary.
EXTRACTORS = ("ALPeoplePerception", "ALEngagementZones")
#: Seconds a refused move waits for ALMotion/MoveFailed to say why.
MOVE_FAILED_WAIT = 0.2
#: The name Onthaal subscribes extractors under.
SUBSCRIBER = "Onthaal"
#: The service Onthaal hosts for ALAudioDevice's audio (``listening = "stream"``).
HEARING_SERVICE = "OnthaalHearing"

# Messages libqi uses when the other end is gone (as opposed to a refusal by the robot).
_LINK_ERRORS = ("not connected", "Service removed", "Session closed", "Connect error")

SessionFactory = Callable[[], Any]


def _default_session_factory() -> Any:
    import qi

    return qi.Session()


@dataclass
class _Link:
    """Everything that belongs to one connection, dropped together when it ends."""

    session: Any
    proxies: dict[str, Any]
    subscriptions: list[tuple[Any, int]]
    lost: asyncio.Future[str]
    tts_language: str | None = None  # None: unknown (after an Autonomous Life reset)
    languages: frozenset[str] = frozenset()  # Onthaal codes with a voice on the robot
    visible: set[str] = field(default_factory=set)
    life_state: str = ""
    move_failure: str | None = None
    move_failed: asyncio.Event = field(default_factory=asyncio.Event)


def _microphone_sink(loop: asyncio.AbstractEventLoop, hearing: StreamHearing) -> object:
    """The service ALAudioDevice delivers the front microphone to (``processRemote``).

    Typed as NAOqi calls it, the buffer as raw bytes (``qi.Buffer``: libqi would pass
    an untyped ``bytes`` on as text).
    """
    import qi

    class MicrophoneSink:
        @qi.bind(qi.Void, [qi.Int32, qi.Int32, qi.Dynamic, qi.Buffer])  # type: ignore[untyped-decorator]
        def processRemote(  # noqa: N802 - NAOqi's name for it
            self, channels: int, samples: int, stamp: Any, buffer: bytearray
        ) -> None:
            """On a libqi thread: hand the audio to the loop (nothing is kept here)."""
            with contextlib.suppress(RuntimeError):  # the loop may be closed at exit
                loop.call_soon_threadsafe(hearing.feed, bytes(buffer))

    return MicrophoneSink()


class _Stream:
    """One subscriber's view of the robot's events (see :class:`robot.hal.EventStream`)."""

    def __init__(self, owner: NaoqiRobot, maxsize: int) -> None:
        self._owner = owner
        self.queue: asyncio.Queue[RobotEvent] = asyncio.Queue(maxsize)
        owner._streams.add(self)

    def __aiter__(self) -> AsyncIterator[RobotEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[RobotEvent]:
        while True:
            yield await self.queue.get()

    async def next(self, timeout: float | None = None) -> RobotEvent:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel.
        async with asyncio.timeout(timeout):
            return await self.queue.get()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._owner._streams.discard(self)


class NaoqiRobot:
    """A Pepper reached over libqi at ``url`` (``tcp://host:9559``)."""

    def __init__(
        self,
        url: str | Callable[[], str],
        *,
        clock: Clock,
        session_factory: SessionFactory | None = None,
        autonomous_life: str | None = "solitary",
        take_focus: bool = True,
        zone_limits: tuple[float, float] | None = None,
        vocabulary: Mapping[str, Sequence[str]] | None = None,
        confidence_floor: float = 0.3,
        hearing: Callable[[Mapping[str, Sequence[str]]], StreamHearing] | None = None,
        call_timeout: float = 10.0,
        reconnect_initial: float = 0.2,
        reconnect_max: float = 10.0,
        event_buffer: int = 1000,
    ) -> None:
        """Prepare the link; nothing connects until :meth:`run` or ``async with``.

        ``url`` may be a function, read at every connection attempt (a simulator's port
        is only known once it listens).

        ``session_factory`` makes a ``qi.Session`` (the default) or anything with its
        surface; ``autonomous_life`` is the ALAutonomousLife state asked for on every
        connect (``None`` leaves it alone; a refusal is logged, never fatal);
        ``take_focus`` stops the Launchpad and any activity Autonomous Life focuses (the
        robot's own dialog would otherwise take the voice, recogniser and tablet);
        ``zone_limits`` sets ALEngagementZones' first and second limit in metres;
        ``vocabulary``: per Onthaal language, the phrases the recogniser spots (word
        spotting; without it the robot does not listen); recognitions below
        ``confidence_floor`` are dropped; ``hearing`` (the ``stream`` way) builds, from
        the vocabulary, what hears the front microphone's audio instead of NAOqi's
        recogniser (:mod:`robot.hearing`);
        ``call_timeout`` bounds each call in real seconds.
        """
        self._url_source = url
        self._clock = clock
        self._session_factory = session_factory or _default_session_factory
        self._autonomous_life = autonomous_life
        self._take_focus = take_focus
        self._zone_limits = zone_limits
        self._vocabulary = {k: list(v) for k, v in (vocabulary or {}).items()}
        self._floor = confidence_floor
        self._hearing_factory = hearing
        self._hearing: StreamHearing | None = None
        self._call_timeout = call_timeout
        self._reconnect = wait_exponential(multiplier=reconnect_initial, max=reconnect_max)
        self._event_buffer = event_buffer
        self._link: _Link | None = None
        self._streams: set[_Stream] = set()
        self._battery = BatteryState(percent=100, charging=False)
        self._speech_lock = asyncio.Lock()
        self._connected_once = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._shown: str | None = None  # the page the tablet should show (re-shown on reset)
        self._asr_language: str | None = None
        self._reapplying: asyncio.Task[None] | None = None
        self._reset_again = False
        self._battery_read = False  # nothing is shown about the battery until it is read
        self._people: set[str] = set()  # tracks the behaviours were told are present
        #: When the robot last answered or sent an event (None: never).
        self.last_seen: datetime | None = None
        # What is on its way through libqi (a simulation waits for it before time moves).
        self.traffic = Traffic()

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def _url(self) -> str:
        return self._url_source() if callable(self._url_source) else self._url_source

    @property
    def connected(self) -> bool:
        """Whether the link is up right now."""
        return self._link is not None and not self._link.lost.done()

    def listen_for(self, vocabulary: Mapping[str, Sequence[str]]) -> None:
        """Set the phrases to spot per language; applied at the next connection."""
        self._vocabulary = {k: list(v) for k, v in vocabulary.items()}
        if self._hearing_factory is not None:
            self._hearing = self._hearing_factory(self._vocabulary)
            self._hearing.heard = self._heard_in_stream

    def _heard_in_stream(self, text: str, language: str, confidence: float) -> None:
        if text and confidence < self._floor:
            return
        self.last_seen = self._clock.now()
        # The stream's grammar lets through only sentences around a vocabulary phrase.
        self._emit(UtteranceHeard(text, language, confidence, spotted=True))  # type: ignore[arg-type]

    @property
    def known_battery(self) -> BatteryState | None:
        """The battery as last read from the robot, or None if it never was."""
        return self._battery if self._battery_read else None

    @property
    def languages(self) -> frozenset[str]:
        """Onthaal languages the robot has a voice for (read at connect; empty before)."""
        return self._link.languages if self._link is not None else frozenset()

    async def __aenter__(self) -> Self:
        """Start the link and wait (up to ``call_timeout``) for the first connection."""
        self._runner = asyncio.create_task(self.run(), name="naoqi-link")
        waiter = asyncio.create_task(self._connected_once.wait())
        done, _ = await asyncio.wait(
            {waiter, self._runner}, timeout=self._call_timeout, return_when="FIRST_COMPLETED"
        )
        if waiter not in done:
            waiter.cancel()
            await self.close()
            raise RobotDisconnected(f"could not connect to {self._url}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Unsubscribe everything and close the session."""
        await self.close()

    async def close(self) -> None:
        """Stop the link: release every ALMemory subscription, then close the session."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        await self._teardown(release=True)

    async def run(self) -> None:
        """Keep the link up forever: connect, wait for a drop, reconnect with back-off."""
        try:
            while True:
                async for attempt in AsyncRetrying(
                    wait=self._reconnect,
                    sleep=self._clock.sleep,
                    retry=retry_if_exception_type((QiCallError, RuntimeError, TimeoutError)),
                    before_sleep=lambda state: log.warning(
                        "cannot reach robot at %s (attempt %d): %s",
                        self._url,
                        state.attempt_number,
                        state.outcome.exception() if state.outcome else "?",
                    ),
                ):
                    with attempt:
                        await self._connect()
                assert self._link is not None
                if self._connected_once.is_set():
                    log.info("robot link restored", extra={"url": self._url})
                else:
                    log.info("robot link up", extra={"url": self._url})
                    self._connected_once.set()
                self._emit(ConnectionRestored())
                self._forget_the_departed(self._link)
                # Connecting may itself change Life's state or focus (setState, stopFocus),
                # whose events came before the link was there to repair their resets.
                self._life_changed(self._link, KEY_FOCUS, "")
                # Shielded: cancelling the link's task must not mark the link lost, or
                # closing would skip the polite unsubscribes (extractors, microphone).
                reason = await asyncio.shield(self._link.lost)
                log.warning("robot link lost: %s", reason, extra={"url": self._url})
                await self._teardown(release=False)
        finally:
            await self._teardown(release=True)

    # -- events ------------------------------------------------------------------------

    def events(self) -> _Stream:
        """Subscribe to the robot's events from now on."""
        return _Stream(self, self._event_buffer)

    def tablet_input(self, event: TabletTouched | UtteranceHeard) -> None:
        """A tap or a typed question on the tablet's page, which came back over HTTP.

        The page posts to Onthaal instead of raising an ALMemory event through
        QiMessaging (whose JavaScript bridge hangs on pages served from another machine);
        the behaviours see the same events either way.
        """
        self._emit(event)

    def _emit(self, event: RobotEvent) -> None:
        if isinstance(event, PersonApproached):
            self._people.add(event.track_id)
        elif isinstance(event, PersonLeft):
            self._people.discard(event.track_id)
        for stream in list(self._streams):
            if stream.queue.full():
                # A stuck consumer must not stop the robot: drop its oldest event.
                stream.queue.get_nowait()
                log.warning("event stream full; dropped the oldest event")
            stream.queue.put_nowait(event)

    def _on_memory_event(self, key: str, value: Any) -> None:
        self.last_seen = self._clock.now()
        link = self._link
        if key == KEY_VISIBLE and link is not None and isinstance(value, list | tuple):
            in_sight = {str(person) for person in value}
            for track in sorted(link.visible - in_sight):
                self._emit(PersonOutOfSight(track_id=track))
            for track in sorted((in_sight - link.visible) & self._people):
                self._emit(PersonInSight(track_id=track))  # hidden for a moment, back
            link.visible = in_sight
            return
        if key in (KEY_LIFE_STATE, KEY_FOCUS) and link is not None:
            self._life_changed(link, key, str(value))
            return
        if key == KEY_MOVE_FAILED and link is not None:
            link.move_failure = str(value[0]) if isinstance(value, list | tuple) else str(value)
            link.move_failed.set()
            return
        event = self._translate(key, value)
        if event is not None:
            self._emit(event)

    def _recognised(self, value: Any) -> UtteranceHeard | None:
        """``[phrase, confidence, phrase2, confidence2, …]``, best first, as one utterance.

        With word spotting each phrase is ``<...> phrase <...>``. The hypotheses are
        alternatives for one stretch of speech ("nee" or "ja"), so only the best one, if
        at or above the floor, is what the visitor said.
        """
        if not isinstance(value, list | tuple):
            return None
        pairs = list(zip(value[0::2], value[1::2], strict=False))
        kept = [
            (str(phrase).replace("<...>", " ").strip(), float(confidence))
            for phrase, confidence in pairs
            if isinstance(confidence, int | float) and float(confidence) >= self._floor
        ]
        kept = [(phrase, confidence) for phrase, confidence in kept if phrase][:1]
        language = _FROM_NAOQI_LANGUAGE.get(self._asr_language or "", "nl")
        if not kept:
            # Speech, but no phrase of the vocabulary (or none sure enough): the visitor
            # said something the robot did not understand, and it should say so.
            return UtteranceHeard(text="", language=language, confidence=0.0)  # type: ignore[arg-type]
        return UtteranceHeard(
            text=kept[0][0],
            language=language,  # type: ignore[arg-type]
            confidence=kept[0][1],
            spotted=True,
        )

    def _forget_the_departed(self, link: _Link) -> None:
        """After a reconnect: whoever left while the link was down has left.

        Their JustLeft was raised while nobody listened; without this the behaviours
        would wait for a visitor who is long gone.
        """
        for track in sorted(self._people - link.visible):
            log.info("a visitor left while the link was down")
            self._emit(PersonLeft(track_id=track))
        self._people = set(link.visible)

    def _life_changed(self, link: _Link, key: str, value: str) -> None:
        """Autonomous Life changed state or focus: NAOqi has reset language and tablet."""
        if key == KEY_LIFE_STATE:
            log.info("Autonomous Life is now %s", value)
            link.life_state = value
        elif value:
            log.warning("Autonomous Life focused %r", value)
        link.tts_language = None  # reset to the preferred language behind our back
        self._reset_again = True  # a reset during a repair needs another repair
        if self._reapplying is None or self._reapplying.done():
            self._reapplying = asyncio.create_task(self._reapply(), name="naoqi-reapply")

    async def _reapply(self) -> None:
        """Put back what the reset took: the focus, the recogniser's language, the page."""
        while self._reset_again:
            self._reset_again = False
            try:
                if self._take_focus and await self._call("ALAutonomousLife", "focusedActivity"):
                    await self._call("ALAutonomousLife", "stopFocus")
                    log.warning("took the robot back from its own activity")
                if self._asr_language is not None:
                    async with self._speech_lock:  # not in the middle of a sentence
                        await self._listen_in(self._asr_language)
                        await self._resume_listening()
                if self._shown is not None:
                    await self._call("ALTabletService", "showWebview", self._shown)
                log.info(
                    "after the Autonomous Life change: language %s and page re-applied",
                    self._asr_language,
                )
            except RobotError as exc:
                log.warning("could not re-apply after an Autonomous Life change: %s", exc)

    def _translate(self, key: str, value: Any) -> RobotEvent | None:
        if key in ZONE_KEYS:
            return PersonApproached(track_id=str(value), zone=ZONE_KEYS[key])  # type: ignore[arg-type]
        if key == KEY_PERSON_LEFT:
            return PersonLeft(track_id=str(value))
        if key == KEY_WORD_RECOGNIZED:
            return self._recognised(value)
        if key == KEY_TABLET_TAPPED:
            return TabletTouched(element=str(value))
        if key in HEAD_KEYS:
            return HeadTouched(part=HEAD_KEYS[key]) if float(value) > 0.5 else None
        if key == KEY_BATTERY_CHARGE:
            self._battery = BatteryState(int(value), self._battery.charging)
            return BatteryChanged(self._battery.percent, self._battery.charging)
        if key == KEY_POWER_PLUGGED:
            self._battery = BatteryState(self._battery.percent, bool(value))
            return BatteryChanged(self._battery.percent, self._battery.charging)
        return None

    # -- connecting --------------------------------------------------------------------

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        session = self._session_factory()
        lost: asyncio.Future[str] = loop.create_future()

        def on_disconnected(reason: Any = "disconnected") -> None:
            if not lost.done():
                lost.set_result(str(reason))
                self._emit(ConnectionLost(str(reason)))

        try:
            await self._await(session.connect(self._url, _async=True))
            session.disconnected.connect(threadsafe_callback(loop, on_disconnected))
            proxies = {
                name: await self._await(session.service(name, _async=True)) for name in SERVICES
            }
            link = _Link(session, proxies, [], lost)
            memory = proxies["ALMemory"]
            for key in EVENT_KEYS:
                subscriber = await self._await(memory.subscriber(key, _async=True))
                callback = threadsafe_callback(
                    loop, self._on_memory_event, key, traffic=self.traffic
                )
                link_id = await self._await(subscriber.signal.connect(callback, _async=True))
                link.subscriptions.append((subscriber, link_id))
            await self._share_with_autonomous_life(link)
            for extractor in EXTRACTORS:
                await self._await(proxies[extractor].subscribe(SUBSCRIBER, _async=True))
            if self._zone_limits is not None:
                await self._set_zone_limits(proxies["ALEngagementZones"], *self._zone_limits)
            link.languages = await self._installed_languages(proxies)
            await self._start_listening(link)
            try:
                seen = await self._await(memory.getData(KEY_VISIBLE, _async=True))
                link.visible = {str(person) for person in seen or []}
            except QiCallError:
                link.visible = set()  # nobody seen since the robot started
            link.tts_language = await self._await(
                proxies["ALTextToSpeech"].getLanguage(_async=True)
            )
            percent = await self._await(proxies["ALBattery"].getBatteryCharge(_async=True))
            try:
                plugged = await self._await(memory.getData(KEY_POWER_PLUGGED, _async=True))
            except QiCallError:
                plugged = False  # never raised since boot
            self._battery = BatteryState(int(percent), bool(plugged))
            self._battery_read = True
            self.last_seen = self._clock.now()
        except BaseException:
            with contextlib.suppress(Exception):
                session.close()
            raise
        self._link = link

    async def _start_listening(self, link: _Link) -> None:
        """Feed the recogniser its vocabulary, then subscribe: it writes WordRecognized."""
        if self._hearing is not None:
            await self._start_stream(link, self._hearing)
            return
        if not self._vocabulary:
            return
        asr = link.proxies["ALSpeechRecognition"]
        language = self._asr_language or await self._await(asr.getLanguage(_async=True))
        code = _FROM_NAOQI_LANGUAGE.get(language, "nl")
        await self._await(asr.pause(True, _async=True))
        await self._await(asr.setLanguage(NAOQI_LANGUAGE[code], _async=True))
        await self._await(asr.setVocabulary(self._vocabulary.get(code, []), True, _async=True))
        await self._await(asr.setParameter("NbHypotheses", 3.0, _async=True))
        await self._await(asr.subscribe(SUBSCRIBER, _async=True))
        await self._await(asr.pause(False, _async=True))
        self._asr_language = NAOQI_LANGUAGE[code]

    async def _start_stream(self, link: _Link, hearing: StreamHearing) -> None:
        """Host ``processRemote`` and take the front microphone from ALAudioDevice.

        As ``naoqi_driver`` does: a service of our own on the robot's session, 16 kHz
        from the front microphone, delivered to it while subscribed.
        """
        if not hasattr(link.session, "registerService"):
            raise RobotError("listening = 'stream' needs libqi (a session that hosts services)")
        loop = asyncio.get_running_loop()
        sink = _microphone_sink(loop, hearing)
        await asyncio.to_thread(link.session.registerService, HEARING_SERVICE, sink)
        audio = link.proxies["ALAudioDevice"]
        await self._await(audio.setClientPreferences(HEARING_SERVICE, RATE, FRONT, 0, _async=True))
        await self._await(audio.subscribe(HEARING_SERVICE, _async=True))
        hearing.pause(False)

    async def _listen_in(self, name: str) -> None:
        """Switch the recogniser to ``name`` and its vocabulary (paused meanwhile)."""
        code = _FROM_NAOQI_LANGUAGE[name]
        if self._hearing is not None:
            self._hearing.pause(True)
            self._hearing.language = code
            self._asr_language = name
            return
        await self._call("ALSpeechRecognition", "pause", True)
        await self._call("ALSpeechRecognition", "setLanguage", name)
        if self._vocabulary:
            vocabulary = self._vocabulary.get(code, [])
            await self._call("ALSpeechRecognition", "setVocabulary", vocabulary, True)
        self._asr_language = name

    async def _share_with_autonomous_life(self, link: _Link) -> None:
        """Read Life's state and focus, ask for ours, never fail the link over it."""
        life = link.proxies["ALAutonomousLife"]
        link.life_state = await self._await(life.getState(_async=True))
        if self._autonomous_life is not None and link.life_state != self._autonomous_life:
            try:
                await self._await(life.setState(self._autonomous_life, _async=True))
                link.life_state = self._autonomous_life
            except QiCallError as exc:
                # "Manual change from interactive to solitary state will fail."
                log.warning(
                    "Autonomous Life stays %s (asked for %s): %s",
                    link.life_state,
                    self._autonomous_life,
                    str(exc).split("\n", 1)[0],
                )
        if not self._take_focus:
            return
        try:
            await self._await(life.stopMonitoringLaunchpadConditions(_async=True))
        except (QiCallError, AttributeError) as exc:  # not every NAOqi has it
            log.warning("could not stop the Launchpad: %s", exc)
        focused = await self._await(life.focusedActivity(_async=True))
        if focused:
            await self._await(life.stopFocus(_async=True))
            log.warning("took the robot back from %r", focused)

    async def _set_zone_limits(self, zones: Any, first: float, second: float) -> None:
        # The second limit first when growing, so first < second holds at every step.
        order = [("setSecondLimitDistance", second), ("setFirstLimitDistance", first)]
        current = await self._await(zones.getSecondLimitDistance(_async=True))
        if second < current:
            order.reverse()
        for method, metres in order:
            if not await self._await(getattr(zones, method)(float(metres), _async=True)):
                log.warning("the robot refused %s(%g)", method, metres)

    async def _installed_languages(self, proxies: dict[str, Any]) -> frozenset[str]:
        """Onthaal languages with both a voice and a recogniser on the robot."""
        voices = await self._await(proxies["ALTextToSpeech"].getAvailableLanguages(_async=True))
        ears = await self._await(proxies["ALSpeechRecognition"].getAvailableLanguages(_async=True))
        installed = frozenset(
            code for code, name in NAOQI_LANGUAGE.items() if name in voices and name in ears
        )
        missing = sorted(set(NAOQI_LANGUAGE) - installed)
        if missing:
            log.warning(
                "the robot has no voice for %s; those visitors are answered on screen",
                ", ".join(missing),
            )
        return installed

    async def _teardown(self, *, release: bool) -> None:
        """Forget the current link; with ``release``, unsubscribe politely first."""
        link, self._link = self._link, None
        if link is None:
            return
        if self._reapplying is not None:
            self._reapplying.cancel()
            self._reapplying = None
        if self._hearing is not None:
            self._hearing.pause(True)
        if release and not link.lost.done() and self._hearing is not None:
            with contextlib.suppress(Exception):  # gone already: nothing to release
                await self._await(
                    link.proxies["ALAudioDevice"].unsubscribe(HEARING_SERVICE, _async=True)
                )
        if release and not link.lost.done():
            for extractor in (*EXTRACTORS, *(("ALSpeechRecognition",) if self._vocabulary else ())):
                with contextlib.suppress(Exception):
                    await self._await(link.proxies[extractor].unsubscribe(SUBSCRIBER, _async=True))
            for subscriber, link_id in link.subscriptions:
                with contextlib.suppress(Exception):
                    await self._await(subscriber.signal.disconnect(link_id, _async=True))
        link.subscriptions.clear()
        if not link.lost.done():
            link.lost.set_result("closed")
        with contextlib.suppress(Exception):
            link.session.close()

    async def _await(self, future: Any, timeout: float | None = None) -> Any:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel.
        async with asyncio.timeout(timeout or self._call_timeout):
            return await to_asyncio(future, traffic=self.traffic)

    # -- calls -------------------------------------------------------------------------

    async def _call(
        self, service: str, method: str, *args: Any, timeout: float | None = None
    ) -> Any:
        link = self._link
        if link is None or link.lost.done():
            raise RobotDisconnected(f"robot link is down; {service}.{method} not sent")
        try:
            future = getattr(link.proxies[service], method)(*args, _async=True)
            answer = await self._await(future, timeout)
            self.last_seen = self._clock.now()
            return answer
        except TimeoutError:
            raise RobotTimeout(f"{service}.{method} did not answer in time") from None
        except (QiCallError, RuntimeError) as exc:
            if link.lost.done() or any(marker in str(exc) for marker in _LINK_ERRORS):
                raise RobotDisconnected(f"robot link dropped during {service}.{method}") from exc
            raise RobotCommandFailed(service, method, str(exc).split("\n", 1)[0]) from exc

    async def _speak(self, service: str, text: str, language: Language) -> None:
        if language not in NAOQI_LANGUAGE:
            raise InvalidCommand(f"unsupported language {language!r}")
        if not text.strip():
            return
        link = self._link
        if link is not None and language not in link.languages:
            raise LanguageUnavailable(language)
        async with self._speech_lock:
            name = NAOQI_LANGUAGE[language]
            if self._asr_language != name:
                await self._listen_in(name)  # leaves the recogniser paused
            elif self._hearing is not None:
                self._hearing.pause(True)  # not its own voice
            elif self._vocabulary:
                await self._call("ALSpeechRecognition", "pause", True)  # not its own voice
            # Speech takes time: allow a generous 1 s per 8 characters on top of the usual.
            timeout = self._call_timeout + len(text) / 8
            try:
                if service == "ALTextToSpeech":
                    # say(text, language): this sentence in this voice, whatever was reset.
                    await self._call(service, "say", text, name, timeout=timeout)
                    return
                # ALAnimatedSpeech has no language overload: set the voice when it may
                # differ. A Life reset forgets it (its event), so at worst the one sentence
                # that overlaps a reset comes out in the preferred voice; setting it before
                # every sentence would cost the visitor a round trip per sentence.
                link = self._link
                if link is not None and link.tts_language != name:
                    await self._call("ALTextToSpeech", "setLanguage", name)
                    link.tts_language = name
                await self._call(service, "say", text, timeout=timeout)
            finally:
                await self._resume_listening()

    async def _resume_listening(self) -> None:
        """Listen again after the robot spoke (nothing to do without a vocabulary)."""
        if self._hearing is not None:
            self._hearing.pause(False)
            return
        if self._vocabulary and self.connected:
            with contextlib.suppress(RobotError):
                await self._call("ALSpeechRecognition", "pause", False)

    async def say(self, text: str, language: Language) -> None:
        """Speak plainly with ALTextToSpeech."""
        await self._speak("ALTextToSpeech", text, language)

    async def animated_say(self, text: str, language: Language) -> None:
        """Speak with gestures with ALAnimatedSpeech."""
        await self._speak("ALAnimatedSpeech", text, language)

    async def show_url(self, url: str) -> None:
        """Show a web page with ALTabletService.showWebview (re-shown after a reset)."""
        self._shown = url
        if not await self._call("ALTabletService", "showWebview", url):
            raise RobotCommandFailed("ALTabletService", "showWebview", f"refused {url!r}")

    async def show_image(self, url: str) -> None:
        """Show an image with ALTabletService.showImage."""
        if not await self._call("ALTabletService", "showImage", url):
            raise RobotCommandFailed("ALTabletService", "showImage", f"refused {url!r}")

    async def show_html(self, html: str) -> None:
        """Show an HTML document, as a data: URL in the tablet's webview."""
        await self.show_url("data:text/html;charset=utf-8," + quote(html))

    async def hide_tablet(self) -> None:
        """Hide whatever the tablet shows (ALTabletService.hide)."""
        self._shown = None
        await self._call("ALTabletService", "hide")

    async def stop_speech(self) -> None:
        """ALTextToSpeech.stopAll (also ends animated speech)."""
        await self._call("ALTextToSpeech", "stopAll")

    async def point(self, direction: float) -> None:
        """Raise the arm on the side of ``direction`` towards it, then lower it."""
        if abs(direction) > MAX_POINT_RADIANS:
            raise InvalidCommand(f"refusing to point more than a quarter turn ({direction} rad)")
        side = "L" if direction >= 0 else "R"
        joints = [f"{side}ShoulderPitch", f"{side}ShoulderRoll", f"{side}ElbowRoll"]
        # ShoulderRoll is positive outwards on the left arm and negative on the right one,
        # so the direction itself is the roll on either side.
        raised = [0.1, direction, 0.0]
        await self._call("ALMotion", "angleInterpolationWithSpeed", joints, raised, 0.3)
        await self._call("ALMotion", "angleInterpolationWithSpeed", joints, [1.5, 0.0, 0.0], 0.3)

    async def move(self, x: float, y: float, theta: float, speed: float = 0.2) -> None:
        """ALMotion.moveTo within Onthaal's bounds (1 m, half a turn, 0.35 m/s).

        Raises :class:`MoveBlocked` when the robot stops short (an obstacle) or refuses
        (on its charger, hatch open).
        """
        if max(abs(x), abs(y)) > MAX_STEP_METRES:
            raise InvalidCommand(f"refusing to move more than {MAX_STEP_METRES} m ({x}, {y})")
        if abs(theta) > MAX_TURN_RADIANS:
            raise InvalidCommand(f"refusing to turn more than half a turn ({theta} rad)")
        if not 0 < speed <= MAX_SPEED_M_S:
            raise InvalidCommand(f"speed must be in (0, {MAX_SPEED_M_S}] m/s, got {speed}")
        seconds = (abs(x) + abs(y)) / speed + abs(theta) / 0.5
        link = self._link
        if link is not None:
            link.move_failure = None
            link.move_failed.clear()
        arrived = await self._call(
            "ALMotion",
            "moveTo",
            float(x),
            float(y),
            float(theta),
            [["MaxVelXY", float(speed)]],
            timeout=self._call_timeout + seconds,
        )
        if not arrived:
            # moveTo is "False if it was interrupted"; ALMotion/MoveFailed says why, on
            # another channel: libqi may deliver it just after the reply.
            if link is not None:
                with contextlib.suppress(TimeoutError):  # on the robot's clock: reproducible
                    await self._clock.wait_for(link.move_failed.wait(), MOVE_FAILED_WAIT)
            reason = link.move_failure if link is not None else None
            raise MoveBlocked(reason or "interrupted")

    async def turn(self, theta: float) -> None:
        """Turn on the spot."""
        await self.move(0.0, 0.0, theta)

    async def stop_motion(self) -> None:
        """ALMotion.stopMove."""
        await self._call("ALMotion", "stopMove")

    async def go_to_posture(self, posture: Posture, speed: float = 0.6) -> None:
        """ALRobotPosture.goToPosture."""
        if not 0 < speed <= 1:
            raise InvalidCommand(f"posture speed must be in (0, 1], got {speed}")
        if not await self._call("ALRobotPosture", "goToPosture", str(Posture(posture)), speed):
            raise RobotCommandFailed("ALRobotPosture", "goToPosture", f"could not reach {posture}")

    async def wake_up(self) -> None:
        """ALMotion.wakeUp."""
        await self._call("ALMotion", "wakeUp")

    async def rest(self) -> None:
        """ALMotion.rest."""
        await self._call("ALMotion", "rest")

    async def set_eyes(self, rgb: int, duration: float = 0.3) -> None:
        """ALLeds.fadeRGB on the face LEDs."""
        if not 0 <= rgb <= 0xFFFFFF:
            raise InvalidCommand(f"colour must be 0xRRGGBB, got {rgb:#x}")
        await self._call("ALLeds", "fadeRGB", "FaceLeds", rgb, float(duration))

    async def battery(self) -> BatteryState:
        """ALBattery.getBatteryCharge, plus the charging state last reported."""
        percent = await self._call("ALBattery", "getBatteryCharge")
        self._battery = BatteryState(int(percent), self._battery.charging)
        return self._battery
