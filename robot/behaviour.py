"""The behaviour engine: small async scripts, one priority each, never two on one voice.

A :class:`Behaviour` says what it needs (voice, wheels, arms, tablet, eyes), when it
wants to run (:meth:`Behaviour.wants`, a look at the :class:`Situation`) and what it
does (:meth:`Behaviour.run`, a script that reads like its scenario). The
:class:`BehaviourEngine` re-decides after every event: the most important behaviour that
wants to run starts, preempting running behaviours that need the same resources and
matter less. A preempted behaviour is stopped either at once (a visitor walked away:
speech is cut) or at the next sentence boundary (the battery is low: the current
sentence is finished first); either way its cleanup resets the tablet and stops motion.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import html
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from clock import Clock
from robot.hal import LanguageUnavailable, RobotError, RobotEvent, RobotHAL

log = logging.getLogger("onthaal.robot.behaviour")


class Resource(enum.StrEnum):
    """What a behaviour may need exclusively."""

    VOICE = "voice"
    WHEELS = "wheels"
    ARMS = "arms"
    TABLET = "tablet"
    EYES = "eyes"


class Interrupt(enum.StrEnum):
    """How a behaviour stops the ones it preempts."""

    NOW = "now"  # cancel at once, cutting speech
    SENTENCE = "sentence"  # let the current sentence finish, then stop


class Preempted(Exception):
    """Raised inside a behaviour at its next sentence boundary when it must give way."""


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-ÖØ-Þ0-9])")


def sentences(text: str) -> list[str]:
    """Split a text into sentences, so speech can be interrupted between them."""
    return [part for part in _SENTENCE_END.split(text.strip()) if part]


@dataclass(frozen=True)
class Caption:
    """What the robot says (or said last), for the tablet's live caption."""

    number: int  # counts up with every new text
    text: str
    language: str
    speaking: bool


class Captions:
    """The robot's own words as it speaks them: captions for visitors who do not hear well.

    Only what the robot says, never what a visitor said; kept in memory, one at a time.
    """

    def __init__(self) -> None:
        """Nothing said yet."""
        self.current: Caption | None = None

    def saying(self, text: str, language: str) -> None:
        """The robot starts saying ``text``."""
        number = self.current.number + 1 if self.current is not None else 1
        self.current = Caption(number, text, language, speaking=True)

    def said(self) -> None:
        """The robot stopped speaking (the caption stays up until the next text)."""
        if self.current is not None and self.current.speaking:
            self.current = replace(self.current, speaking=False)


@dataclass
class Context:
    """What a running behaviour uses: the robot, the clock, and its stop signal."""

    robot: RobotHAL
    clock: Clock
    situation: Any
    stop_at_sentence: asyncio.Event = field(default_factory=asyncio.Event)
    captions: Captions = field(default_factory=Captions)

    def checkpoint(self) -> None:
        """A sentence boundary: give way here if asked to."""
        if self.stop_at_sentence.is_set():
            raise Preempted

    async def say(self, text: str, language: str, *, animated: bool = True) -> None:
        """Say ``text`` sentence by sentence, giving way between sentences if asked.

        When the robot has no voice for ``language`` (a licence not bought), the text is
        shown on the tablet instead, so the visitor still gets the answer.
        """
        self.captions.saying(text, language)
        try:
            for sentence in sentences(text):
                self.checkpoint()
                if animated:
                    await self.robot.animated_say(sentence, language)  # type: ignore[arg-type]
                else:
                    await self.robot.say(sentence, language)  # type: ignore[arg-type]
        except LanguageUnavailable:
            log.info("no voice for %s on the robot; the answer is shown on the tablet", language)
            await self.robot.show_html(
                f'<html lang="{html.escape(language)}"><body style="font-size:2.5em">'
                f"<p>{html.escape(text)}</p></body></html>"
            )
        finally:
            self.captions.said()

    async def wait_for(self, condition: Awaitable[Any]) -> Any:
        """Wait for ``condition`` but give way if asked to while waiting."""
        self.checkpoint()
        waiter = asyncio.ensure_future(condition)
        stop = asyncio.ensure_future(self.stop_at_sentence.wait())
        try:
            await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            waiter.cancel()  # cancelled while waiting: leave no task behind
            raise
        finally:
            stop.cancel()
        if not waiter.done():
            waiter.cancel()
            raise Preempted
        return waiter.result()


class Behaviour:
    """A reception behaviour: subclass and fill in ``wants`` and ``run``."""

    name: ClassVar[str] = "behaviour"
    priority: ClassVar[int] = 0
    resources: ClassVar[frozenset[Resource]] = frozenset({Resource.VOICE})
    interrupts: ClassVar[Interrupt] = Interrupt.NOW

    def wants(self, situation: Any) -> bool:
        """Whether this behaviour should run in ``situation``."""
        raise NotImplementedError

    async def run(self, ctx: Context) -> None:
        """The scenario script."""
        raise NotImplementedError

    async def cleanup(self, ctx: Context, *, interrupted: bool) -> None:
        """Leave the robot tidy: reset the tablet, stop motion, cut speech if interrupted."""
        with contextlib.suppress(RobotError):
            if interrupted and Resource.VOICE in self.resources:
                await ctx.robot.stop_speech()
            if Resource.WHEELS in self.resources or Resource.ARMS in self.resources:
                await ctx.robot.stop_motion()
            if interrupted and Resource.TABLET in self.resources:
                await ctx.robot.hide_tablet()


