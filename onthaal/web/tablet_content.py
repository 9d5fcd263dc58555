"""What the robot's tablet pages show, from ``content/tablet/tablet.toml`` (municipality data).

The words per language, the most asked topics, the logo, and per desk the floor plan
and the spot on it. Every problem is reported with the file and the key, all at once,
so ``check-config`` can list them; a picture must lie inside the content folder (the
web app serves exactly the pictures named here, nothing else).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialogue.kb import KnowledgeBase

WORD_KEYS = (
    "welcome",
    "tap_language",
    "ask",
    "most_asked",
    "type_question",
    "send",
    "call_colleague",
    "colleague_coming",
    "please_wait",
    "closed",
    "emergency",
    "no_emergency",
    "route",
    "you_are_here",
    "desk_here",
    "scan",
    "robot_says",
    "back",
    "not_found",
)
PICTURE_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg"}


class TabletContentError(Exception):
    """The tablet content file is unusable; ``problems`` says where and why."""

    def __init__(self, problems: list[str]) -> None:
        """One line per problem."""
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Plan:
    """A floor plan or picture of part of the building."""

    id: str
    picture: str  # the name it is served under (see TabletContent.pictures)
    name: dict[str, str]


@dataclass(frozen=True)
class Spot:
    """A place on a plan, in percent of the picture from its top left corner."""

    plan: str
    x: float
    y: float


@dataclass(frozen=True)
class TabletContent:
    """Everything the tablet pages need besides the knowledge base."""

    words: dict[str, dict[str, str]]  # language -> key -> text
    topics: tuple[str, ...]  # intent ids, as buttons on the "ask" page
    plans: dict[str, Plan]
    desks: dict[str, Spot]
    robot: Spot | None  # where the robot stands ("you are here")
    logo: str | None
    pictures: dict[str, Path]  # served name -> file


def load_tablet_content(path: Path, kb: KnowledgeBase) -> TabletContent:
    """Read and check ``path`` against ``kb``; raises :class:`TabletContentError`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TabletContentError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TabletContentError([f"{path}: {exc}"]) from None
    problems: list[str] = []
    folder = path.parent.resolve()
    pictures: dict[str, Path] = {}

    def picture(key: str, value: Any) -> str | None:
        if not isinstance(value, str) or not value:
            problems.append(f"{path}: {key}: expected the name of a picture file")
            return None
        file = (folder / value).resolve()
        if not file.is_relative_to(folder):
            problems.append(f"{path}: {key}: {value!r} is outside {folder}")
            return None
        if file.suffix.lower() not in PICTURE_TYPES:
            problems.append(f"{path}: {key}: {value!r} is not an SVG, PNG or JPEG picture")
            return None
        if not file.is_file():
            problems.append(f"{path}: {key}: {value!r} does not exist")
            return None
        name = value.replace("/", "-")
        pictures[name] = file
        return name

    logo = picture("logo", data["logo"]) if "logo" in data else None
    topics = data.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        problems.append(f"{path}: topics: expected a list of intent ids")
        topics = []
    for topic in topics:
        if topic not in kb.intents:
            problems.append(f"{path}: topics: {topic!r} is not an intent of the knowledge base")
    plans: dict[str, Plan] = {}
    for plan_id, plan in _tables(path, "plans", data, problems).items():
        served = picture(f"plans.{plan_id}.picture", plan.get("picture"))
        names = plan.get("name", {})
        if not isinstance(names, dict):
            problems.append(f"{path}: plans.{plan_id}.name: expected a name per language")
            names = {}
        if served is not None:
            plans[plan_id] = Plan(plan_id, served, {k: str(v) for k, v in names.items()})
    desks: dict[str, Spot] = {}
    for desk_id, spot in _tables(path, "desks", data, problems).items():
        if desk_id not in kb.desks:
            problems.append(f"{path}: desks.{desk_id}: not a desk of the knowledge base")
        found = _spot(path, f"desks.{desk_id}", spot, plans, problems)
        if found is not None:
            desks[desk_id] = found
    robot = (
        _spot(path, "robot", data["robot"], plans, problems)
        if isinstance(data.get("robot"), dict)
        else None
    )
    words: dict[str, dict[str, str]] = {}
    given = _tables(path, "words", data, problems)
    for language in kb.languages:
        texts = given.get(language)
        if texts is None:
            problems.append(f"{path}: words.{language}: missing (a site language)")
            continue
        missing = [key for key in WORD_KEYS if not isinstance(texts.get(key), str)]
        if missing:
            problems.append(f"{path}: words.{language}: missing {', '.join(missing)}")
        words[language] = {k: str(v) for k, v in texts.items()}
    if problems:
        raise TabletContentError(problems)
    return TabletContent(words, tuple(topics), plans, desks, robot, logo, pictures)


def _tables(
    path: Path, key: str, data: dict[str, Any], problems: list[str]
) -> dict[str, dict[str, Any]]:
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        problems.append(f"{path}: {key}: expected tables, e.g. [{key}.<id>]")
        return {}
    return value


def _spot(
    path: Path, key: str, data: dict[str, Any], plans: dict[str, Plan], problems: list[str]
) -> Spot | None:
    plan, x, y = data.get("plan"), data.get("x"), data.get("y")
    if plan not in plans:
        problems.append(f"{path}: {key}.plan: {plan!r} is not one of [plans]")
        return None
    for name, value in (("x", x), ("y", y)):
        if not isinstance(value, int | float) or not 0 <= value <= 100:
            problems.append(f"{path}: {key}.{name}: expected a percentage from 0 to 100")
            return None
    return Spot(str(plan), float(x), float(y))  # type: ignore[arg-type]
