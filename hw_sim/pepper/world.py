"""The simulated Pepper's state and the one door every service call goes through.

A :class:`PepperWorld` owns the robot's state (awake, posture, tablet, LEDs, battery,
languages, ALMemory), the journal, and the injected faults. The NAOqi services in
:mod:`hw_sim.pepper.services` act on it. Both transports (libqi on loopback, and the
in-process stand-in) call services only through :meth:`PepperWorld.invoke`, on the
simulation's event loop, so state is only ever touched from one thread.

The world is strict, as NAOqi 2.5 is (each rule and its source: ``docs/robot.md``):
calls are checked against the typed signatures in :mod:`hw_sim.pepper.signatures`;
people and engagement-zone events flow only while their extractors are subscribed;
zone events fire on a change of zone; a person who walks away is dropped from the
population (``JustLeft``) only after the disappearance timeout; a person can be lost and
found again under a new id (at a seeded rate); Autonomous Life is a state machine whose
every change resets language, LEDs and tablet; moves are refused while charging or with
the hatch open and stop short of an obstacle.
"""

from __future__ import annotations

import array
import asyncio
import inspect
import io
import logging
import random
import shutil
import subprocess
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from clock import Clock, Timer
from hw_sim.journal import Journal
from hw_sim.pepper.recogniser import Recogniser
from hw_sim.pepper.signatures import Overload, check_return, resolve, resolve_for

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


@dataclass(frozen=True)
class PepperSettings:
    """How this simulated robot is set up (``[sim]`` in robot.toml sets them)."""

    #: Installed voices and recognisers: a Pepper ships with English and one more.
    languages: tuple[str, ...] = ("English", "Dutch")
    #: The robot's preferred language: what every Autonomous Life change resets to.
    preferred_language: str = "Dutch"
    #: Chance that a visitor in zone 1 is lost and found again under a new id.
    reidentify_rate: float = 0.0
    #: Share of sentences the recogniser does not catch at all (a noisy hall).
    asr_miss_rate: float = 0.0
    #: Share of sentences heard as another, similar phrase of the vocabulary (unsure).
    asr_confusion_rate: float = 0.0
    #: Simulated seconds from the end of a sentence to ``WordRecognized`` (the engine
    #: waits for the silence that ends an utterance, then decodes; an assumption, NAOqi
    #: documents no figure).
    recognition_delay: float = 0.3
    #: Whether the tablet fetches web pages over HTTP (False: only where no web app runs
    #: at all, e.g. a test of the robot link alone; every address then "loads").
    tablet_fetches: bool = True
    seed: int = 0


#: The microphones' audio for ALAudioDevice's remote clients: 16 kHz, one channel.
AUDIO_RATE = 16000
AUDIO_CHUNK = 2720  # samples per processRemote call (170 ms)
#: espeak-ng's voice for each NAOqi language.
ESPEAK_VOICES = {"Dutch": "nl", "French": "fr-fr", "English": "en-us", "German": "de"}


def synthesise(text: str, language: str) -> bytes | None:
    """``text`` spoken by espeak-ng, as 16 kHz 16-bit mono PCM (None without espeak-ng)."""
    program = shutil.which("espeak-ng")
    if program is None:
        return None
    voice = ESPEAK_VOICES.get(language, "en-us")
    done = subprocess.run(
        [program, "-v", voice, "-s", "140", "--stdout", text],
        capture_output=True,
        check=True,
        timeout=20,
    )
    with wave.open(io.BytesIO(done.stdout)) as sound:
        rate = sound.getframerate()
        source = array.array("h", sound.readframes(sound.getnframes()))
    # Linear resampling to 16 kHz (espeak-ng speaks at 22,050 Hz).
    count = int(len(source) * AUDIO_RATE / rate)
    out = array.array("h", bytes(2 * count))
    last = len(source) - 1
    for i in range(count):
        x = i * rate / AUDIO_RATE
        j = int(x)
        a, b = source[j], source[min(j + 1, last)]
        out[i] = int(a + (b - a) * (x - j))
    return out.tobytes()


