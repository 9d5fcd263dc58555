"""Recurrence as staff think of it, and as they say it, in the site's languages.

A :class:`Pattern` is what the message form edits: days of the week, every N days or
weeks, "the first Tuesday of the month", one or more time windows (overnight allowed)
and dates to skip. It becomes an RFC 5545 RRULE with EXDATEs
(:meth:`Pattern.recurrence`), and a stored rule becomes a pattern again
(:func:`pattern_of`; None for a rule the form cannot show, which then stays as it is).

:func:`describe` says a recurrence in Dutch, French, English or German ("elke maandag en
woensdag van 8.30 tot 12.00, niet op 11 november") and :func:`parse` reads such words
back, in any of the four languages, to the same recurrence: what the system describes,
it reads (a property test holds it to that). The words live in
``recurrence_words.toml``.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal

from scheduler.model import MAX_RRULE_INTERVAL, Daypart, Recurrence

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WORKING_DAYS = WEEKDAYS[:5]
WEEKEND = WEEKDAYS[5:]
LANGUAGES = ("nl", "fr", "en", "de")
Unit = Literal["day", "week", "month"]
MAX_TEXT = 1000


class RecurrenceError(ValueError):
    """Words or a form that do not make a recurrence; the message says what to change."""


@dataclass(frozen=True)
class Pattern:
    """A recurrence in the terms of the message form."""

    unit: Unit = "week"
    every: int = 1
    weekdays: tuple[str, ...] = ()  # week: the days; month: the one day ("TU")
    ordinal: int | None = None  # month: 1-4, or -1 for the last
    windows: tuple[Daypart, ...] = ()
    skip: tuple[date, ...] = field(default=())

    def recurrence(self) -> Recurrence:
        """The stored form: RRULE, dayparts and EXDATEs. Raises RecurrenceError."""
        if not self.windows:
            raise RecurrenceError("give at least one time window, e.g. 08:30-12:00")
        if not 1 <= self.every <= MAX_RRULE_INTERVAL:
            raise RecurrenceError(f"every: a whole number from 1 to {MAX_RRULE_INTERVAL}")
        unknown = [d for d in self.weekdays if d not in WEEKDAYS]
        if unknown:
            raise RecurrenceError(f"unknown day(s): {', '.join(unknown)}")
        days = [d for d in WEEKDAYS if d in self.weekdays]
        interval = f";INTERVAL={self.every}" if self.every > 1 else ""
        if self.unit == "day":
            rule = f"FREQ=DAILY{interval}"
        elif self.unit == "week":
            if not days:
                raise RecurrenceError("pick at least one day of the week")
            rule = f"FREQ=WEEKLY{interval};BYDAY={','.join(days)}"
        else:
            if len(days) != 1 or self.ordinal not in (1, 2, 3, 4, -1):
                raise RecurrenceError(
                    "a monthly message needs one day and which one: first, second, third, "
                    "fourth or last (e.g. the first Tuesday)"
                )
            rule = f"FREQ=MONTHLY{interval};BYDAY={self.ordinal}{days[0]}"
        return Recurrence(rrule=rule, dayparts=list(self.windows), exdates=list(self.skip))


_PART = re.compile(r"^(?P<key>[A-Z]+)=(?P<value>[A-Z0-9,+-]+)$")
_ORDINAL_DAY = re.compile(r"^(?P<n>[+-]?\d)(?P<day>[A-Z]{2})$")


def pattern_of(recurrence: Recurrence) -> Pattern | None:
    """The form's view of a stored recurrence, or None if the form cannot show it."""
    parts: dict[str, str] = {}
    for item in recurrence.rrule.upper().split(";"):
        match = _PART.match(item.strip())
        if match is None:
            return None
        parts[match["key"]] = match["value"]
    every = int(parts.pop("INTERVAL", "1")) if parts.get("INTERVAL", "1").isdigit() else 0
    frequency = parts.pop("FREQ", "")
    byday = parts.pop("BYDAY", "")
    if parts or every < 1:  # COUNT, UNTIL, BYMONTHDAY...: the form has no field for them
        return None
    common: dict[str, Any] = {
        "every": every,
        "windows": tuple(recurrence.dayparts),
        "skip": tuple(recurrence.exdates),
    }
    if frequency == "DAILY" and not byday:
        return Pattern(unit="day", **common)
    if frequency == "WEEKLY" and byday:
        days = byday.split(",")
        if any(d not in WEEKDAYS for d in days) or len(set(days)) != len(days):
            return None
        return Pattern(unit="week", weekdays=tuple(d for d in WEEKDAYS if d in days), **common)
    if frequency == "MONTHLY":
        match = _ORDINAL_DAY.match(byday)
        if match is None or match["day"] not in WEEKDAYS:
            return None
        ordinal = int(match["n"])
        if ordinal not in (1, 2, 3, 4, -1):
            return None
        return Pattern(unit="month", weekdays=(match["day"],), ordinal=ordinal, **common)
    return None


