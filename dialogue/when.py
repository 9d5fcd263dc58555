"""Which day a visitor means: "tomorrow", "this Saturday", "op 24 december", "à Noël".

Per language, as phrases (``when.toml``): today, tomorrow and the day after, weekdays
with "this"/"next", dates with a month name or in numbers ("24/12"), and days by name:
the public holidays of the site's country in that language (the ``holidays`` package)
and the days people name that are not public holidays ("kerstavond", "Heiligabend").
A date without a year is its next occurrence. Greetings that contain a day word
("guten Morgen", "goeiemorgen") are greetings, not "tomorrow".
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources

import holidays

from dialogue.normalize import fold, language_data

_NUMERIC = re.compile(
    r"(?<![\d:])(\d{1,2})\s*[/.-]\s*(\d{1,2})(?:\s*[/.-]\s*(\d{4}|\d{2}))?(?![\d:])"
)
_NUMBER = re.compile(r"^(\d{1,2})([a-z]*)$")


@dataclass(frozen=True)
class Words:
    """The day words of one language (``when.toml``), folded."""

    today: tuple[tuple[str, ...], ...]
    tomorrow: tuple[tuple[str, ...], ...]
    after_tomorrow: tuple[tuple[str, ...], ...]
    not_days: tuple[tuple[str, ...], ...]
    next: frozenset[str]
    this: frozenset[str]
    months: tuple[str, ...]
    ordinals: frozenset[str]
    named: dict[tuple[str, ...], tuple[int, int]]


@dataclass(frozen=True)
class DayMention:
    """A day the visitor named, and the words that named it (not topic words)."""

    day: date
    words: frozenset[str]


def _phrases(items: list[str]) -> tuple[tuple[str, ...], ...]:
    # Longest first, so "heute morgen" is found before "morgen".
    return tuple(sorted((tuple(fold(item).split()) for item in items), key=len, reverse=True))


@functools.cache
def day_words() -> dict[str, Words]:
    """The day words shipped with the package, by language code."""
    raw = tomllib.loads(resources.files("dialogue").joinpath("when.toml").read_text("utf-8"))
    found = {}
    for code, entry in raw.items():
        named = {}
        for name, month_day in entry["named"].items():
            month, day = (int(part) for part in month_day.split("-"))
            named[tuple(fold(name).split())] = (month, day)
        found[code] = Words(
            today=_phrases(entry["today"]),
            tomorrow=_phrases(entry["tomorrow"]),
            after_tomorrow=_phrases(entry["after_tomorrow"]),
            not_days=_phrases(entry["not_days"]),
            next=frozenset(fold(w) for w in entry["next"]),
            this=frozenset(fold(w) for w in entry["this"]),
            months=tuple(fold(m) for m in entry["months"]),
            ordinals=frozenset(entry["ordinals"]),
            named=named,
        )
    return found


@functools.lru_cache(maxsize=32)
def _holiday_names(country: str, language: str, year: int) -> dict[tuple[str, ...], list[date]]:
    """Public holidays by folded name: their dates this year and the next."""
    names: dict[tuple[str, ...], list[date]] = {}
    code = "en_US" if language == "en" else language
    for when_year in (year, year + 1):
        try:
            table = holidays.country_holidays(country, years=when_year, language=code)
        except (NotImplementedError, KeyError, ValueError):
            continue
        for day, name in sorted(table.items()):
            names.setdefault(tuple(fold(str(name)).split()), []).append(day)
    return names


def find_day(
    text: str, language: str, today: date, country: str | None = "BE"
) -> DayMention | None:
    """The day ``text`` names, seen from local date ``today``; None if it names none."""
    words_of = day_words().get(language)
    if words_of is None:
        return None
    words = list(fold(text).split())
    _blank(words, words_of.not_days)
    numeric = _numeric_date(text, today)
    if numeric is not None:
        return DayMention(numeric, frozenset(w for w in words if w.isdigit()))
    dated = _month_date(words, words_of, today)
    if dated is not None:
        return dated
    named = _named_day(words, words_of, language, today, country)
    if named is not None:
        return named
    weekday = _weekday(words, words_of, language, today)
    if weekday is not None:
        return weekday
    relative = [
        *((phrase, 2) for phrase in words_of.after_tomorrow),
        *((phrase, 1) for phrase in words_of.tomorrow),
        *((phrase, 0) for phrase in words_of.today),
    ]
    relative.sort(key=lambda item: len(item[0]), reverse=True)  # "heute morgen": today
    for phrase, ahead in relative:
        if _find(words, (phrase,)) is not None:
            return DayMention(today + timedelta(days=ahead), frozenset(phrase))
    return None


def _blank(words: list[str], phrases: tuple[tuple[str, ...], ...]) -> None:
    """Replace the words of every phrase found by '' (a greeting is no day)."""
    for phrase in phrases:
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if tuple(words[i : i + n]) == phrase:
                words[i : i + n] = [""] * n


def _find(words: list[str], phrases: tuple[tuple[str, ...], ...]) -> tuple[str, ...] | None:
    for phrase in phrases:
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if tuple(words[i : i + n]) == phrase:
                return phrase
    return None


def _upcoming(month: int, day: int, today: date, year: int | None = None) -> date | None:
    """That day and month, in ``year`` or the next time it comes (today included)."""
    try:
        if year is not None:
            return date(year, month, day)
        moment = date(today.year, month, day)
        return moment if moment >= today else date(today.year + 1, month, day)
    except ValueError:  # 31 February, 29 February in a common year
        return None


def _numeric_date(text: str, today: date) -> date | None:
    """'24/12', '24.12.2026', '3-10' (day first, as in Belgium)."""
    for match in _NUMERIC.finditer(text):
        day, month = int(match[1]), int(match[2])
        year = match[3]
        if not (1 <= day <= 31 and 1 <= month <= 12):
            continue
        full = None if year is None else int(year) + (2000 if len(year) == 2 else 0)
        found = _upcoming(month, day, today, full)
        if found is not None:
            return found
    return None


def _day_number(word: str, ordinals: frozenset[str]) -> int | None:
    match = _NUMBER.match(word)
    if match is None or (match[2] and match[2] not in ordinals):
        return None
    number = int(match[1])
    return number if 1 <= number <= 31 else None


def _month_date(words: list[str], words_of: Words, today: date) -> DayMention | None:
    """'24 december', 'le 11 novembre', 'am 3. Oktober', 'the 21st of July', 'July 21'."""
    for i, word in enumerate(words):
        if word not in words_of.months:
            continue
        month = words_of.months.index(word) + 1
        day = None
        used = [word]
        before = [w for w in words[max(0, i - 2) : i] if w != "of"]
        if before:
            day = _day_number(before[-1], words_of.ordinals)
            if day is not None:
                used.append(before[-1])
        if day is None and i + 1 < len(words):
            day = _day_number(words[i + 1], words_of.ordinals)
            if day is not None:
                used.append(words[i + 1])
        if day is None:
            continue
        year = None
        after = words[i + 1 : i + 3]
        for candidate in after:
            if candidate.isdigit() and len(candidate) == 4:
                year = int(candidate)
                used.append(candidate)
        found = _upcoming(month, day, today, year)
        if found is not None:
            return DayMention(found, frozenset(used))
    return None


def _named_day(
    words: list[str], words_of: Words, language: str, today: date, country: str | None
) -> DayMention | None:
    phrases: dict[tuple[str, ...], date] = {}
    if country:
        for name, days in _holiday_names(country, language, today.year).items():
            coming = [day for day in days if day >= today]
            if coming:
                phrases[name] = coming[0]
    for name, (month, day_of_month) in words_of.named.items():
        upcoming = _upcoming(month, day_of_month, today)
        if upcoming is not None:
            phrases.setdefault(name, upcoming)
    for name in sorted(phrases, key=len, reverse=True):
        if _find(words, (name,)) is not None:
            return DayMention(phrases[name], frozenset(name))
    return None


def _weekday(words: list[str], words_of: Words, language: str, today: date) -> DayMention | None:
    days = language_data()[language].days
    for i, word in enumerate(words):
        # "zaterdagvoormiddag", "Donnerstagnachmittag": a weekday with a part of the day
        named = next(
            (d for d in days if word == d or (word.startswith(d) and len(word) > len(d) + 3)), None
        )
        if named is None:
            continue
        ahead = (days.index(named) - today.weekday()) % 7
        nearby = set(words[max(0, i - 2) : i + 2])
        if ahead == 0 and nearby & words_of.next:
            ahead = 7  # "next Monday", said on a Monday
        said = {word} | (nearby & (words_of.next | words_of.this))
        return DayMention(today + timedelta(days=ahead), frozenset(said))
    return None