@dataclass
class _Running:
    behaviour: Behaviour
    task: asyncio.Task[None]
    ctx: Context
    preempted: bool = False


class BehaviourEngine:
    """Runs behaviours by priority over a robot's events (a supervised child)."""

    def __init__(
        self,
        robot: RobotHAL,
        behaviours: list[Behaviour],
        situation: Any,
        clock: Clock,
        *,
        on_event: Callable[[RobotEvent], None],
        sentence_grace: float = 30.0,
        tick: float = 15.0,
    ) -> None:
        """``on_event`` updates ``situation`` for each robot event before re-deciding."""
        self._robot = robot
        self._behaviours = sorted(behaviours, key=lambda b: b.priority, reverse=True)
        self.situation = situation
        self.captions = Captions()  # what the robot says, for the tablet's live caption
        self._clock = clock
        self._on_event = on_event
        self._grace = sentence_grace
        self._tick = tick
        self._running: dict[str, _Running] = {}
        self._wake = asyncio.Event()

    @property
    def running(self) -> list[str]:
        """Names of the behaviours running now."""
        return [r.behaviour.name for r in self._running.values() if not r.task.done()]

    def poke(self) -> None:
        """Re-decide soon (the situation changed outside an event, e.g. a timer)."""
        self._wake.set()

    async def run(self) -> None:
        """Follow the robot's events and keep the right behaviours running."""
        async with self._robot.events() as events:
            pump = asyncio.create_task(self._pump(events), name="behaviour-events")
            ticker = asyncio.create_task(self._ticker(), name="behaviour-ticker")
            try:
                while True:
                    # Clear before deciding: a wake-up during the decision (a behaviour
                    # ending while another is preempted) must lead to another decision.
                    self._wake.clear()
                    await self._decide()
                    await self._wake.wait()
            finally:
                pump.cancel()
                ticker.cancel()
                for running in list(self._running.values()):
                    running.task.cancel()
                await asyncio.gather(
                    pump, ticker, *(r.task for r in self._running.values()), return_exceptions=True
                )

    async def _ticker(self) -> None:
        """Re-decide now and then: some wishes depend on time passing (invitations)."""
        while True:
            await self._clock.sleep(self._tick)
            self._wake.set()

    async def _pump(self, events: Any) -> None:
        async for event in events:
            self._on_event(event)
            self._wake.set()

    async def _decide(self) -> None:
        for name, running in list(self._running.items()):
            if running.task.done():
                del self._running[name]
        if not self._robot.connected:
            return  # nothing can be done without the robot; ConnectionRestored wakes us
        for behaviour in self._behaviours:
            if behaviour.name in self._running or not behaviour.wants(self.situation):
                continue
            conflicts = [
                r for r in self._running.values() if r.behaviour.resources & behaviour.resources
            ]
            if any(r.behaviour.priority >= behaviour.priority for r in conflicts):
                continue
            for running in conflicts:
                await self._preempt(running, behaviour)
            self._start(behaviour)

    def _start(self, behaviour: Behaviour) -> None:
        ctx = Context(self._robot, self._clock, self.situation, captions=self.captions)
        # Idle starts and ends all day long: only worth a line when debugging.
        level = logging.DEBUG if behaviour.name == "idle" else logging.INFO
        log.log(level, "behaviour %s starts", behaviour.name)
        task = asyncio.create_task(self._script(behaviour, ctx), name=f"behaviour-{behaviour.name}")
        self._running[behaviour.name] = _Running(behaviour, task, ctx)

    async def _script(self, behaviour: Behaviour, ctx: Context) -> None:
        interrupted = False
        try:
            await behaviour.run(ctx)
        except Preempted:
            interrupted = True
        except asyncio.CancelledError:
            interrupted = True
            raise
        except RobotError as exc:
            log.warning("behaviour %s stopped: %s", behaviour.name, exc)
        except Exception:
            log.exception("behaviour %s crashed", behaviour.name)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(behaviour.cleanup(ctx, interrupted=interrupted))
            log.log(
                logging.DEBUG if behaviour.name == "idle" else logging.INFO,
                "behaviour %s ends",
                behaviour.name,
            )
            self._wake.set()

    async def _preempt(self, running: _Running, by: Behaviour) -> None:
        log.info("%s preempts %s (%s)", by.name, running.behaviour.name, by.interrupts)
        running.preempted = True
        if by.interrupts is Interrupt.SENTENCE:
            running.ctx.stop_at_sentence.set()
            done, _ = await asyncio.wait({running.task}, timeout=self._grace)
            if done:
                return
        running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Preempted):
            await running.task
