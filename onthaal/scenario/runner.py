"""Run a scenario against the whole system on the virtual clock.

Everything runs for real: the supervisor, the behaviours over libqi to the simulated
Pepper, the dialogue, the scheduler, Bumble beacons, displays over MQTT, the web app.
In ``--fast`` mode simulated time stands still except when the runner moves it on
(speech, lingering, the time between visitors), so a slow machine gives the same day
as a fast one: the scenario journal (planned times, what happened, what every screen
shows) is the same for the same seed. Reaction times (time to greet) are measured in
real time, as a visitor would feel them, and go to the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from beacons.content import LocalizedContent
from clock import RealClock, VirtualClock
from hw_sim.journal import Journal
from hw_sim.pepper.in_flight import LibqiInFlight
from onthaal.app import Mode, System, build_system, supervisor_for
from onthaal.config import Config
from onthaal.dialogue_setup import build_engine
from onthaal.logs import use_simulated_time
from onthaal.scenario.model import Expectation, Fault, Scenario, StaffAction
from onthaal.scenario.plan import Plan, Step, Visit, make_plan
from onthaal.scenario.progress import ProgressSink, Standing
from robot.stats import Tee
from scheduler.model import Message, emergency_notice
from scheduler.parse import parse_targets

LANGUAGE_NAMES = {"nl": "Dutch", "fr": "French", "en": "English", "de": "German"}
REACTION_TIMEOUT = 3.0  # real seconds the robot may take to start speaking
QUIET_LIMIT = 120.0  # simulated seconds a reply may take at most
SETTLE_LIMIT = 15.0  # real seconds to wait for deliveries before judging
REAL_LIMIT = 10.0  # real seconds one robot reply may take before the run moves on
FAULT_LIMIT = 30.0  # real seconds injecting or recovering one fault may take
STUCK_LIMIT = 60.0  # real seconds beyond the paced time an advance may take
#: What a simulated visitor answers to the robot's check question, per language.
YES = {"nl": "ja", "fr": "oui", "en": "yes", "de": "ja"}
NO = {"nl": "nee", "fr": "non", "en": "no", "de": "nein"}
#: Check questions a visitor answers per question ("no" and asking again, at most once).
CHECKS_PER_QUESTION = 2
READY_POLL = 0.05  # seconds, real and simulated, between looks at the waking building
OBSTACLE_METRES = 0.45  # a robot-blocked fault: something this far ahead of the robot
PUSH_SECONDS = 4.0  # a robot-pushed fault: the safeguard lasts 3 s, then Life resets


class SimulationStuck(RuntimeError):
    """Simulated time stopped moving (the message says what the clock was waiting for)."""


log = logging.getLogger("onthaal.scenario")


@dataclass
class VisitResult:
    """What happened to one visitor."""

    number: int
    language: str
    arrived: datetime
    greeted: bool
    greet_ms: float | None
    asked: list[str | None]
    answered: list[str]
    handover: bool
    waited: float = 0.0  # simulated seconds in the queue while the robot helped others
    walked_on: bool = False  # waited longer than their patience: never helped
    evacuated: bool = False  # came during an emergency: left the building, as told


@dataclass
class RunResult:
    """The outcome of a run, for the report and the exit code."""

    scenario: Scenario
    seed: int
    visits: list[VisitResult] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    expectations: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    stalls: int = 0  # replies that took longer than REAL_LIMIT real seconds
    errors: list[str] = field(default_factory=list)  # staff actions or faults that failed
    pages_shown: int = 0  # web pages the robot's tablet was told to show and loaded
    pages_refused: list[dict[str, Any]] = field(default_factory=list)  # ... that did not load
    interrupted_at: datetime | None = None  # simulated time at which the run was stopped
    timezone: str = "UTC"

    @property
    def ok(self) -> bool:
        """Whether every expectation held (and the day was played to its end)."""
        return self.interrupted_at is None and all(e["held"] for e in self.expectations)

    @property
    def unanswered(self) -> dict[str, int]:
        """Per intent asked, how many times the robot did not answer it (ids, never text).

        Out-of-scope questions (no intent) are counted under ``out-of-scope`` when the
        robot answered them as if it knew.
        """
        missed: Counter[str] = Counter()
        for visit in self.visits:
            for asked, got in zip(visit.asked, visit.answered, strict=False):
                if asked is None:
                    if got not in ("no_match", "handover", "silent"):
                        missed["out-of-scope"] += 1
                elif asked != got:
                    missed[asked] += 1
        return dict(missed.most_common())

    def warnings(self, long_wait: float = 60.0) -> list[str]:
        """What a person should look at even when every expectation held."""
        found = []
        walked = [v for v in self.visits if v.walked_on]
        if walked:
            found.append(
                f"{len(walked)} of {len(self.visits)} visitors walked on before the robot was free"
            )
        waited = [v for v in self.visits if not v.walked_on and v.waited >= long_wait]
        if waited:
            found.append(
                f"{len(waited)} visitors waited {long_wait:g} s or more for the robot "
                f"(longest {max(v.waited for v in waited):.0f} s)"
            )
        not_greeted = [
            v for v in self.visits if not v.walked_on and not v.evacuated and not v.greeted
        ]
        if not_greeted:
            found.append(f"{len(not_greeted)} visitors were not greeted")
        if self.stalls:
            found.append(f"the robot took over {REAL_LIMIT:g} real seconds {self.stalls} times")
        if self.interrupted_at is not None:
            found.append(f"the run was stopped at {self.interrupted_at:%H:%M} (simulated)")
        return found


class _Events:
    """Collects what the reception reports (greetings, answers, hand-overs)."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def count(self, at: datetime, language: str, event: str) -> None:
        self.events.append(event)


