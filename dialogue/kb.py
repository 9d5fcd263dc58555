"""The knowledge base: what the robot knows, in files a municipality edits.

A knowledge base is a folder of TOML files, one per intent (``passport.toml``):

* ``id``; optional ``desk`` (a desk id from ``_desks.toml``), ``tablet`` (a tablet page
  id), ``handover`` (true: a colleague takes over) and ``ends_conversation`` (true: the
  visitor is saying goodbye);
* ``[label]`` per language: a few words naming the topic ("een paspoort"), used when
  the robot asks back;
* ``[examples]`` per language: phrasings visitors use;
* ``[keywords]`` per language: words and short phrases that point to the intent;
* ``[answers]`` per language: what the robot says, with ``{variables}``.

Beside them, ``_desks.toml`` (name, location and pointing direction of each desk),
``_variables.toml`` (phone, e-mail, wifi, ... per language or ``all``) and
``_phrases.toml`` (the engine's own sentences: not understood, asking back, hand-over,
opening hours). Loading checks everything and reports each problem as
``FILE: INTENT: REASON``.
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dialogue.normalize import fold
from dialogue.spoken import SPOKEN_WORDS, shorten, spoken_time, words

#: Variables the engine fills in itself, per answer.
DESK_VARIABLES = frozenset({"desk", "desk_location"})
CALENDAR_VARIABLES = frozenset({"day_hours", "next_open"})

REQUIRED_PHRASES = (
    "no_match",
    "type_it",
    "clarify",
    "check",
    "handover",
    "open_on_day",
    "closed_on_day",
    "range",
    "range_join",
    "today",
    "tomorrow",
    "on_day",
    "next_open",
    "holiday",
    "time",
    "on_date",
    "closed_now",
    "when_today",
    "when_tomorrow",
    "when_weekday",
    "when_date",
    "where_desk",
)


class KnowledgeBaseError(Exception):
    """The knowledge base cannot be used; ``problems`` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Desk:
    """A place in the building visitors are sent to."""

    id: str
    name: dict[str, str]
    location: dict[str, str]
    direction: float  # radians to turn to point at it (positive: left)


@dataclass(frozen=True)
class Intent:
    """One thing visitors want, with how they say it and what the robot answers."""

    id: str
    label: dict[str, str]
    examples: dict[str, tuple[str, ...]]
    keywords: dict[str, tuple[str, ...]]
    answers: dict[str, str]
    desk: str | None = None
    tablet: str | None = None
    link: str | None = None  # a web page with more, shown on the tablet with a QR code
    handover: bool = False
    ends_conversation: bool = False
    courtesy: bool = False  # a greeting or thanks: gives way when a question comes with it
    # What a follow-up may ask about it ("hoeveel kost dat?"): aspect -> language -> text
    aspects: dict[str, dict[str, str]] = field(default_factory=dict)
    # What the robot says instead of the full answer (``[spoken]``, per language, at most
    # SPOKEN_WORDS words); without one it says the answer's sentences that fit.
    spoken: dict[str, str] = field(default_factory=dict)
    source: str = ""


@dataclass
class KnowledgeBase:
    """Every intent, desk, variable and phrase, checked and ready to match against."""

    languages: tuple[str, ...]
    intents: dict[str, Intent]
    desks: dict[str, Desk] = field(default_factory=dict)
    variables: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> lang -> text
    phrases: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> lang -> text
    # Other organisations' matters (_not_ours.toml): lang -> (examples, keywords).
    not_ours: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    # Regional words (_synonyms.toml): lang -> folded word -> folded standard word(s).
    synonyms: dict[str, dict[str, str]] = field(default_factory=dict)
    # How a follow-up asks for an aspect (_aspects.toml): aspect -> lang -> folded phrases.
    aspect_words: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def variable(self, name: str, language: str) -> str:
        """A static variable in ``language`` (or its language-independent value)."""
        values = self.variables[name]
        return values.get(language, values.get("all", ""))


