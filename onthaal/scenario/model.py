"""The scenario file: the simulated day, its visitors, staff actions, faults, expectations.

A strict pydantic schema, like ``robot.toml``: unknown keys are errors, every problem is
reported as ``FILE: KEY: REASON`` (exit code 2). Documented in ``docs/scenarios.md``.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from beacons.content import TITLE_MAX, check_text
from beacons.fleet import State
from onthaal.config import Config, ConfigError, read_text_file
from scheduler.model import EARLIEST, LATEST
from scheduler.parse import parse_targets

_CLOCK = re.compile(r"^\d{2}:\d{2}$")


def _clock_time(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError(f"invalid time {value!r} (expected HH:MM)")
    dt.time.fromisoformat(value)
    return value


ClockTime = Annotated[str, AfterValidator(_clock_time)]
Language = Literal["nl", "fr", "en", "de"]


class Section(BaseModel):
    """Strict and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Day(Section):
    """The simulated day and the building's hours on it."""

    name: str = Field(min_length=1, description="Shown in the report.")
    date: dt.date = Field(
        ge=EARLIEST.date(),
        lt=LATEST.date(),
        description="The simulated date (YYYY-MM-DD), 2000 to 2099 like every schedule.",
    )
    opens: ClockTime = Field(description="Opening time (local).")
    closes: ClockTime = Field(description="Closing time (local).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.closes <= self.opens:
            raise ValueError(f"closes ({self.closes}) is not after opens ({self.opens})")
        return self


class Range(Section):
    """A whole number range, inclusive."""

    min: int = Field(ge=0)
    max: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


def _dutch_only() -> dict[Language, float]:
    return {"nl": 1.0}


class Visitors(Section):
    """Who comes, when, speaking what, asking what."""

    per_hour: float | None = Field(default=None, ge=0, le=600, description="Poisson rate.")
    arrivals: list[ClockTime] = Field(default_factory=list, description="Or exact times.")
    languages: dict[Language, float] = Field(
        default_factory=_dutch_only, min_length=1, description="Mix (weights)."
    )
    questions: Range = Field(default=Range(min=1, max=2), description="Questions per visitor.")
    intents: list[str] = Field(
        default_factory=list, description="Intents asked about; empty: every one in the KB."
    )
    out_of_scope: float = Field(
        default=0.0, ge=0, le=1, description="Share of questions the robot cannot answer."
    )
    linger: Range = Field(
        default=Range(min=5, max=30), description="Seconds a visitor stays after the last answer."
    )
    say_goodbye: float = Field(
        default=0.7, ge=0, le=1, description="Share who say goodbye rather than walk off."
    )
    patience: float = Field(
        default=60,
        ge=0,
        le=3600,
        description="Seconds a visitor waits for the robot to be free before walking on.",
    )

    @model_validator(mode="after")
    def _some_arrivals(self) -> Self:
        if self.per_hour is None and not self.arrivals:
            raise ValueError("give per_hour or a list of arrivals")
        if any(weight < 0 for weight in self.languages.values()):
            raise ValueError("language weights must not be negative")
        if not any(weight > 0 for weight in self.languages.values()):
            raise ValueError("languages: at least one weight must be above 0")
        return self


class StaffAction(Section):
    """Something staff do at a given time."""

    at: ClockTime
    action: Literal["schedule", "emergency-start", "emergency-stop"]
    id: str = Field(default="", pattern=r"^$|^[a-z0-9][a-z0-9-]{0,63}$")
    text: dict[Language, str] = Field(default_factory=dict)
    targets: str = Field(default="everything", description="everything, or group:hall,...")
    until: ClockTime | None = None
    priority: int = Field(default=50, ge=0, le=100)

    @field_validator("targets")
    @classmethod
    def _targets_parse(cls, value: str) -> str:
        parse_targets(value)  # the same rule as `onthaal schedule --targets`
        return value

    @field_validator("text")
    @classmethod
    def _readable(cls, value: dict[Language, str]) -> dict[Language, str]:
        for language, text in value.items():  # the rules of a screen's title
            if not text.strip():
                raise ValueError(f"{language}: empty text")
            if len(text) > TITLE_MAX:
                raise ValueError(f"{language}: at most {TITLE_MAX} characters (a screen title)")
            check_text(text)
        return value

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.action == "schedule" and not (self.id and self.text):
            raise ValueError("a 'schedule' action needs id and text")
        if self.action == "emergency-start" and not self.text:
            raise ValueError("an 'emergency-start' action needs text")
        if self.until is not None and self.until <= self.at:
            raise ValueError(f"until ({self.until}) is not after at ({self.at})")
        return self


class Fault(Section):
    """A fault injected at a time and recovered after a while.

    ``robot-pushed``: the next visitor pushes the robot mid-conversation (NAOqi's
    RobotPushed safeguard, then the Autonomous Life reset Onthaal must repair; the
    duration does not matter);
    ``robot-blocked``: something stands in front of the robot (a guide step is blocked).
    """

    at: ClockTime
    kind: Literal[
        "robot-disconnect",
        "robot-pushed",
        "robot-blocked",
        "broker-down",
        "beacon-out-of-range",
        "display-off",
    ]
    target: str = Field(default="", description="Beacon or display id for those kinds.")
    duration: float = Field(default=60.0, gt=0, le=86_400, description="Seconds until recovery.")

    @model_validator(mode="after")
    def _target(self) -> Self:
        if self.kind in ("beacon-out-of-range", "display-off") and not self.target:
            raise ValueError(f"a '{self.kind}' fault needs a target")
        return self


class Expectation(Section):
    """Something that must hold at the end (or at a time)."""

    kind: Literal[
        "greeted-within",
        "waited-within",
        "answered",
        "no-message-lost",
        "display-shows",
        "device-state",
    ]
    ratio: float = Field(default=0.95, ge=0, le=1)
    seconds: float = Field(default=1.0, gt=0)
    display: str = ""
    device: str = Field(default="", description="'device-state': a display, beacon or 'robot'.")
    state: State | None = Field(default=None, description="'device-state': its health then.")
    at: ClockTime | None = None
    content: str = Field(default="", description="A message id, or 'default'.")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.kind == "display-shows" and not (self.display and self.at and self.content):
            raise ValueError("'display-shows' needs display, at and content")
        if self.kind == "device-state" and not (self.device and self.at and self.state):
            raise ValueError("'device-state' needs device, at and state")
        return self

    @property
    def name(self) -> str:
        """How the report names it."""
        if self.kind == "greeted-within":
            return f"at least {self.ratio:.0%} of visitors greeted within {self.seconds:g} s"
        if self.kind == "waited-within":
            return (
                f"at least {self.ratio:.0%} of visitors waited under {self.seconds:g} s "
                "for the robot"
            )
        if self.kind == "answered":
            return f"at least {self.ratio:.0%} of in-scope questions answered"
        if self.kind == "no-message-lost":
            return "no message lost: every display shows what it should"
        if self.kind == "device-state":
            return f"{self.device} is {self.state} at {self.at}"
        return f"{self.display} shows {self.content!r} at {self.at}"


class Scenario(Section):
    """A whole scenario file."""

    day: Day
    visitors: Visitors
    staff: list[StaffAction] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    expect: list[Expectation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _within_the_day(self) -> Self:
        timed: list[tuple[str, str]] = [
            *((f"visitors.arrivals.{n}", at) for n, at in enumerate(self.visitors.arrivals)),
            *((f"staff.{n}.at", item.at) for n, item in enumerate(self.staff)),
            *((f"staff.{n}.until", item.until) for n, item in enumerate(self.staff)
              if item.until is not None),
            *((f"faults.{n}.at", item.at) for n, item in enumerate(self.faults)),
            *((f"expect.{n}.at", item.at) for n, item in enumerate(self.expect)
              if item.at is not None),
        ]  # fmt: skip
        for where, at in timed:
            if not self.day.opens <= at <= self.day.closes:
                raise ValueError(
                    f"{where}: {at} is outside the day ({self.day.opens}-{self.day.closes})"
                )
        seen: set[str] = set()
        for number, action in enumerate(self.staff):
            if action.id and action.action != "emergency-stop":
                if action.id in seen:
                    raise ValueError(f"staff.{number}.id: {action.id!r} is used twice")
                seen.add(action.id)
        return self


def site_problems(scenario: Scenario, config: Config, intents: set[str]) -> list[str]:
    """What in ``scenario`` this site does not have: intents, devices, languages.

    Checked before the day starts, so a typo is one line and exit 2, not a traceback or
    a failed expectation an hour of simulated time later.
    """
    problems = []
    displays = {d.id for d in config.displays}
    beacons = {b.id for b in config.beacons}
    groups = {d.group for d in config.displays} | {b.group for b in config.beacons}
    for intent in scenario.visitors.intents:
        if intent not in intents:
            problems.append(f"visitors.intents: unknown intent {intent!r} (see the knowledge base)")
    for language in scenario.visitors.languages:
        if language not in config.site.languages:
            problems.append(
                f"visitors.languages: {language!r} is not a language of the site "
                f"({', '.join(config.site.languages)})"
            )
    for number, fault in enumerate(scenario.faults):
        known = {"display-off": displays, "beacon-out-of-range": beacons}.get(fault.kind)
        if known is not None and fault.target not in known:
            problems.append(
                f"faults.{number}.target: no {fault.kind.split('-')[0]} {fault.target!r} "
                f"(known: {', '.join(sorted(known)) or 'none'})"
            )
    for number, action in enumerate(scenario.staff):
        targets = parse_targets(action.targets)
        for kind, wanted, known in (
            ("display", targets.displays, displays),
            ("beacon", targets.beacons, beacons),
            ("group", targets.groups, groups),
        ):
            problems += [f"staff.{number}.targets: unknown {kind} {name!r}"
                         for name in wanted if name not in known]  # fmt: skip
        for language in action.text:
            if language not in config.site.languages:
                problems.append(f"staff.{number}.text: {language!r} is not a language of the site")
    for number, expectation in enumerate(scenario.expect):
        if expectation.kind == "display-shows" and expectation.display not in displays:
            problems.append(f"expect.{number}.display: no display {expectation.display!r}")
    return problems


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario; raises :class:`ConfigError` naming file, key, reason."""
    path = Path(path)
    try:
        data = tomllib.loads(read_text_file(path, "scenario file"))
    except RecursionError:
        raise ConfigError([f"{path}: nested too deeply to be a scenario file"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    try:
        return Scenario.model_validate(data)
    except RecursionError:
        raise ConfigError([f"{path}: nested too deeply to be a scenario file"]) from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            reason = str(error["msg"]).removeprefix("Value error, ")
            reason = reason[:1].lower() + reason[1:]
            if error["type"] == "extra_forbidden":
                reason = "unknown key"
            elif error["type"] == "missing":
                reason = "missing"
            problems.append(f"{path}: {where}: {reason}")
        raise ConfigError(problems) from None
