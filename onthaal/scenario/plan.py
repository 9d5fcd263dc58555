"""A scenario turned into a timeline of steps, the same for the same seed."""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from dialogue.kb import KnowledgeBase
from onthaal.scenario.model import Expectation, Fault, Scenario, StaffAction

StepKind = Literal["visit", "staff", "fault", "recover", "check"]
PHRASES = Path(__file__).resolve().parents[2] / "scenarios" / "out_of_scope.toml"
# Intents that end or redirect a conversation; a planned question never uses them.
NOT_ASKED = frozenset({"thanks_goodbye", "contact_staff", "greeting"})


@dataclass(frozen=True)
class Question:
    """One thing a visitor asks; ``intent`` None means out of scope."""

    text: str
    intent: str | None


@dataclass(frozen=True)
class Visit:
    """One visitor."""

    number: int
    language: str
    questions: tuple[Question, ...]
    linger: float
    goodbye: str | None  # what they say when leaving, or None: they walk off


@dataclass(frozen=True)
class Step:
    """Something that happens at a planned local time."""

    at: datetime
    order: int
    kind: StepKind
    visit: Visit | None = None
    staff: StaffAction | None = None
    fault: Fault | None = None
    check: Expectation | None = None


@dataclass
class Plan:
    """Every step of the day, in order."""

    steps: list[Step] = field(default_factory=list)
    opens: datetime | None = None
    closes: datetime | None = None

    @property
    def visits(self) -> list[Visit]:
        """Every planned visitor."""
        return [s.visit for s in self.steps if s.visit is not None]


def local(day: datetime, clock_time: str) -> datetime:
    """``HH:MM`` on the scenario's day."""
    hours, minutes = map(int, clock_time.split(":"))
    return day.replace(hour=hours, minute=minutes, second=0, microsecond=0)


def make_plan(scenario: Scenario, kb: KnowledgeBase, tz: ZoneInfo, seed: int) -> Plan:
    """The day's steps; the same scenario and seed give the same plan."""
    rng = random.Random(seed)
    phrases = tomllib.loads(PHRASES.read_text(encoding="utf-8"))
    day = datetime.combine(scenario.day.date, datetime.min.time(), tzinfo=tz)
    opens, closes = local(day, scenario.day.opens), local(day, scenario.day.closes)
    steps: list[Step] = []
    order = 0

    def add(at: datetime, kind: StepKind, **what: object) -> None:
        nonlocal order
        order += 1
        steps.append(Step(at, order, kind, **what))  # type: ignore[arg-type]

    visitors = scenario.visitors
    arrivals = [local(day, t) for t in visitors.arrivals]
    if visitors.per_hour:
        moment = opens
        while True:
            moment += timedelta(seconds=rng.expovariate(visitors.per_hour / 3600))
            if moment >= closes:
                break
            arrivals.append(moment.replace(microsecond=0))
    languages = list(visitors.languages)
    weights = [visitors.languages[lang] for lang in languages]
    intents = sorted(visitors.intents or (set(kb.intents) - NOT_ASKED))
    for number, arrives in enumerate(sorted(arrivals), start=1):
        language = rng.choices(languages, weights)[0]
        questions = []
        for _ in range(rng.randint(visitors.questions.min, visitors.questions.max)):
            if rng.random() < visitors.out_of_scope:
                questions.append(Question(rng.choice(phrases[language]), None))
            else:
                intent = rng.choice(intents)
                questions.append(
                    Question(rng.choice(kb.intents[intent].examples[language]), intent)
                )
        goodbye = phrases["goodbye"][language] if rng.random() < visitors.say_goodbye else None
        visit = Visit(
            number,
            language,
            tuple(questions),
            rng.uniform(visitors.linger.min, visitors.linger.max),
            goodbye,
        )
        add(arrives, "visit", visit=visit)
    for action in scenario.staff:
        add(local(day, action.at), "staff", staff=action)
    for fault in scenario.faults:
        add(local(day, fault.at), "fault", fault=fault)
        add(local(day, fault.at) + timedelta(seconds=fault.duration), "recover", fault=fault)
    for expectation in scenario.expect:
        if expectation.kind in ("display-shows", "device-state") and expectation.at is not None:
            add(local(day, expectation.at), "check", check=expectation)
    steps.sort(key=lambda s: (s.at, s.order))
    return Plan(steps, opens, closes)