def template_fields(template: str) -> set[str]:
    """The ``{names}`` a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def load_knowledge_base(folder: str | Path, languages: tuple[str, ...]) -> KnowledgeBase:
    """Load and check every file in ``folder``; raise :class:`KnowledgeBaseError`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KnowledgeBaseError([f"{folder}: not a folder"])
    problems: list[str] = []
    raw: dict[Path, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            raw[path] = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{path}: not valid TOML: {exc}")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read: {exc}")
    special = {p.name: data for p, data in raw.items() if p.name.startswith("_")}
    desks = _desks(folder / "_desks.toml", special.get("_desks.toml", {}), languages, problems)
    variables = _variables(folder / "_variables.toml", special.get("_variables.toml", {}), problems)
    phrases = _phrases(folder / "_phrases.toml", special.get("_phrases.toml"), languages, problems)

    intents: dict[str, Intent] = {}
    for path, data in raw.items():
        if path.name.startswith("_"):
            continue
        intent = _intent(path, data, languages, desks, variables, problems)
        if intent is None:
            continue
        if intent.id in intents:
            problems.append(
                f"{path}: {intent.id}: duplicate intent id (also in {intents[intent.id].source})"
            )
            continue
        intents[intent.id] = intent
    if not intents and not problems:
        problems.append(f"{folder}: no intents found (expected one TOML file per intent)")
    _labels_ask_back_clearly(intents, phrases.get("clarify", {}), problems)
    not_ours = _not_ours(folder / "_not_ours.toml", special.get("_not_ours.toml", {}), problems)
    synonyms = _synonyms(folder / "_synonyms.toml", special.get("_synonyms.toml", {}), problems)
    for language, table in synonyms.items():
        used = {
            word
            for intent in intents.values()
            for text in (*intent.keywords.get(language, ()), *intent.examples.get(language, ()))
            for word in fold(text).split()
        }
        for word, standard in table.items():
            missing = [part for part in standard.split() if part not in used]
            if missing:
                problems.append(
                    f"{folder / '_synonyms.toml'}: [{language}] {word!r}: "
                    f"{' '.join(missing)!r} is a word no intent uses"
                )
    aspect_words = {
        name: {
            str(language): tuple(fold(p) for p in phrases if isinstance(p, str))
            for language, phrases in table.items()
            if isinstance(phrases, list)
        }
        for name, table in special.get("_aspects.toml", {}).items()
        if name in ASPECTS and isinstance(table, dict)
    }
    if problems:
        raise KnowledgeBaseError(problems)
    return KnowledgeBase(
        languages, intents, desks, variables, phrases, not_ours, synonyms, aspect_words
    )


ASPECTS = ("cost", "duration", "documents", "where")


def _labels_ask_back_clearly(
    intents: dict[str, Intent], clarify: dict[str, Any], problems: list[str]
) -> None:
    """No label may hold the word the robot asks back with: "Bedoelt u een uittreksel
    of attest of een paspoort?" offers three things, or two, nobody knows."""
    for language, question in clarify.items():
        if not isinstance(question, str) or "{first}" not in question:
            continue
        between = question.split("{first}", 1)[1].split("{second}", 1)[0].strip()
        if not between:
            continue
        for intent in intents.values():
            label = intent.label.get(language, "")
            if f" {between} " in f" {label} ":
                problems.append(
                    f"{intent.source}: {intent.id}: label.{language}: {label!r} contains "
                    f"{between!r}, the word the robot asks back with; name one thing"
                )


def _aspects_of(
    where: str, data: Any, languages: tuple[str, ...], problems: list[str]
) -> dict[str, dict[str, str]]:
    """An intent's ``[aspects.NAME]`` texts: every site language, a known aspect."""
    if not isinstance(data, dict):
        problems.append(f"{where}: [aspects] must be tables of languages")
        return {}
    found = {}
    for name, texts in data.items():
        if name not in ASPECTS:
            problems.append(
                f"{where}: aspects.{name}: unknown aspect (known: {', '.join(ASPECTS)})"
            )
            continue
        found[name] = {
            str(k): str(v)
            for k, v in _per_language(
                f"{where}: aspects.{name}", name, texts, languages, problems
            ).items()
        }
    return found


def _not_ours(
    path: Path, data: dict[str, Any], problems: list[str]
) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """``[examples]`` and ``[keywords]`` per language of what is someone else's matter."""
    found: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    examples, keywords = data.get("examples", {}), data.get("keywords", {})
    if not isinstance(examples, dict) or not isinstance(keywords, dict):
        problems.append(f"{path}: [examples] and [keywords] must be tables of languages")
        return found
    for language in sorted(set(examples) | set(keywords)):  # the same order every run
        items = [examples.get(language, []), keywords.get(language, [])]
        if not all(isinstance(i, list) and all(isinstance(t, str) for t in i) for i in items):
            problems.append(f"{path}: {language}: lists of text, please")
            continue
        found[language] = (tuple(items[0]), tuple(items[1]))
    return found


