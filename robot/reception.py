"""The reception behaviours: welcome, help, guide, hand over, say goodbye.

Each behaviour is a short script over the :class:`Situation` (who is where, who is being
helped, what they said, the battery). Priorities, highest first:

======================  ===  ==========================================================
low battery             100  finish the sentence, apologise, rest; resume when charged
farewell                 80  the visitor walked away: stop talking, reset, forget
closed hours             60  someone comes close while the building is closed
greet                    50  someone comes close: welcome them, offer a language
converse                 40  listen, answer, ask back, guide, hand over, until goodbye
attract                  20  someone lingers further away: a gentle invitation
idle                      0  eyes and tablet welcome screen
======================  ===  ==========================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clock import Clock
from dialogue.engine import Conversation, DialogueEngine, Reply, ReplyKind
from dialogue.vocabulary import language_named
from robot.behaviour import Behaviour, Context, Interrupt, Resource
from robot.hal import (
    BatteryChanged,
    BatteryState,
    MoveBlocked,
    PersonApproached,
    PersonInSight,
    PersonLeft,
    PersonOutOfSight,
    RobotCommandFailed,
    RobotEvent,
    TabletTouched,
    UtteranceHeard,
)
from robot.staff import HandoverRequest, StaffNotifier
from robot.stats import NoStatistics, Statistics

log = logging.getLogger("onthaal.robot.reception")

TEXT_KEYS = (
    "greet",
    "language_chosen",
    "invite",
    "closed",
    "guide",
    "guide_blocked",
    "handover",
    "low_battery",
    "recharged",
)
EYES_WELCOME = 0xFFFFFF
EYES_LISTENING = 0x00A0FF
EYES_LOW_BATTERY = 0xFF8000
EYES_EMERGENCY = 0xFF0000
GUIDE_SPEED = 0.3  # m/s for a guide's step: a brisk walk, under Pepper's 0.35 maximum


class TextsError(Exception):
    """The behaviour texts file is unusable; ``problems`` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_texts(path: Path, languages: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """The robot's own lines per key and language; every key in every language."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TextsError([f"{path}: {exc}"]) from None
    problems = [
        f"{path}: {key}.{language}: missing"
        for key in TEXT_KEYS
        for language in languages
        if not str(data.get(key, {}).get(language, "")).strip()
    ]
    if problems:
        raise TextsError(problems)
    return {key: {lang: str(data[key][lang]) for lang in languages} for key in TEXT_KEYS}


@dataclass(frozen=True)
class ReceptionSettings:
    """Tunable numbers and addresses for the behaviours (``[behaviours]`` in robot.toml)."""

    low_battery: int = 20
    resume_battery: int = 60
    regreet_after: float = 300.0
    invite_every: float = 120.0
    tablet_url: str = "http://127.0.0.1:8080/tablet"
    #: The robot's key to its tablet pages: taps and typed questions carry it back.
    tablet_token: str = ""
    #: Seconds within which a new id in zone 1 is taken for a visitor lost there.
    same_person_within: float = 3.0
    #: Metres the robot steps towards a desk while pointing (0: it only points).
    guide_step: float = 0.3
    #: Radians to the nearest exit, pointed at during an emergency (None: no pointing).
    exit_direction: float | None = None
    #: Seconds between repeats of an emergency notice.
    emergency_repeat: float = 60.0


@dataclass(frozen=True)
class EmergencyNotice:
    """An emergency the robot must announce: its words per language (title, body)."""

    id: str
    texts: Mapping[str, tuple[str, str]]

    def said(self, language: str, fallback: str) -> tuple[str, str] | None:
        """``(language, sentence)`` to say: in ``language``, else in ``fallback``, else in
        the first language the notice has; None if it has no words at all."""
        for code in (language, fallback, *self.texts):
            if code in self.texts:
                title, body = self.texts[code]
                sentence = " ".join(
                    part.strip().rstrip(".") + "." for part in (title, body) if part.strip()
                )
                return (code, sentence) if sentence else None
        return None


@dataclass
class Situation:
    """What the behaviours know. Kept in memory only; no text is stored."""

    clock: Clock
    dialogue: DialogueEngine
    texts: dict[str, dict[str, str]]
    settings: ReceptionSettings
    staff: StaffNotifier
    statistics: Statistics = field(default_factory=NoStatistics)
    visitors: dict[str, int] = field(default_factory=dict)  # track id -> zone
    greeted: dict[str, float] = field(default_factory=dict)  # track id -> when (monotonic)
    lost: dict[str, float] = field(default_factory=dict)  # lost in zone 1 -> when (monotonic)
    found: dict[str, float] = field(default_factory=dict)  # new in zone 1 -> when (monotonic)
    out_of_sight: set[str] = field(default_factory=set)
    engaged: str | None = None
    engaged_left: bool = False
    conversation: Conversation | None = None
    inbox: asyncio.Queue[UtteranceHeard | TabletTouched] = field(default_factory=asyncio.Queue)
    battery: BatteryState = field(default_factory=lambda: BatteryState(100, False))
    resting: bool = False
    listening: bool = False  # the conversation waits for the visitor's next words
    turned: float = 0.0  # radians the robot has turned away from its place (guiding)
    stepped: float = 0.0  # metres it has stepped away from it
    last_invite: float | None = None
    battery_changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Active emergencies for the robot's zone (from the schedule), oldest first.
    emergencies: tuple[EmergencyNotice, ...] = ()
    emergencies_changed: asyncio.Event = field(default_factory=asyncio.Event)

    def set_emergencies(self, notices: Sequence[EmergencyNotice]) -> None:
        """The emergencies that hold now (empty: none); the behaviours follow at once."""
        self.emergencies = tuple(notices)
        self.emergencies_changed.set()

    # -- events ------------------------------------------------------------------------

    def on_event(self, event: RobotEvent) -> None:
        """Update what we know from one robot event."""
        match event:
            case PersonApproached(track_id=track, zone=zone):
                if zone == 1 and track not in self.visitors:
                    self.found[track] = self.clock.monotonic()
                    self._same_person()
                if zone == 1:
                    self.out_of_sight.discard(track)  # close by: certainly seen
                self.visitors[track] = zone
                if zone > 1:
                    self.lost.pop(track, None)  # not lost: walking away
                    if track in self.out_of_sight and track == self.engaged:
                        self.engaged_left = True
            case PersonOutOfSight(track_id=track):
                self.out_of_sight.add(track)
                if self.visitors.get(track) == 1:
                    self.lost[track] = self.clock.monotonic()  # maybe found again at once
                    self._same_person()
                elif track == self.engaged:
                    self.engaged_left = True  # walked away: say goodbye now
            case PersonInSight(track_id=track):
                self.out_of_sight.discard(track)
                self.lost.pop(track, None)
            case PersonLeft(track_id=track):
                self.visitors.pop(track, None)
                self.lost.pop(track, None)
                self.found.pop(track, None)
                self.out_of_sight.discard(track)
                if track == self.engaged:
                    self.engaged_left = True
            case UtteranceHeard() | TabletTouched() if self.engaged is not None:
                self.inbox.put_nowait(event)
            case BatteryChanged(percent=percent, charging=charging):
                self.battery = BatteryState(percent, charging)
                self.battery_changed.set()

    def _same_person(self) -> None:
        """A greeted visitor lost in zone 1 and a new id there within a few seconds: one person.

        NAOqi gives a person it loses and finds again a new id; without this they would
        be welcomed twice, and their conversation dropped when the old id is removed.
        The two events may come in either order (libqi does not order different keys).
        """
        now, window = self.clock.monotonic(), self.settings.same_person_within
        for table in (self.lost, self.found):
            for track, when in list(table.items()):
                if now - when > window:
                    del table[track]
        for old in [t for t in self.lost if t in self.greeted]:
            new = next((t for t in self.found if t not in self.greeted and t != old), None)
            if new is None:
                return
            del self.lost[old], self.found[new]
            self.greeted[new] = self.greeted[old]
            if self.engaged == old:
                self.engaged = new
            log.info("a visitor was found again under a new id; still the same person")

    # -- questions the behaviours ask ----------------------------------------------------

    @property
    def language(self) -> str:
        """The language of the current conversation, or the site's."""
        if self.conversation is not None:
            return self.conversation.language
        return self.dialogue.default_language

    def newcomer(self) -> str | None:
        """Someone in zone 1 not greeted recently, while nobody is being helped."""
        if self.engaged is not None:
            return None
        now = self.clock.monotonic()
        for track, zone in self.in_sight().items():
            greeted = self.greeted.get(track)
            if zone == 1 and (greeted is None or now - greeted > self.settings.regreet_after):
                return track
        return None

    def in_sight(self) -> dict[str, int]:
        """Visitors seen right now, and their zones.

        Someone walking away is out of sight before NAOqi drops them, and their last
        zone events may still come in (libqi does not order different keys): they no
        longer count as being there.
        """
        return {t: z for t, z in self.visitors.items() if t not in self.out_of_sight}

    def is_open(self) -> bool:
        """Whether the building is open now."""
        return self.dialogue.calendar.is_open(self.clock.now())

    def engage(self, track: str) -> None:
        """Start helping ``track``: a fresh conversation, nothing from before."""
        self.engaged = track
        self.engaged_left = False
        self.greeted[track] = self.clock.monotonic()
        self.conversation = self.dialogue.conversation()
        self.inbox = asyncio.Queue()
        self.statistics.count(self.clock.now(), self.language, "greeted")

    def end_conversation(self) -> None:
        """Forget the conversation (the visitor left or said goodbye)."""
        self.engaged = None
        self.engaged_left = False
        self.conversation = None
        self.inbox = asyncio.Queue()

    def text(self, key: str, language: str | None = None) -> str:
        """One of the robot's own lines, with {site} and {next_open} filled in."""
        language = language or self.language
        return self.texts[key][language].format(
            site=self.dialogue.kb.variable("site", language),
            next_open=self.dialogue.next_open(language),
        )

    def page(self, name: str, language: str | None = None) -> str:
        """The URL of a tablet page (with the robot's tablet key, when it has one)."""
        url = f"{self.settings.tablet_url}/{name}?lang={language or self.language}"
        return url + f"&t={self.settings.tablet_token}" if self.settings.tablet_token else url

    async def show(self, ctx: Context, name: str, language: str | None = None) -> None:
        """Show a tablet page; one that does not load is logged, never stops the robot.

        A visitor still hears the answer when the tablet cannot show it (NAOqi's
        ``showWebview`` is False for a page that is not found or not reachable).
        """
        try:
            await ctx.robot.show_url(self.page(name, language))
        except RobotCommandFailed as exc:
            log.warning("the tablet did not show %s: %s", name, exc)

    async def battery_at_least(self, percent: int) -> None:
        """Return once the battery is charged to ``percent``."""
        while self.battery.percent < percent:
            self.battery_changed.clear()
            await self.battery_changed.wait()


# -- the behaviours ---------------------------------------------------------------------


class Emergency(Behaviour):
    """An emergency for the robot's zone: stop at once, say it in the visitor's language
    and the site's, show it on the tablet, point to the exit; greet no one until it ends."""

    name = "emergency"
    priority = 120
    resources = frozenset(Resource)
    interrupts = Interrupt.NOW

    def wants(self, s: Situation) -> bool:
        return bool(s.emergencies)

    async def run(self, ctx: Context) -> None:
        s: Situation = ctx.situation
        visitor = s.conversation.language if s.conversation is not None else None
        s.end_conversation()  # the visitor is told what to do, not answered
        site = s.dialogue.default_language
        await ctx.robot.set_eyes(EYES_EMERGENCY, 0.0)
        if s.resting:
            await ctx.robot.wake_up()
        await back_in_place(ctx, s)
        while s.emergencies:
            s.emergencies_changed.clear()
            languages = list(dict.fromkeys(code for code in (visitor, site) if code))
            await s.show(ctx, "emergency", languages[0])
            for notice in s.emergencies:
                spoken: set[str] = set()
                for language in languages:
                    said = notice.said(language, site)
                    if said is not None and said[0] not in spoken:
                        spoken.add(said[0])
                        await ctx.say(said[1], said[0], animated=False)
            if s.settings.exit_direction is not None:
                await ctx.robot.point(s.settings.exit_direction)
            # Again after a while, or at once when the notices change (one ends, one more).
            with contextlib.suppress(TimeoutError):
                await ctx.wait_for(
                    s.clock.wait_for(s.emergencies_changed.wait(), s.settings.emergency_repeat)
                )
        log.info("emergency over: back to welcoming")
        await ctx.robot.set_eyes(EYES_WELCOME)
        await s.show(ctx, "welcome", site)
        s.resting = False


class LowBattery(Behaviour):
    """Below the low level: finish the sentence, apologise, rest until charged."""

    name = "low-battery"
    priority = 100
    resources = frozenset(Resource)
    interrupts = Interrupt.SENTENCE

    def wants(self, s: Situation) -> bool:
        return s.resting or s.battery.percent < s.settings.low_battery

    async def run(self, ctx: Context) -> None:
        s: Situation = ctx.situation
        s.resting = True
        if s.engaged is not None:
            await ctx.say(s.text("low_battery"), s.language)
            s.end_conversation()
        await ctx.robot.set_eyes(EYES_LOW_BATTERY)
        await ctx.robot.hide_tablet()
        await ctx.robot.rest()
        await s.battery_at_least(s.settings.resume_battery)
        await ctx.robot.wake_up()
        await ctx.robot.set_eyes(EYES_WELCOME)
        s.resting = False


class Farewell(Behaviour):
    """The visitor walked away: stop at once, reset the tablet, forget the conversation."""

    name = "farewell"
    priority = 80
    resources = frozenset({Resource.VOICE, Resource.TABLET, Resource.ARMS})

    def wants(self, s: Situation) -> bool:
        return s.engaged is not None and s.engaged_left

    async def run(self, ctx: Context) -> None:
        s: Situation = ctx.situation
        # The behaviour it preempted has already cut its speech and reset the tablet.
        log.info("visitor left; conversation dropped")
        s.end_conversation()
        await ctx.robot.set_eyes(EYES_WELCOME)


class ClosedHours(Behaviour):
    """Someone comes close while the building is closed: say when it opens again."""

    name = "closed-hours"
    priority = 60
    resources = frozenset({Resource.VOICE, Resource.TABLET})

    def wants(self, s: Situation) -> bool:
        return s.newcomer() is not None and not s.is_open()

    async def run(self, ctx: Context) -> None:
        s: Situation = ctx.situation
        track = s.newcomer()
        if track is None:
            return  # gone (or found to be someone already greeted) since it was decided
        s.engage(track)
        await s.show(ctx, "closed")
        await ctx.say(s.text("closed"), s.language)


class Greet(Behaviour):
    """Someone comes close: welcome them in the site's language and offer the others."""

    name = "greet"
    priority = 50
    resources = frozenset({Resource.VOICE, Resource.TABLET})

    def wants(self, s: Situation) -> bool:
        return s.newcomer() is not None and s.is_open()

    async def run(self, ctx: Context) -> None:
        s: Situation = ctx.situation
        track = s.newcomer()
        if track is None:
            return  # gone (or found to be someone already greeted) since it was decided
        s.engage(track)
        await s.show(ctx, "languages")  # a millisecond; then the voice
        await ctx.say(s.text("greet"), s.language)
        await ctx.robot.set_eyes(EYES_LISTENING)


class Converse(Behaviour):
    """Listen and answer until the visitor says goodbye (or leaves: farewell takes over)."""

    name = "converse"
    priority = 40
    resources = frozenset(
        {Resource.VOICE, Resource.TABLET, Resource.ARMS, Resource.WHEELS, Resource.EYES}
    )

    def wants(self, s: Situation) -> bool:
        return s.engaged is not None and not s.engaged_left and s.conversation is not None

    async def run(self, ctx: Context) -> None:
        s: Situation = ctx.situation
        while s.conversation is not None:
            # Turn-taking: blue eyes while it listens, white while it answers (at once,
            # not faded: a fade is a blocking call that would delay the answer).
            await ctx.robot.set_eyes(EYES_LISTENING, 0.0)
            s.listening = True
            try:
                heard = await ctx.wait_for(s.inbox.get())
            finally:
                s.listening = False
            await ctx.robot.set_eyes(EYES_WELCOME, 0.0)
            if isinstance(heard, TabletTouched):
                await self._tablet(ctx, s, heard.element)
                continue
            named = language_named(heard.text)
            if named is not None and named in s.dialogue.kb.languages:
                await self._tablet(ctx, s, f"lang-{named}")  # "français": as if tapped
                continue
            meaning = None
            stage = s.dialogue.semantic
            if not heard.spotted and stage is not None and stage.ready:
                # A sentence (typed on the tablet, or transcribed): its meaning helps. One
                # embedding, 15-50 ms of C: in a worker thread, never on the loop.
                meaning = await asyncio.to_thread(s.dialogue.meaning_of, heard.text)
            reply = s.conversation.respond(
                heard.text, heard.language, heard.confidence, meaning=meaning
            )
            await self._reply(ctx, s, reply)

    async def _reply(self, ctx: Context, s: Situation, reply: Reply) -> None:
        s.statistics.count(s.clock.now(), reply.language, reply.intent or str(reply.kind))
        if reply.tablet:
            # Shown first: the page carries the caption of the answer as it is spoken.
            await s.show(ctx, f"page/{reply.tablet}", reply.language)
        await ctx.say(reply.said, reply.language)  # short; the tablet shows it all
        if reply.offer_tablet:  # heard badly twice: type it, or tap a topic
            await s.show(ctx, "ask", reply.language)
        if reply.desk is not None:
            await guide(ctx, s, reply)
        if reply.kind is ReplyKind.HANDOVER:
            await hand_over(ctx, s, reply)
        if reply.ends_conversation:
            s.end_conversation()

    async def _tablet(self, ctx: Context, s: Situation, element: str) -> None:
        """A tap: ``lang-fr`` (a language), ``topic-passport`` (a topic's button)."""
        assert s.conversation is not None
        kind, _, value = element.partition("-")
        if kind == "lang" and value in s.dialogue.kb.languages:
            s.conversation.language = value
            await s.show(ctx, "ask", value)
            await ctx.say(s.text("language_chosen", value), value)
        elif kind == "topic" and value in s.dialogue.kb.intents:
            await self._reply(ctx, s, s.dialogue.answer(value, s.conversation.language))
        else:
            log.info("a tap on %r, which means nothing here", element[:40])


async def guide(ctx: Context, s: Situation, reply: Reply) -> None:
    """Show the route to the reply's desk on the tablet and point the way.

    With ``guide_step``, the robot turns to the desk and takes a step towards it while
    pointing, then comes back. A step that is blocked (someone in the way, the robot on
    its charger) is said out loud: the route stays on the screen.
    """
    assert reply.desk is not None
    await s.show(ctx, f"route/{reply.desk.id}", reply.language)
    ctx.checkpoint()
    await ctx.say(s.text("guide", reply.language), reply.language)
    step, direction = s.settings.guide_step, reply.desk.direction
    if step <= 0:
        await ctx.robot.point(direction)
        return
    try:
        await ctx.robot.turn(direction)
        s.turned = direction
        await ctx.robot.move(step, 0.0, 0.0, speed=GUIDE_SPEED)
        s.stepped = step
    except MoveBlocked as blocked:
        log.info("guide move blocked: %s", blocked.reason)
        ctx.checkpoint()
        await ctx.say(s.text("guide_blocked", reply.language), reply.language)
    await ctx.robot.point(0.0 if s.turned else direction)
    await back_in_place(ctx, s)


async def back_in_place(ctx: Context, s: Situation) -> None:
    """Step back and turn back to where the robot stands to welcome people.

    Only moves that finished are undone; a step stopped short at an obstacle ends a few
    centimetres out at most, which the robot's own obstacle margin absorbs.
    """
    if s.stepped:
        with contextlib.suppress(MoveBlocked):
            await ctx.robot.move(-s.stepped, 0.0, 0.0, speed=GUIDE_SPEED)
        s.stepped = 0.0
    if s.turned:
        with contextlib.suppress(MoveBlocked):
            await ctx.robot.turn(-s.turned)
        s.turned = 0.0


async def hand_over(ctx: Context, s: Situation, reply: Reply) -> None:
    """Tell staff a visitor needs a person, and tell the visitor someone is coming."""
    reason = "asked" if reply.intent is not None else "not-understood"
    s.staff.publish(HandoverRequest(s.clock.now(), reply.language, reason, reply.intent))
    s.statistics.count(s.clock.now(), reply.language, "handover")
    await s.show(ctx, "colleague", reply.language)
    await ctx.say(s.text("handover", reply.language), reply.language)


class Attract(Behaviour):
    """Someone lingers in zone 2: invite them, at most every few minutes."""

    name = "attract"
    priority = 20
    resources = frozenset({Resource.VOICE, Resource.EYES})

    def wants(self, s: Situation) -> bool:
        if s.engaged is not None or s.resting or 2 not in s.in_sight().values():
            return False
        now = s.clock.monotonic()
        return s.last_invite is None or now - s.last_invite >= s.settings.invite_every

    async def run(self, ctx: Context) -> None:
        s: Situation = ctx.situation
        s.last_invite = s.clock.monotonic()
        await ctx.robot.set_eyes(EYES_LISTENING)
        await ctx.say(s.text("invite"), s.language)
        await ctx.robot.set_eyes(EYES_WELCOME)


class Idle(Behaviour):
    """Nobody to help: welcome screen and friendly eyes."""

    name = "idle"
    priority = 0
    resources = frozenset({Resource.TABLET, Resource.EYES, Resource.WHEELS})

    def wants(self, s: Situation) -> bool:
        return s.engaged is None and not s.resting

    async def run(self, ctx: Context) -> None:
        s: Situation = ctx.situation
        await back_in_place(ctx, s)  # a guide cut short leaves it turned away
        await ctx.robot.set_eyes(EYES_WELCOME)
        await s.show(ctx, "welcome")
        await ctx.wait_for(asyncio.Event().wait())


def reception_behaviours() -> list[Behaviour]:
    """Every reception behaviour, ready for a BehaviourEngine."""
    return [
        Emergency(),
        LowBattery(),
        Farewell(),
        ClosedHours(),
        Greet(),
        Converse(),
        Attract(),
        Idle(),
    ]