# -- words ---------------------------------------------------------------------------


@functools.cache
def _words() -> dict[str, dict[str, Any]]:
    path = Path(__file__).with_name("recurrence_words.toml")
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _fold(text: str) -> str:
    """Lower case, accents off: "Février" and "fevrier" read alike."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def describe(recurrence: Recurrence | None, language: str, year: int | None = None) -> str:
    """``recurrence`` in plain words of ``language`` (nl, fr, en, de).

    ``year``: the message's first year; skipped dates in it are said without the year.
    A rule the form cannot show is given as it is (``FREQ=...``) after its windows.
    """
    w = _words()[language if language in LANGUAGES else "en"]
    if recurrence is None:
        return str(w["once"])
    windows = f" {w['and']} ".join(
        str(w["window"]).format(start=_time(p.start, w), end=_time(p.end, w))
        for p in recurrence.dayparts
    )
    pattern = pattern_of(recurrence)
    when = _when(pattern, w) if pattern is not None else recurrence.rrule
    said = f"{when} {windows}"
    if recurrence.exdates:
        dates = _listed([_date(d, w, year) for d in recurrence.exdates], w)
        said += ", " + str(w["skip"]).format(dates=dates)
    return said


def _when(p: Pattern, w: dict[str, Any]) -> str:
    name = {code: str(w["weekdays"][i][0]) for i, code in enumerate(WEEKDAYS)}
    if p.unit == "day":
        return str(w["every_day"]) if p.every == 1 else str(w["every_n_days"]).format(n=p.every)
    if p.unit == "week":
        if p.every == 1 and p.weekdays == WORKING_DAYS:
            return str(w["on_working_days"])
        if p.every == 1 and p.weekdays == WEEKEND:
            return str(w["at_weekends"])
        days = _listed([name[d] for d in p.weekdays], w)
        if p.every == 1:
            return str(w["every_weekdays"]).format(days=days)
        return str(w["every_n_weeks"]).format(n=p.every, days=days)
    ordinal = str(w["last"][0]) if p.ordinal == -1 else str(w["ordinals"][(p.ordinal or 1) - 1][0])
    day = name[p.weekdays[0]]
    if p.every == 1:
        return str(w["monthly"]).format(ordinal=ordinal, day=day)
    return str(w["every_n_months"]).format(n=p.every, ordinal=ordinal, day=day)


def moment_words(moment: datetime, language: str) -> dict[str, str]:
    """``weekday``, ``date`` and ``time`` of a local moment, as people write them in
    ``language`` ("maandag", "4 januari", "8.30")."""
    w = _words()[language]
    return {
        "weekday": str(w["weekdays"][moment.weekday()][0]),
        "date": _date(moment.date(), w, moment.year),
        "time": _time(moment.time(), w),
    }


def _listed(items: list[str], w: dict[str, Any]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {w['and']} " + items[-1]


def _time(moment: time, w: dict[str, Any]) -> str:
    return str(w["time"]).format(h=moment.hour, mm=f"{moment.minute:02d}")


def _date(day: date, w: dict[str, Any], year: int | None) -> str:
    month = str(w["months"][day.month - 1])
    if year is not None and day.year == year:
        return str(w["date"]).format(day=day.day, month=month)
    return str(w["date_year"]).format(day=day.day, month=month, year=day.year)


_TIME = r"(\d{1,2})(?:[.:h](\d{2})?)?"
#: "van 8.30 tot 12.00", "from 8.30 to 12.00", "de 8h30 a 12h00", "von 8.30 bis 12.00"
_SAID_WINDOW = re.compile(rf"\b(?:van|from|de|von)\s+{_TIME}\s+(?:tot|to|a|bis)\s+{_TIME}")
#: "08:30-12:00", "9h-12h"
_TYPED_WINDOW = re.compile(rf"(?<![\d.:-]){_TIME}\s*[-–]\s*{_TIME}(?![\d-])")


def parse(text: str, year: int | None = None, language: str | None = None) -> Recurrence:
    """Plain words, in any of the four languages, to a recurrence.

    Reads what :func:`describe` writes ("elke maandag en woensdag van 8.30 tot 12.00,
    niet op 11 november", "every first Tuesday of the month from 9.00 to 11.00") and
    the short forms people type ("werkdagen 08:30-12:00", "mon,wed 14:00-16:00", "daily
    09:00-10:00", "tous les jours 9h-12h"). ``year``: for skipped dates said without
    one (the message's first year; without it, such a date is refused). Raises
    :class:`RecurrenceError` saying what is missing or not understood.
    """
    if len(text) > MAX_TEXT:
        raise RecurrenceError(f"at most {MAX_TEXT} characters, please")
    folded = " " + re.sub(r"\s+", " ", _fold(text)).strip() + " "
    languages = [language] if language in LANGUAGES else list(LANGUAGES)
    best: tuple[int, Recurrence | None, str] = (-1, None, "")
    for code in languages:
        score, found, problem = _read(folded, code, year)
        if score > best[0]:
            best = (score, found, problem)
    score, found, problem = best
    if found is None:
        raise RecurrenceError(problem or f"{text[:60]!r}: expected e.g. 'weekdays 08:30-12:00'")
    return found


def _phrases(items: list[str]) -> list[str]:
    return sorted((_fold(i) for i in items), key=len, reverse=True)


def _read(folded: str, code: str, year: int | None) -> tuple[int, Recurrence | None, str]:
    """(how much of the text this language explained, the recurrence, or what is wrong)."""
    w = _words()[code]
    text = folded
    evidence = 0
    skip: list[date] = []
    for phrase in _phrases(w["not_on"]):
        at = text.find(f" {phrase} ")
        if at >= 0:
            tail = text[at + len(phrase) + 2 :]
            text = text[:at] + " "
            skip, problem = _dates(tail, w, year)
            if problem:
                return 1, None, problem
            evidence += 2
            break
    windows: list[Daypart] = []
    for regex in (_SAID_WINDOW, _TYPED_WINDOW):
        for match in regex.finditer(text):
            h1, m1, h2, m2 = match.groups()
            try:
                windows.append(Daypart(start=_clock(h1, m1), end=_clock(h2, m2)))
            except ValueError as exc:
                return 1, None, f"{match.group(0).strip()!r}: {exc}"
        text = regex.sub(" ", text)
    text = re.sub(r"\buhr\b|\buur\b|\bh\b", " ", text)

    def take(phrases: list[str]) -> bool:
        nonlocal text, evidence
        for phrase in _phrases(phrases):
            pattern = rf"(?<![\w-]){re.escape(phrase)}(?![\w-])"
            if re.search(pattern, text):
                text = re.sub(pattern, " ", text, count=1)
                evidence += 2
                return True
        return False

    unit: Unit | None = None
    days: list[str] = []
    if take(list(w["daily"])):
        unit = "day"
    elif take(list(w["working_days"])):
        unit, days = "week", list(WORKING_DAYS)
    elif take(list(w["weekend"])):
        unit, days = "week", list(WEEKEND)
    ordinal: int | None = None
    for index, names in enumerate(w["ordinals"]):
        if take(list(names)):
            ordinal = index + 1
    if take(list(w["last"])):
        ordinal = -1
    for index, names in enumerate(w["weekdays"]):
        if take(list(names)):
            days.append(WEEKDAYS[index])
    for name, kind in (("month_unit", "month"), ("week_unit", "week"), ("day_unit", "day")):
        if take(list(w[name])):
            unit = unit or kind  # type: ignore[assignment]
    numbers = re.findall(r"(?<![\w.])(\d{1,4})(?![\w.])", text)
    every = int(numbers[0]) if numbers else 1
    strange = [t for t in re.findall(r"[a-z][a-z'-]*", text) if t not in _fillers(code)]
    if strange:
        return (
            evidence,
            None,
            (
                f"{' '.join(strange[:3])!r}: not understood; say e.g. 'every 2 weeks on Monday "
                "09:00-12:00' or 'weekdays 08:30-12:00'"
            ),
        )
    if ordinal is not None:
        unit = "month"
    elif unit is None and days:
        unit = "week"
    if not windows:
        return evidence, None, "give the time window, e.g. 08:30-12:00"
    if unit is None:
        return evidence, None, "say which days, e.g. 'every Monday' or 'weekdays'"
    pattern = Pattern(
        unit=unit,
        every=every,
        weekdays=tuple(d for d in WEEKDAYS if d in days),
        ordinal=ordinal,
        windows=tuple(windows),
        skip=tuple(skip),
    )
    try:
        return evidence, pattern.recurrence(), ""
    except (RecurrenceError, ValueError) as exc:
        return evidence, None, str(exc)


@functools.cache
def _fillers(code: str) -> frozenset[str]:
    """Words that join the others in ``code``'s sentences ("op", "van", "of the")."""
    w = _words()[code]
    found: set[str] = {"en", "et", "and", "und", "le", "la", "les", "the", "on", "op", "am"}
    for key, value in w.items():
        if isinstance(value, str) and key not in ("and",):
            found.update(re.findall(r"[a-z][a-z'-]*", _fold(re.sub(r"\{\w+\}", " ", value))))
    return frozenset(found)


def _clock(hours: str, minutes: str | None) -> time:
    h, m = int(hours), int(minutes or 0)
    if h == 24 and m == 0:
        return time(23, 59)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"{hours}:{minutes or '00'} is not a time of day")
    return time(h, m)


def _dates(text: str, w: dict[str, Any], year: int | None) -> tuple[list[date], str]:
    """The dates in ``text`` ("11 november", "24/12", "2026-12-25", "25. Dezember 2027")."""
    months = {_fold(m): i + 1 for i, m in enumerate(w["months"])}
    names = "|".join(re.escape(m) for m in sorted(months, key=len, reverse=True))
    found: list[date] = []
    pattern = re.compile(
        rf"(\d{{4}})-(\d{{2}})-(\d{{2}})|(\d{{1,2}})\.?\s*({names})(?:\s+(\d{{4}}))?"
        rf"|(\d{{1,2}})/(\d{{1,2}})(?:/(\d{{4}}))?"
    )
    for match in pattern.finditer(text):
        g = match.groups()
        try:
            if g[0]:
                found.append(date(int(g[0]), int(g[1]), int(g[2])))
            elif g[3]:
                found.append(date(_year(g[5], year), months[g[4]], int(g[3])))
            else:
                found.append(date(_year(g[8], year), int(g[7]), int(g[6])))
        except ValueError as exc:
            return [], f"{match.group(0).strip()!r}: {exc}"
    if not found:
        return [], "after 'not on', give the dates, e.g. 11 november"
    return found, ""


def _year(given: str | None, default: int | None) -> int:
    if given:
        return int(given)
    if default is None:
        raise ValueError("say the year of a date to skip")
    return default