def _synonyms(path: Path, data: dict[str, Any], problems: list[str]) -> dict[str, dict[str, str]]:
    """Per language, a regional word (one word) and what the knowledge base calls it."""
    found: dict[str, dict[str, str]] = {}
    for language, table in data.items():
        if not isinstance(table, dict):
            problems.append(f"{path}: [{language}] must be a table of word = word")
            continue
        words = {}
        for word, standard in table.items():
            folded = fold(word)
            if not isinstance(standard, str) or len(folded.split()) != 1 or not fold(standard):
                problems.append(f"{path}: [{language}] {word!r}: one word = its standard word(s)")
                continue
            words[folded] = fold(standard)
        found[language] = words
    return found


def _per_language(
    where: str, name: str, value: Any, languages: tuple[str, ...], problems: list[str]
) -> dict[str, Any]:
    """A table keyed by language: every configured language present, no unknown ones."""
    if not isinstance(value, dict):
        problems.append(f"{where}: [{name}] must be a table of languages")
        return {}
    for language in value:
        if language not in languages:
            problems.append(
                f"{where}: {name}: unknown language {language!r} (expected {', '.join(languages)})"
            )
    for language in languages:
        if language not in value:
            problems.append(f"{where}: {name}: missing language {language!r}")
    return {k: v for k, v in value.items() if k in languages}