class ScenarioRun:
    """One run of one scenario."""

    def __init__(
        self,
        scenario: Scenario,
        config: Config,
        config_path: Path,
        *,
        seed: int,
        speed: float | None,
        journal: TextIO | None = None,
        progress: Callable[[int], ProgressSink] | None = None,
        state_dir: Path | None = None,
        on_start: Callable[[str, str, str], None] | None = None,
    ) -> None:
        """Prepare the run (``speed`` None: as fast as the machine allows).

        ``progress(total)`` makes where progress is shown. ``state_dir`` holds the run's
        databases (emptied first; default: a temporary folder). ``on_start(url, user,
        password)`` is told where the staff web app is and the simulation-only sign-in.
        """
        self.scenario = scenario
        day = scenario.day
        hours = {
            **config.opening_hours.exceptions,
            day.date.isoformat(): [f"{day.opens}-{day.closes}"],
        }
        # Every run starts from an empty schedule, outbox and account database.
        self._state = (
            None if state_dir is not None else tempfile.TemporaryDirectory(prefix="onthaal-sim-")
        )
        state = state_dir if state_dir is not None else Path(self._state.name)  # type: ignore[union-attr]
        # Absolute: the config resolves relative paths against its own folder, and the
        # folder emptied here must be the one the databases are opened in.
        state = state.resolve()
        _empty_state(state)
        self.config = config.model_copy(
            update={
                "opening_hours": config.opening_hours.model_copy(update={"exceptions": hours}),
                "sim": config.sim.model_copy(update={"seed": seed, "speed": speed or 1.0}),
                "scheduler": config.scheduler.model_copy(
                    update={"database": str(state / "schedule.sqlite")}
                ),
                "mqtt": config.mqtt.model_copy(update={"outbox": str(state / "outbox.sqlite")}),
                "web": config.web.model_copy(update={"users": str(state / "users.sqlite")}),
                "alerts": config.alerts.model_copy(
                    update={"database": str(state / "alerts.sqlite")}
                ),
                "privacy": config.privacy.model_copy(update={"statistics": False}),
            }
        )
        self.config_path = config_path
        self.seed = seed
        self.speed = speed
        self.tz = ZoneInfo(config.site.timezone)
        self._journal_out = journal
        self._progress_factory = progress
        self._progress: ProgressSink | None = None
        self._on_start = on_start
        self._state_dir = state
        self._hold: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        self._stop = asyncio.Event()
        self._push_next = False  # a robot-pushed fault waits for the next conversation
        self.result = RunResult(scenario, seed, timezone=config.site.timezone)

    def interrupt(self) -> None:
        """Stop the day where it is (Ctrl-C): the result and report cover what happened."""
        self._stop.set()

    # -- the scenario journal ----------------------------------------------------------

    def _log(self, at: datetime, event: str, **fields: Any) -> None:
        if self._journal_out is not None:
            entry = {"t": at.astimezone(self.tz).isoformat(), "event": event, **fields}
            self._journal_out.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")

    # -- time ---------------------------------------------------------------------------

    async def _advance_to(self, clock: VirtualClock, moment: datetime) -> None:
        """Let simulated time run to ``moment`` (and hold it there in fast mode)."""
        if clock.now() >= moment:
            return
        self._hold.__exit__(None, None, None)
        paced = (moment - clock.now()).total_seconds() / self.speed if self.speed else 0.0
        try:
            # Bounded in real time: a simulation that stops moving says why, at once.
            async with asyncio.timeout(paced + STUCK_LIMIT):
                await clock.sleep_until(moment)
        except TimeoutError:
            state = clock.describe()
            log.error("simulated time stopped at %s: %s", clock.now().astimezone(self.tz), state)
            raise SimulationStuck(
                f"simulated time stopped moving before {moment:%H:%M}: {state}"
            ) from None
        finally:
            self._hold = clock.held()
            self._hold.__enter__()

    async def _advance(self, clock: VirtualClock, seconds: float) -> None:
        await self._advance_to(clock, clock.now() + timedelta(seconds=seconds))

    # -- running --------------------------------------------------------------------------

    async def run(self) -> RunResult:
        """Run the whole day; the result (expectations judged)."""
        started = time.perf_counter()
        engine = build_engine(self.config, self.config_path, RealClock())  # for its KB only
        plan = make_plan(self.scenario, engine.kb, self.tz, self.seed)
        assert plan.opens is not None and plan.closes is not None
        self._log(
            plan.opens,
            "scenario",
            name=self.scenario.day.name,
            seed=self.seed,
            visitors=len(plan.visits),
        )
        start = plan.opens - timedelta(minutes=5)
        # Paced, not free-running: time moves only at quiet moments at any speed, so the
        # same seed gives the same day at 30x, 300x and --fast.
        async with VirtualClock(start, pace=self.speed) as clock:
            self._hold = clock.held()
            # [sim] journal: what the simulated devices did, one JSON line per action
            # (the robot's calls, its Autonomous Life changes, the tablet, the guide).
            robot_log = Path(self.config.sim.journal) if self.config.sim.journal else None
            hw_journal = Journal(clock, robot_log)
            mode = Mode(simulate=True, config_path=self.config_path)
            system = build_system(self.config, mode, clock, hw_journal)
            assert system.robot.sim is not None
            # libqi's threads are the only work outside the event loop: the clock waits
            # for exactly what is on its way there before it jumps.
            clock.watch_outside(LibqiInFlight(system.robot.sim.world, system.robot.robot.traffic))
            # And MQTT messages written but not yet acknowledged (see hw_sim.mqtt_in_flight).
            if system.signage.in_flight is not None:
                clock.watch_outside(system.signage.in_flight)
            events = _Events()
            situation = system.robot.reception.situation
            situation.statistics = Tee(situation.statistics, events)
            supervisor = supervisor_for(self.config, "scenario", system.children, clock)
            system.web.watch(supervisor)
            self._announce(system)
            use_simulated_time(lambda: clock.now().astimezone(self.tz))
            if self._progress_factory is not None:
                self._progress = self._progress_factory(len(plan.visits))
            runner = asyncio.create_task(supervisor.run())
            try:
                await self._ready(clock, system)
                self._hold.__enter__()
                day = asyncio.create_task(self._day(clock, system, plan, hw_journal, events))
                stop = asyncio.create_task(self._stop.wait())
                await asyncio.wait({day, stop}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if not day.done():
                    self.result.interrupted_at = clock.now().astimezone(self.tz)
                    day.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await day
                    self._log(clock.now(), "interrupted")
                else:
                    try:
                        day.result()
                        await self._settle(clock, system)
                    except SimulationStuck as exc:  # judged and reported, not a traceback
                        self.result.errors.append(str(exc))
                self._final(clock, system)
            finally:
                if self._progress is not None:
                    self._progress.close()
                use_simulated_time(None)
                with contextlib.suppress(Exception):
                    self._hold.__exit__(None, None, None)
                supervisor.stop()
                with contextlib.suppress(Exception):
                    await runner
            self.result.deliveries = [
                {
                    "device": d.device,
                    "content": d.content_id,
                    "at": _local(d.at, self.tz),
                    "ok": d.ok,
                    "attempts": d.attempts,
                }
                for d in system.web.store.deliveries()
            ]
            self.result.pages_shown = len(hw_journal.find("pepper", "tablet-show"))
            self.result.pages_refused = [
                {"url": e["url"], "reason": e.get("reason", "")}
                for e in hw_journal.find("pepper", "tablet-refused")
            ]
        self._judge()
        self.result.wall_seconds = time.perf_counter() - started
        if self._state is not None:
            self._state.cleanup()
        return self.result

    def _announce(self, system: System) -> None:
        """Create the simulation-only staff account and tell where the web app is."""
        if self._on_start is None:
            return
        password = secrets.token_urlsafe(12)
        system.web.users.add("sim", password, "admin")
        web = self.config.web
        url = f"http://{web.host}:{web.port}/"
        login = self._state_dir / "sim-login.txt"
        login.write_text(f"{url}\nuser: sim\npassword: {password}\n", encoding="utf-8")
        login.chmod(0o600)
        self._on_start(url, "sim", password)

    async def _ready(self, clock: VirtualClock, system: System) -> None:
        """Start of day: wait until robot, screens and beacons are up.

        Coming up is real work (connections, threads), so it is waited for in real time,
        and simulated time moves only a little meanwhile (back-offs run on the simulated
        clock). Stepping simulated time until everything was up let a slow start (a busy
        machine) eat the minutes before opening, and the first visitors walked on.
        """
        deadline = time.monotonic() + 60
        while not self._all_up(system):
            if time.monotonic() > deadline:
                raise RuntimeError("the simulated building did not come up within 60 s")
            with clock.held():  # or a fast clock jumps while nothing is runnable here
                await asyncio.sleep(READY_POLL)  # clock-ok: connections come up in real time
            await clock.sleep(READY_POLL)

    @staticmethod
    def _all_up(system: System) -> bool:
        screens = system.signage.signage.states().values()
        return (
            system.robot.robot.connected
            and system.signage.signage.connected
            and all(s.online for s in screens)
            and system.ble.ready.is_set()
            and "idle" in system.robot.reception.engine.running
        )

    async def _day(
        self, clock: VirtualClock, system: System, plan: Plan, hw: Journal, events: _Events
    ) -> None:
        """Staff actions and checks happen on the clock at their planned time, whatever
        the robot is doing; visitors queue for the robot one after the other; faults are
        injected between two visitors (at their time, or as soon as the robot is free)."""
        total = len(plan.visits)
        timers = [
            clock.call_at(step.at, functools.partial(self._on_time, clock, system, step))
            for step in plan.steps
            if step.kind in ("staff", "check")
        ]
        try:
            for step in plan.steps:
                if step.kind == "visit" and step.visit is not None:
                    await self._advance_to(clock, step.at)
                    await self._visit(clock, system, step, hw, events)
                    self._show_progress(clock, total)
                elif step.kind in ("fault", "recover") and step.fault is not None:
                    await self._advance_to(clock, step.at)
                    await self._fault(system, step.fault, step.kind == "fault", step.at)
            last = max([plan.closes or clock.now(), *(s.at for s in plan.steps)])
            await self._advance_to(clock, last)
        finally:
            for timer in timers:
                timer.cancel()

    def _on_time(self, clock: VirtualClock, system: System, step: Step) -> None:
        """A staff action or check whose time has come (a clock callback)."""
        try:
            if step.kind == "staff" and step.staff is not None:
                self._staff(clock, system, step.staff, step.at)
            elif step.kind == "check" and step.check is not None:
                self._check(system, step.check, step.at)
        except Exception as exc:  # recorded and judged, never lost in a callback
            log.exception("%s at %s failed", step.kind, step.at)
            self.result.errors.append(f"{step.kind} at {step.at:%H:%M}: {exc}")

    def _show_progress(self, clock: VirtualClock, total: int) -> None:
        if self._progress is None:
            return
        visits = self.result.visits
        self._progress.update(
            Standing(
                now=clock.now().astimezone(self.tz),
                visitors=len(visits),
                total=total,
                greeted=sum(v.greeted for v in visits),
                walked_on=sum(v.walked_on for v in visits),
                checks_held=sum(1 for c in self.result.checks if c["held"]),
                checks_failed=sum(1 for c in self.result.checks if not c["held"]),
            )
        )

    # -- visitors --------------------------------------------------------------------------

    async def _visit(
        self, clock: VirtualClock, system: System, step: Step, hw: Journal, events: _Events
    ) -> None:
        visit: Visit = step.visit  # type: ignore[assignment]
        sim = system.robot.sim
        assert sim is not None
        world = sim.world
        track = 10_000 + visit.number
        self._log(
            step.at,
            "visitor",
            visitor=visit.number,
            language=visit.language,
            questions=[q.intent for q in visit.questions],
        )
        if system.dispatcher.emergencies:
            # An evacuation (or any emergency) is on: screens, beacons and the robot say
            # so, and a visitor coming in now follows it instead of queueing for help.
            self.result.visits.append(
                VisitResult(
                    visit.number, visit.language, step.at, greeted=False, greet_ms=None,
                    asked=[q.intent for q in visit.questions], answered=[], handover=False,
                    evacuated=True,
                )
            )  # fmt: skip
            self._log(step.at, "visit-done", visitor=visit.number, evacuated=True)
            return
        # The robot helps one visitor at a time; who comes while it is busy waits.
        waited = max(0.0, (clock.now() - step.at).total_seconds())
        if waited > self.scenario.visitors.patience:
            self.result.visits.append(
                VisitResult(
                    visit.number,
                    visit.language,
                    step.at,
                    greeted=False,
                    greet_ms=None,
                    asked=[q.intent for q in visit.questions],
                    answered=[],
                    handover=False,
                    waited=waited,
                    walked_on=True,
                )
            )
            self._log(step.at, "visit-done", visitor=visit.number, walked_on=True)
            return
        mark = len(events.events)
        spoke = _FirstSpeech(hw)
        entered = time.perf_counter()
        world.approach(track, 1)
        greeted = await spoke.wait(REACTION_TIMEOUT)
        greet_ms = (spoke.at - entered) * 1000 if greeted and spoke.at else None
        await self._until_quiet(clock, system)
        if greeted and self._push_next:
            self._push_next = False
            world.push()  # RobotPushed: safeguard, then solitary again 3 s later
            self._log(clock.now(), "robot-pushed", visitor=visit.number)
            await self._advance(clock, PUSH_SECONDS)
            await self._until_quiet(clock, system)
        language = LANGUAGE_NAMES[visit.language]
        if greeted and visit.language != self.config.site.default_language:
            # A tap on the tablet's language button, as the page sends it (over HTTP).
            replied = _FirstSpeech(hw)
            await self._tap(system, f"lang-{visit.language}")
            await self._until_quiet(clock, system, replied)

        async def say(text: str) -> None:
            replied = _FirstSpeech(hw)
            world.hear(text, language)
            await self._until_quiet(clock, system, replied)

        answered = []
        for question in visit.questions:
            before = len(events.events)
            await say(question.text)
            for _ in range(CHECKS_PER_QUESTION):
                conversation = system.robot.reception.situation.conversation
                if conversation is None or len(conversation.options) != 1:
                    break
                # Heard unsure, the robot checks ("Bedoelt u …?"): yes if that is what
                # the visitor meant; if not, no, and the question once more.
                before = len(events.events)
                if conversation.options[0] == question.intent:
                    await say(YES[visit.language])
                    break
                await say(NO[visit.language])
                before = len(events.events)
                await say(question.text)
            new = events.events[before:]
            if new and new[0] == "no_match" and question.intent is not None:
                # "Sorry, I did not understand": a visitor says it once more.
                before = len(events.events)
                await say(question.text)
                new = events.events[before:]
            answered.append(new[0] if new else "silent")
        if visit.goodbye:
            replied = _FirstSpeech(hw)
            world.hear(visit.goodbye, language)
            await self._until_quiet(clock, system, replied)
        await self._advance(clock, visit.linger)
        world.leave(track)
        await self._until_quiet(clock, system)
        handover = "handover" in events.events[mark:]
        result = VisitResult(
            visit.number,
            visit.language,
            step.at,
            greeted,
            greet_ms,
            [q.intent for q in visit.questions],
            answered,
            handover,
            waited=waited,
        )
        self.result.visits.append(result)
        self._log(
            step.at,
            "visit-done",
            visitor=visit.number,
            greeted=greeted,
            answered=answered,
            handover=handover,
            waited=round(waited),
        )

    async def _tap(self, system: System, element: str) -> None:
        """Tap ``element`` on the robot's tablet page: ``POST /tablet/tap`` with its key."""
        url = self.config.tablet_address() + "/tap"
        body = json.dumps({"element": element}).encode()
        headers = {"Content-Type": "application/json", "X-Tablet-Key": system.web.tablet_token}

        def post() -> int:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    return int(answer.status)
            except urllib.error.HTTPError as exc:
                return exc.code
            except OSError as exc:
                log.warning("the tablet tap %s did not reach Onthaal: %s", element, exc)
                return 0

        status = await asyncio.to_thread(post)  # a worker thread: time waits for it
        if status != 202:
            self.result.errors.append(f"a tap on {element} on the tablet got {status}")

    async def _until_quiet(
        self, clock: VirtualClock, system: System, reply: _FirstSpeech | None = None
    ) -> None:
        """Let simulated time run until the robot has finished what it is doing.

        With ``reply``, first until the robot has started to answer.

        Time runs freely (the robot's sentences take their simulated time), and the
        clock stops at the first quiet moment (nothing runnable, nothing on its way
        through libqi) at which the robot is done, or :data:`QUIET_LIMIT` seconds
        ahead, so a silent robot cannot make the day race on.
        """
        sim = system.robot.sim
        assert sim is not None
        fence = clock.now() + timedelta(seconds=QUIET_LIMIT)

        def finished() -> bool:
            if clock.now() >= fence:
                return True
            if reply is not None and reply.at is None:
                return False
            world = sim.world
            return not world.speaking and not world.state.moving and not self._busy(system)

        timer = clock.call_later(QUIET_LIMIT, lambda: None)  # so that time can reach it
        self._hold.__exit__(None, None, None)
        try:
            async with asyncio.timeout(REAL_LIMIT):  # real time: a stuck run moves on
                await clock.until(finished)
        except TimeoutError:
            log.warning("the robot did not finish within %g real seconds", REAL_LIMIT)
            self.result.stalls += 1
        finally:
            timer.cancel()
            if reply is not None:
                reply.close()
            self._hold = clock.held()
            self._hold.__enter__()

    @staticmethod
    def _busy(system: System) -> bool:
        """Whether a behaviour is mid-way (anything but idle, or listening for a question)."""
        situation = system.robot.reception.situation
        running = set(system.robot.reception.engine.running)
        if situation.engaged is not None:
            return not (running <= {"converse"} and situation.listening)
        return not running <= {"idle"}

    # -- staff and faults -------------------------------------------------------------------

    def _staff(
        self, clock: VirtualClock, system: System, action: StaffAction, at: datetime
    ) -> None:
        store = system.web.store
        now = clock.now()
        if action.action == "emergency-stop":
            store.end_emergencies("scenario", now)
            self._log(at, "staff", action=action.action)
            return
        content = {lang: LocalizedContent(title=text) for lang, text in action.text.items()}
        targets = parse_targets(action.targets)
        if action.action == "emergency-start":
            message = emergency_notice(
                content, targets, now, self.tz, action.id or f"emergency-{at:%H%M}"
            )
        else:
            message = Message(
                id=action.id,
                title=next(iter(action.text.values())),
                content=content,
                targets=targets,
                starts=now,
                ends=datetime.combine(at.date(), datetime.min.time(), tzinfo=self.tz)
                + timedelta(hours=int(action.until[:2]), minutes=int(action.until[3:]))
                if action.until
                else None,
                priority=action.priority,
            )
        store.add(message, "scenario", now)
        self._log(at, "staff", action=action.action, message=message.id)

    async def _fault(self, system: System, fault: Fault, inject: bool, at: datetime) -> None:
        try:
            async with asyncio.timeout(FAULT_LIMIT):
                await self._inject(system, fault, inject)
        except TimeoutError:
            what = "injecting" if inject else "recovering from"
            log.error("%s %s at %s took over %g real seconds", what, fault.kind, at, FAULT_LIMIT)
            self.result.errors.append(f"{what} {fault.kind} at {at:%H:%M} did not finish")
        what = "fault" if inject else "recovered"
        self.result.faults.append(
            {"at": at.isoformat(), "kind": fault.kind, "target": fault.target, "event": what}
        )
        self._log(at, what, kind=fault.kind, target=fault.target)

    async def _inject(self, system: System, fault: Fault, inject: bool) -> None:
        if fault.kind == "robot-disconnect":
            assert system.robot.sim is not None
            if inject:
                system.robot.sim.world.drop_connection(fault.duration)
        elif fault.kind == "robot-pushed" and inject:
            self._push_next = True  # in the next conversation, after the greeting
        elif fault.kind == "robot-blocked":
            assert system.robot.sim is not None
            system.robot.sim.world.state.obstacle = OBSTACLE_METRES if inject else None
        elif fault.kind == "broker-down":
            broker = system.signage.broker
            if broker is not None:
                await (broker.stop() if inject else broker.start())
        elif fault.kind == "beacon-out-of-range":
            field_ = system.ble.field
            if field_ is not None:
                beacon = field_.beacons[fault.target]
                await (beacon.go_out_of_range() if inject else beacon.come_back())
        elif fault.kind == "display-off":
            screens = system.signage.screens
            if screens is not None:
                screen = screens[fault.target]
                screen.switch_off() if inject else screen.switch_on()

    # -- judging -----------------------------------------------------------------------------

    def _shows(self, system: System) -> dict[str, str]:
        """Per display, the message it confirmed showing ('default' for its default)."""
        shown = {}
        for display, state in system.signage.signage.states().items():
            content = state.acknowledged or "-"
            shown[display] = "default" if content.startswith("default") else content.split(".v")[0]
        return shown

    async def _settle(self, clock: VirtualClock, system: System) -> None:
        """Give deliveries time to complete: every display confirms what it should show."""
        deadline = time.monotonic() + SETTLE_LIMIT
        while time.monotonic() < deadline:
            states = system.signage.signage.states().values()
            if all(s.up_to_date for s in states) and not system.signage.signage.pending():
                return
            await self._advance(clock, 1.0)

    def _check(self, system: System, expectation: Expectation, at: datetime) -> None:
        if expectation.kind == "device-state":
            health = {h.device: h for h in system.fleet.fleet()}.get(expectation.device)
            state = health.state if health is not None else "-"
            self.result.checks.append(
                {"name": expectation.name, "shown": state, "held": state == expectation.state}
            )
            self._log(at, "check", device=expectation.device, state=state)
            return
        shown = self._shows(system).get(expectation.display, "-")
        held = shown == expectation.content
        self.result.checks.append({"name": expectation.name, "shown": shown, "held": held})
        self._log(at, "check", display=expectation.display, shows=shown)

    def _final(self, clock: VirtualClock, system: System) -> None:
        shown = self._shows(system)
        status = system.dispatcher.status()
        for display, state in system.signage.signage.states().items():
            self.result.final[display] = {
                "shows": shown[display],
                "up_to_date": state.up_to_date,
                "wanted": status[display].wanted if display in status else None,
            }
        self._log(clock.now(), "end", shows=shown)

    def _judge(self) -> None:
        # Who came during an emergency left as told: not a visitor the robot should greet.
        visits = [v for v in self.result.visits if not v.evacuated]
        for expectation in self.scenario.expect:
            if expectation.kind == "greeted-within":
                fast = [
                    v
                    for v in visits
                    if v.greeted
                    and v.greet_ms is not None
                    and v.greet_ms <= expectation.seconds * 1000
                ]
                share = len(fast) / len(visits) if visits else 1.0
                held, detail = share >= expectation.ratio, f"{share:.1%}"
            elif expectation.kind == "waited-within":
                # Who walked on waited too long by definition.
                served = [v for v in visits if not v.walked_on and v.waited < expectation.seconds]
                share = len(served) / len(visits) if visits else 1.0
                held, detail = share >= expectation.ratio, f"{share:.1%}"
            elif expectation.kind == "answered":
                pairs = [
                    (a, b)
                    for v in visits
                    for a, b in zip(v.asked, v.answered, strict=False)
                    if a is not None
                ]
                right = sum(1 for asked, got in pairs if asked == got)
                share = right / len(pairs) if pairs else 1.0
                held, detail = share >= expectation.ratio, f"{share:.1%}"
            elif expectation.kind == "no-message-lost":
                stale = [d for d, f in self.result.final.items() if not f["up_to_date"]]
                held, detail = not stale, ", ".join(stale) or "all confirmed"
            else:
                check = next((c for c in self.result.checks if c["name"] == expectation.name), None)
                held = bool(check and check["held"])
                detail = check["shown"] if check else "not checked"
            self.result.expectations.append(
                {"name": expectation.name, "held": held, "detail": detail}
            )
        refused = self.result.pages_refused
        self.result.expectations.append(
            {
                "name": "every page the robot showed loaded",
                "held": not refused,
                "detail": (
                    f"{len(refused)} did not, e.g. {refused[0]['url']} ({refused[0]['reason']})"
                    if refused
                    else f"{self.result.pages_shown} pages shown"
                ),
            }
        )
        if self.result.errors:
            self.result.expectations.append(
                {
                    "name": "every staff action and fault was carried out",
                    "held": False,
                    "detail": "; ".join(self.result.errors),
                }
            )


def _local(moment: str | datetime, tz: ZoneInfo) -> str:
    """An instant as local ISO time (the report speaks the site's time throughout)."""
    parsed = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return parsed.astimezone(tz).isoformat()


_STATE_FILES = (
    "schedule.sqlite",
    "outbox.sqlite",
    "users.sqlite",
    "alerts.sqlite",
    "sim-login.txt",
)


def _empty_state(folder: Path) -> None:
    """Make ``folder`` (0700) and remove a previous run's databases from it (only those)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    for name in _STATE_FILES:
        for suffix in ("", "-wal", "-shm", "-journal"):
            (folder / f"{name}{suffix}").unlink(missing_ok=True)


class _FirstSpeech:
    """Notes the real time of the first thing the robot says from now on."""

    def __init__(self, journal: Journal) -> None:
        self.at: float | None = None
        self._event = asyncio.Event()
        journal.add_listener(self._on_entry)
        self._journal = journal

    def _on_entry(self, entry: dict[str, Any]) -> None:
        if self.at is None and entry.get("action") in ("say", "animated-say"):
            self.at = time.perf_counter()
            self._event.set()

    def close(self) -> None:
        """Stop listening."""
        self._journal.remove_listener(self._on_entry)

    async def wait(self, timeout: float) -> bool:
        """Whether the robot spoke within ``timeout`` real seconds."""
        try:
            async with asyncio.timeout(timeout):  # real time: how a visitor experiences it
                await self._event.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._journal.remove_listener(self._on_entry)


def summary_lines(result: RunResult) -> list[str]:
    """The end-of-run summary for the terminal."""
    visits = result.visits
    latencies = sorted(v.greet_ms for v in visits if v.greet_ms is not None)
    answered = Counter(a for v in visits for a in v.answered)
    languages = Counter(v.language for v in visits)
    walked_on = sum(v.walked_on for v in visits)
    evacuated = sum(v.evacuated for v in visits)
    waits = sorted(v.waited for v in visits if not v.walked_on and not v.evacuated)
    lines = [
        f"{result.scenario.day.name} (seed {result.seed}): {len(visits)} visitors, "
        f"{sum(v.greeted for v in visits)} greeted, "
        f"{sum(v.handover for v in visits)} hand-overs, wall time {result.wall_seconds:.1f} s",
        f"queue: {walked_on} walked on while the robot was busy; waited on average "
        f"{sum(waits) / len(waits) if waits else 0:.0f} s, at most {max(waits, default=0):.0f} s",
    ]
    if evacuated:
        lines.append(f"{evacuated} visitors came during an emergency and left the building")
    if latencies:
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        lines.append(
            f"time to greet: average {sum(latencies) / len(latencies):.1f} ms, p95 {p95:.1f} ms"
        )
    lines.append("languages: " + ", ".join(f"{k} {n}" for k, n in sorted(languages.items())))
    lines.append("answers: " + ", ".join(f"{k} {n}" for k, n in answered.most_common(8)))
    deliveries = Counter(d["device"] for d in result.deliveries if d["ok"])
    lines.append("deliveries: " + ", ".join(f"{k} {n}" for k, n in sorted(deliveries.items())))
    injected = sum(1 for f in result.faults if f["event"] == "fault")
    recovered = sum(1 for f in result.faults if f["event"] == "recovered")
    lines.append(f"faults: {injected} injected, {recovered} recovered")
    unanswered = result.unanswered
    if unanswered:
        lines.append(
            "not answered (intent: times): "
            + ", ".join(f"{intent} {n}" for intent, n in list(unanswered.items())[:10])
        )
    for expectation in result.expectations:
        mark = "ok  " if expectation["held"] else "FAIL"
        lines.append(f"{mark} {expectation['name']} ({expectation['detail']})")
    for warning in result.warnings():
        lines.append(f"WARNING {warning}")
    return lines


def write(lines: list[str], stream: TextIO = sys.stdout) -> None:
    """Print lines."""
    for line in lines:
        print(line, file=stream)