#: What the Launchpad focuses when someone comes close in solitary (NAOqi's own dialog).
DEFAULT_DIALOG = "run_dialog_dev"
#: Metres the robot keeps from an obstacle in front of it before it stops a move.
SAFETY_DISTANCE = 0.40


@dataclass
class PepperState:
    """Everything about the simulated robot a test may want to look at."""

    awake: bool = True
    posture: str = "Stand"
    tablet: tuple[str, str] | None = None  # ("webview" | "image", url)
    loaded_url: str | None = None  # the last page loaded in the webview
    eyes: int = 0xFFFFFF
    battery: float = 90.0
    charging: bool = False  # on its station or plugged in: motion is disabled
    hatch_open: bool = False
    obstacle: float | None = None  # metres straight ahead, or nothing in the way
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    language: str = "Dutch"
    asr_language: str = "Dutch"
    autonomous_life: str = "solitary"
    focus: str = ""  # the activity Autonomous Life has focused
    launchpad: bool = True  # monitoring its conditions (it starts activities itself)
    moving: bool = False
    people: dict[int, int] = field(default_factory=dict)  # person id -> zone (in sight)
    perception: set[str] = field(default_factory=set)  # ALPeoplePerception subscribers
    zones: set[str] = field(default_factory=set)  # ALEngagementZones subscribers
    time_before_disappears: float = 10.0  # seconds, a person the robot looks away from
    time_before_visible_disappears: float = 2.0  # seconds, a person gone from view
    asr_vocabulary: list[str] = field(default_factory=list)
    asr_word_spotting: bool = False
    asr_paused: bool = False
    asr_subscribers: set[str] = field(default_factory=set)
    # ALAudioDevice's remote clients: preferences (rate, channels) and who is subscribed.
    audio_clients: dict[str, tuple[int, int]] = field(default_factory=dict)
    audio_subscribers: set[str] = field(default_factory=set)
    asr_hypotheses: int = 1