def _strings(where: str, name: str, value: Any, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{where}: {name}: must be a list of non-empty texts")
        return ()
    return tuple(value)


_INTENT_KEYS = {
    "id",
    "spoken",
    "desk",
    "tablet",
    "link",
    "handover",
    "ends_conversation",
    "courtesy",
    "aspects",
    "label",
    "examples",
    "keywords",
    "answers",
}


def _intent(
    path: Path,
    data: dict[str, Any],
    languages: tuple[str, ...],
    desks: dict[str, Desk],
    variable_values: dict[str, dict[str, str]],
    problems: list[str],
) -> Intent | None:
    variables = set(variable_values)
    intent_id = data.get("id")
    if not isinstance(intent_id, str) or not intent_id.strip():
        problems.append(f"{path}: (no id): missing 'id'")
        return None
    where = f"{path}: {intent_id}"
    for key in sorted(set(data) - _INTENT_KEYS):
        problems.append(
            f"{where}: unknown key {key!r} (allowed: {', '.join(sorted(_INTENT_KEYS))})"
        )
    desk = data.get("desk")
    if desk is not None and desk not in desks:
        problems.append(f"{where}: desk: unknown desk {desk!r} (not in _desks.toml)")
    label = _per_language(where, "label", data.get("label", {}), languages, problems)
    examples = {
        lang: _strings(where, f"examples.{lang}", v, problems)
        for lang, v in _per_language(
            where, "examples", data.get("examples", {}), languages, problems
        ).items()
    }
    keywords = {
        lang: _strings(where, f"keywords.{lang}", v, problems)
        for lang, v in _per_language(
            where, "keywords", data.get("keywords", {}), languages, problems
        ).items()
    }
    answers = _per_language(where, "answers", data.get("answers", {}), languages, problems)
    link = data.get("link")
    if link is not None and not (
        isinstance(link, str)
        and urlsplit(link).scheme in ("http", "https")
        and urlsplit(link).netloc
    ):
        problems.append(f"{where}: link: {link!r} is not an http(s) address")
        link = None
    allowed = variables | CALENDAR_VARIABLES | (DESK_VARIABLES if desk else set())
    aspects = _aspects_of(where, data.get("aspects", {}), languages, problems)
    for aspect, texts in aspects.items():
        for language, text in texts.items():
            try:
                unknown = template_fields(text) - allowed
            except ValueError as exc:
                problems.append(f"{where}: aspects.{aspect}.{language}: broken template ({exc})")
                continue
            for name in sorted(unknown):
                problems.append(
                    f"{where}: aspects.{aspect}.{language}: unknown variable {{{name}}}"
                )
    spoken = data.get("spoken", {})
    if not isinstance(spoken, dict) or not all(
        isinstance(k, str) and k in languages and isinstance(v, str) for k, v in spoken.items()
    ):
        problems.append(f"{where}: spoken: a table of texts per site language, please")
        spoken = {}
    written = [(f"answers.{k}", v) for k, v in answers.items()]
    written += [(f"spoken.{k}", v) for k, v in spoken.items()]
    for name, answer in written:
        language = name.split(".", 1)[1]
        if not isinstance(answer, str) or not answer.strip():
            problems.append(f"{where}: {name}: empty answer")
            continue
        try:
            used = template_fields(answer)
        except ValueError as exc:
            problems.append(f"{where}: {name}: broken template ({exc})")
            continue
        for variable in sorted(used - allowed):
            hint = " (the intent has no desk)" if variable in DESK_VARIABLES else ""
            problems.append(f"{where}: {name}: unknown template variable {{{variable}}}{hint}")
        static = _filled(answer, desks.get(desk) if desk else None, language, variable_values)
        if name.startswith("spoken."):
            if static is not None and words(static) > SPOKEN_WORDS:
                problems.append(
                    f"{where}: {name}: {words(static)} words to say; at most {SPOKEN_WORDS}"
                )
            continue
        if language in spoken:
            continue
        if static is not None and words(shorten(static)[0]) > SPOKEN_WORDS:
            problems.append(
                f"{where}: {name}: its first sentence is {words(shorten(static)[0])} words "
                f"to say; the robot says at most {SPOKEN_WORDS}: write spoken.{language}"
            )
    return Intent(
        id=intent_id,
        label={k: str(v) for k, v in label.items()},
        examples=examples,
        keywords=keywords,
        answers={k: str(v) for k, v in answers.items()},
        desk=desk,
        tablet=data.get("tablet"),
        link=link,
        handover=bool(data.get("handover", False)),
        ends_conversation=bool(data.get("ends_conversation", False)),
        courtesy=bool(data.get("courtesy", False)),
        aspects=aspects,
        spoken={k: str(v) for k, v in spoken.items()},
        source=str(path),
    )


def _filled(
    template: str, desk: Desk | None, language: str, variables: dict[str, dict[str, str]]
) -> str | None:
    """An answer as said, where it does not depend on the day (else None)."""
    try:
        used = template_fields(template)
    except ValueError:
        return None
    if used & CALENDAR_VARIABLES:
        return None
    values = {n: v.get(language, v.get("all", "")) for n, v in variables.items()}
    if desk is not None:
        values |= {
            "desk": desk.name.get(language, ""),
            "desk_location": desk.location.get(language, ""),
        }
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return None


def _desks(
    path: Path, data: dict[str, Any], languages: tuple[str, ...], problems: list[str]
) -> dict[str, Desk]:
    desks: dict[str, Desk] = {}
    for desk_id, entry in data.get("desks", {}).items():
        where = f"{path}: {desk_id}"
        direction = float(entry.get("direction", 0.0))
        if abs(direction) > 1.6:
            problems.append(f"{where}: direction: {direction} rad is more than a quarter turn")
        desks[desk_id] = Desk(
            id=desk_id,
            name=_per_language(where, "name", entry.get("name", {}), languages, problems),
            location=_per_language(
                where, "location", entry.get("location", {}), languages, problems
            ),
            direction=direction,
        )
    return desks


def _variables(path: Path, data: dict[str, Any], problems: list[str]) -> dict[str, dict[str, str]]:
    variables: dict[str, dict[str, str]] = {}
    for name, values in data.items():
        if not isinstance(values, dict) or not values:
            problems.append(f"{path}: {name}: must be a table of languages (or 'all')")
            continue
        variables[name] = {k: str(v) for k, v in values.items()}
    return variables


#: Phrases a knowledge base may leave out.
OPTIONAL_PHRASES = ("time_spoken", "more_on_screen")


def _phrases(
    path: Path, data: dict[str, Any] | None, languages: tuple[str, ...], problems: list[str]
) -> dict[str, dict[str, Any]]:
    if data is None:
        problems.append(f"{path}: missing (the engine's own sentences live there)")
        return {}
    phrases: dict[str, dict[str, Any]] = {}
    for name in REQUIRED_PHRASES:
        if name not in data:
            problems.append(f"{path}: {name}: missing phrase")
            continue
        phrases[name] = _per_language(f"{path}: {name}", name, data[name], languages, problems)
    for name in ("weekdays", "months"):
        if name in data:
            phrases[name] = _per_language(f"{path}: {name}", name, data[name], languages, problems)
        else:
            problems.append(f"{path}: {name}: missing phrase")
    for name in OPTIONAL_PHRASES:  # without them: written times, nothing said of the screen
        if name in data:
            phrases[name] = _per_language(f"{path}: {name}", name, data[name], languages, problems)
    for language, patterns in phrases.get("time_spoken", {}).items():
        where = f"{path}: time_spoken.{language}"
        if not isinstance(patterns, dict) or not isinstance(patterns.get("other"), str):
            problems.append(f"{where}: a table of patterns with at least 'other', please")
            continue
        for key, pattern in patterns.items():
            try:
                spoken_time(time(8, 30), {"other": str(pattern)})
            except (KeyError, IndexError, ValueError) as exc:
                problems.append(f"{where}.{key}: broken pattern ({exc})")
    return phrases