class PepperWorld:
    """The simulated robot: state, ALMemory, journal, faults, and the service table."""

    def __init__(
        self, clock: Clock, journal: Journal, settings: PepperSettings | None = None
    ) -> None:
        """A robot standing awake at 90 % battery; services are added by the transport."""
        self.clock = clock
        self.journal = journal
        self.settings = settings or PepperSettings()
        preferred = self.settings.preferred_language
        self.state = PepperState(language=preferred, asr_language=preferred)
        self._random = random.Random(self.settings.seed)
        self._ids: dict[int, int] = {}  # a visitor (the control surface's number) -> person id
        self._next_id = 100_000  # ids the robot makes up for people it finds again
        self._dropping: dict[int, Timer] = {}  # person id -> JustLeft
        self._reidentify: dict[int, Timer] = {}  # visitor -> pending re-identification
        self._focused_for: int | None = None  # whom the robot's own dialog is talking to
        self.recogniser = Recogniser(
            self.settings.seed, self.settings.asr_miss_rate, self.settings.asr_confusion_rate
        )
        self._saying: str | None = None  # the sentence being spoken (the robot hears it too)
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
        #: ``audio_client(name)`` gives a callable ``(channels, samples, stamp, pcm)`` that
        #: delivers audio to remote client ``name``'s ``processRemote`` (set by the libqi
        #: transport; None where a client cannot host a service).
        self.audio_client: Callable[[str], Callable[..., object]] | None = None
        self._audio_tasks: set[asyncio.Task[None]] = set()

    # -- speech --------------------------------------------------------------------------

    async def speak(self, seconds: float, text: str | None = None) -> None:
        """Take ``seconds`` to speak ``text``, unless ``stop_speaking`` cuts it short.

        A recogniser left listening meanwhile hears the robot's own voice.
        """
        interrupted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._speaking.add(interrupted)
        self._saying = text
        if text is not None and self._listening():
            self._recognise(text, self.state.asr_language, by="robot")
        talking = asyncio.ensure_future(self.clock.sleep(seconds * self.speech_scale))
        try:
            await asyncio.wait({talking, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            talking.cancel()
            self._speaking.discard(interrupted)
            self._saying = None

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

    async def invoke(
        self, service: str, method: str, args: tuple[Any, ...], overload: Overload | None = None
    ) -> Any:
        """Call ``service.method(*args)`` as a client would: types, faults, delays, the call.

        The arguments are checked and converted against NAOqi's signatures (``overload``
        when the transport already chose one); a call that fits none fails with libqi's
        message before anything happens.
        """
        if overload is None:
            overload, converted = resolve(service, method, args)
        else:
            converted = resolve_for(overload, service, args)
        self.serving += 1
        try:
            if service in self._faults:
                raise RuntimeError(f"{service}::{method}: {self._faults[service]}")
            delay = self._delays.get(service, 0.0)
            if delay > 0:
                await self.clock.sleep(delay)
            target = getattr(self.services[service], overload.implementation)
            result = target(*converted)
            if inspect.isawaitable(result):
                result = await result
            return check_return(overload, result)
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

    # -- people (what the control surface injects, as the extractors would see it) -------

    def _perceiving(self) -> bool:
        # In solitary, Autonomous Life runs the extractors itself; otherwise only a
        # subscriber makes them compute.
        return self.state.autonomous_life == "solitary" or bool(self.state.perception)

    def _zoning(self) -> bool:
        # "It will only work if ALPeoplePerception has also been subscribed to."
        if self.state.autonomous_life == "solitary":
            return True
        return bool(self.state.zones) and bool(self.state.perception)

    def _people_event(self, key: str, value: Any) -> None:
        if self._perceiving():
            self.raise_event(key, value)

    def _zone_event(self, key: str, value: Any) -> None:
        if self._zoning():
            self.raise_event(key, value)

    def _in_sight_changed(self) -> None:
        self._people_event("PeoplePerception/VisiblePeopleList", sorted(self.state.people))

    def person_id(self, visitor: int) -> int | None:
        """The id the robot knows ``visitor`` by right now (None: not in sight)."""
        person = self._ids.get(visitor)
        return person if person in self.state.people else None

    def approach(self, person: int, zone: int) -> None:
        """Visitor ``person`` is seen in engagement zone ``zone`` (3 far ... 1 close).

        The first time, the robot knows them by the same number; found again after
        being lost, they get a new id, as NAOqi adds them to the population anew.
        """
        if zone not in (1, 2, 3):
            raise ValueError(f"zone must be 1, 2 or 3, got {zone}")
        self.journal.record("sim", "approach", zone=zone)
        known = self._ids.get(person)
        if known is not None and known in self._dropping:
            self._dropping.pop(known).cancel()  # seen again before being dropped
            self.state.people[known] = 3  # back in sight, at the far edge
            self._in_sight_changed()
        elif known is None or known not in self.state.people:
            self._arrive(self._new_id(person), zone)
            self._maybe_lose_later(person, zone)
            return
        before = self.state.people[known]
        self._change_zone(known, zone)
        if before != 1:
            self._maybe_lose_later(person, zone)

    def _maybe_lose_later(self, visitor: int, zone: int) -> None:
        """In front of the robot, a visitor may be lost and found again (seeded)."""
        rate = self.settings.reidentify_rate
        if zone == 1 and rate > 0 and self._random.random() < rate:
            after = self._random.uniform(2.0, 20.0)
            self._reidentify[visitor] = self.clock.call_later(
                after, lambda: self.reidentify(visitor)
            )

    def _new_id(self, visitor: int) -> int:
        if visitor not in self._ids:
            self._ids[visitor] = visitor
        else:
            self._next_id += 1
            self._ids[visitor] = self._next_id
        return self._ids[visitor]

    def _arrive(self, person: int, zone: int) -> None:
        self.state.people[person] = 4  # in sight, in no zone yet
        self._in_sight_changed()
        self._people_event("PeoplePerception/JustArrived", person)
        self._change_zone(person, zone)

    def _change_zone(self, person: int, zone: int) -> None:
        before = self.state.people.get(person, 4)
        if zone == before:
            return  # "raised when a person changed of engagement zone": no change, no event
        self.state.people[person] = zone
        self._zone_event(f"EngagementZones/PersonEnteredZone{zone}", person)
        moved = "PersonApproached" if zone < before else "PersonMovedAway"
        self._zone_event(f"EngagementZones/{moved}", person)
        if zone == 1:
            self._launchpad(person)

    async def walk_in(self, person: int, step: float = 1.5) -> None:
        """A visitor walks up to the robot: zone 3, then 2, then 1, ``step`` s apart."""
        for zone in (3, 2, 1):
            self.approach(person, zone)
            if zone != 1:
                await self.clock.sleep(step)

    def leave(self, person: int) -> None:
        """Visitor ``person`` walks away: further zones, out of sight, then dropped.

        ``JustLeft`` comes once the person has been out of sight for the visible-person
        timeout (2 s by default), when NAOqi removes them from the population.
        """
        self.journal.record("sim", "leave")
        pending = self._reidentify.pop(person, None)
        if pending is not None:
            pending.cancel()
        known = self._ids.get(person)
        if known is None or known not in self.state.people or known in self._dropping:
            return
        for zone in range(self.state.people[known] + 1, 4):
            self._change_zone(known, zone)
        self._lose(known)

    def reidentify(self, visitor: int) -> None:
        """The robot loses ``visitor`` in place and finds them again under a new id."""
        self._reidentify.pop(visitor, None)
        old = self.person_id(visitor)
        if old is None or old in self._dropping:
            return
        zone = self.state.people[old]
        self.journal.record("sim", "reidentified", zone=zone)
        self._lose(old)
        self._arrive(self._new_id(visitor), zone)

    def _lose(self, person: int) -> None:
        """Out of sight now; removed from the population after the timeout."""
        self.state.people.pop(person, None)
        self._in_sight_changed()

        def drop() -> None:
            self._dropping.pop(person, None)
            self._people_event("PeoplePerception/JustLeft", person)
            if self._focused_for == person:
                self.stop_focus("person-left")

        self._dropping[person] = self.clock.call_later(
            self.state.time_before_visible_disappears, drop
        )

    def reset_population(self) -> None:
        """ALPeoplePerception.resetPopulation: everyone is forgotten at once."""
        for handle in self._dropping.values():
            handle.cancel()
        gone = sorted({*self.state.people, *self._dropping})
        self._dropping.clear()
        self.state.people.clear()
        for person in gone:
            self._people_event("PeoplePerception/JustLeft", person)
        if gone:
            self._in_sight_changed()

    # -- Autonomous Life ------------------------------------------------------------------

    def set_life(self, state: str, *, why: str) -> None:
        """Enter Autonomous Life state ``state``, with NAOqi's cleanup on every change.

        On each change NAOqi sets the voice and recogniser back to the preferred
        language, resets the LEDs, puts the tablet on its idle view and wakes the robot
        (or, for ``disabled``, puts it to rest); ``disabled`` and ``safeguard`` stop
        everything first.
        """
        if state == self.state.autonomous_life:
            return
        if state in ("disabled", "safeguard"):
            self.stop_speaking()
            self.state.moving = False
            self.state.focus = ""
        self.state.autonomous_life = state
        preferred = self.settings.preferred_language
        self.state.language = preferred
        self.state.asr_language = preferred
        self.state.eyes = 0xFFFFFF
        self.state.tablet = None
        self.state.moving = False
        self.state.awake = state != "disabled"
        self.state.posture = "Crouch" if state == "disabled" else "Stand"
        self.journal.record(DEVICE, "autonomous-life", state=state, why=why)
        self.raise_event("AutonomousLife/State", state)

    def _launchpad(self, person: int) -> None:
        """Someone came close in solitary: the Launchpad focuses the robot's own dialog."""
        if self.state.autonomous_life != "solitary" or not self.state.launchpad:
            return
        self.state.focus = DEFAULT_DIALOG
        self._focused_for = person
        self.set_life("interactive", why="launchpad")
        self.raise_event("AutonomousLife/FocusedActivity", DEFAULT_DIALOG)
        self.journal.record(DEVICE, "default-dialog", event="focused")

    def stop_focus(self, why: str) -> None:
        """The focused activity ends; Autonomous Life goes back to solitary."""
        if not self.state.focus:
            return
        self.state.focus = ""
        self._focused_for = None
        self.raise_event("AutonomousLife/FocusedActivity", "")
        if self.state.autonomous_life == "interactive":
            self.set_life("solitary", why=why)

    def push(self, seconds: float = 3.0) -> None:
        """Someone pushes the robot: the RobotPushed safeguard, solitary again after it.

        "After the trouble has passed, the Solitary State will be re-entered"; for
        RobotPushed that is 3 seconds later.
        """
        if self.state.autonomous_life == "disabled":
            return  # "Safeguard State may not be entered"
        self.journal.record("sim", "pushed")
        self.set_life("safeguard", why="robot-pushed")
        self.clock.call_later(seconds, lambda: self.set_life("solitary", why="safeguard-over"))

    def hear(self, text: str, language: str) -> None:
        """A visitor says ``text`` in NAOqi language ``language`` (e.g. 'French').

        Heard only while the recogniser is subscribed, fed a vocabulary and not paused,
        and only as the vocabulary phrases the sentence contains, in the recogniser's
        language (:mod:`hw_sim.pepper.recogniser`).
        """
        self.journal.record("sim", "hear", text=text, language=language)
        if self.state.focus == DEFAULT_DIALOG:
            # The robot's own dialog owns the recogniser and answers by itself.
            self.journal.record(DEVICE, "default-dialog", event="answered")
            return
        if self.state.audio_subscribers and self.audio_client is not None:
            # Someone takes the microphones' audio (Onthaal's stream hearing): they get
            # the sentence as sound, synthesised, whether NAOqi's recogniser runs or not.
            task = asyncio.get_running_loop().create_task(self._into_microphones(text, language))
            self._audio_tasks.add(task)
            task.add_done_callback(self._audio_tasks.discard)
        if not self._listening():
            if not self.state.audio_subscribers:
                self.journal.record(DEVICE, "unheard", why="the recogniser is not listening")
            return
        self._recognise(text, language, by="visitor")

    async def _into_microphones(self, text: str, language: str) -> None:
        """Play ``text`` into every audio client's ``processRemote``, paced on the clock."""
        pcm = await asyncio.to_thread(synthesise, text, language)
        if pcm is None:
            self.journal.record(DEVICE, "no-audio", why="espeak-ng is not installed")
            return
        silence = bytes(2 * int(AUDIO_RATE * 0.3))
        audio = silence + pcm + bytes(2 * AUDIO_RATE)  # a pause after: the utterance ends
        self.journal.record(
            DEVICE, "audio", text=text, seconds=round(len(audio) / 2 / AUDIO_RATE, 2)
        )
        chunk = 2 * AUDIO_CHUNK
        for name in sorted(self.state.audio_subscribers):
            assert self.audio_client is not None
            client = await asyncio.to_thread(self.audio_client, name)
            for start in range(0, len(audio), chunk):
                if name not in self.state.audio_subscribers:
                    break
                piece = audio[start : start + chunk]
                moment = self.clock.monotonic()
                stamp = [int(moment), int(moment % 1 * 1_000_000)]
                self.serving += 1  # on its way to the client: time waits for it
                try:
                    await asyncio.to_thread(client, 1, len(piece) // 2, stamp, piece)
                finally:
                    self.serving -= 1
                await self.clock.sleep(AUDIO_CHUNK / AUDIO_RATE)

    def _listening(self) -> bool:  # NAOqi's own recogniser
        s = self.state
        return bool(s.asr_subscribers) and not s.asr_paused and bool(s.asr_vocabulary)

    def _recognise(self, text: str, language: str, by: str) -> None:
        s = self.state
        value = self.recogniser.hear(
            text, language, s.asr_language, s.asr_vocabulary, s.asr_word_spotting, s.asr_hypotheses
        )
        self.journal.record(DEVICE, "recognised", of=by, phrases=[str(p) for p in value[::2]])
        delay = self.settings.recognition_delay
        if delay > 0:
            self.clock.call_later(delay, lambda: self.raise_event("WordRecognized", value))
        else:
            self.raise_event("WordRecognized", value)

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
