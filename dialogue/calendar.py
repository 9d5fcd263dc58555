"""Opening hours: a weekly rhythm, exceptions, closing days and public holidays.

All dates and times are local to the site's time zone (Europe/Brussels by default);
the engine asks with an aware UTC instant from the injected clock, so the answer is for
the actual local day, on both sides of a daylight-saving change.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

TimeRange = tuple[time, time]

#: How far ahead to look for the next opening before giving up (a long summer closure).
_LOOKAHEAD_DAYS = 60


@dataclass(frozen=True)
class DayHours:
    """When the building is open on one local day; ``closed_reason`` when it is not."""

    day: date
    ranges: tuple[TimeRange, ...]
    closed_reason: str | None = None

    @property
    def open(self) -> bool:
        """Whether the building opens at all that day."""
        return bool(self.ranges)


@dataclass(frozen=True)
class OpeningCalendar:
    """Weekly hours (Monday = 0), dated exceptions and closing days, public holidays."""

    timezone: ZoneInfo
    weekly: dict[int, tuple[TimeRange, ...]]
    exceptions: dict[date, tuple[TimeRange, ...]] = field(default_factory=dict)
    # Closing days with their name per language: a day without a name in a language is
    # said without one (a name in another language would be read out untranslated).
    closed: dict[date, dict[str, str]] = field(default_factory=dict)
    holiday_country: str | None = "BE"

    def local(self, instant: datetime) -> datetime:
        """``instant`` in the site's time zone."""
        return instant.astimezone(self.timezone)

    def hours_on(self, day: date, language: str = "en") -> DayHours:
        """The opening hours of local date ``day`` (holiday names in ``language``)."""
        if day in self.closed:
            return DayHours(day, (), self.closed[day].get(language))
        if day in self.exceptions:
            return DayHours(day, self.exceptions[day])
        holiday = self._holiday(day, language)
        if holiday is not None:
            return DayHours(day, (), holiday)
        return DayHours(day, self.weekly.get(day.weekday(), ()))

    def is_open(self, instant: datetime) -> bool:
        """Whether the building is open at ``instant``."""
        local = self.local(instant)
        return any(s <= local.time() < e for s, e in self.hours_on(local.date()).ranges)

    def open_windows(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The (aware) windows in which the building is open that overlap ``[start, end)``."""
        found: list[tuple[datetime, datetime]] = []
        day = self.local(start).date() - timedelta(days=1)
        last = self.local(end).date()
        while day <= last:
            for opens, closes in self.hours_on(day).ranges:
                a = datetime.combine(day, opens, tzinfo=self.timezone)
                b = datetime.combine(day, closes, tzinfo=self.timezone)
                if a < end and b > start:
                    found.append((a, b))
            day += timedelta(days=1)
        return found

    def next_opening(self, instant: datetime) -> datetime | None:
        """The next moment the building opens after ``instant`` (None if not in 60 days)."""
        local = self.local(instant)
        for offset in range(_LOOKAHEAD_DAYS):
            day = local.date() + timedelta(days=offset)
            for start, _ in self.hours_on(day).ranges:
                opening = datetime.combine(day, start, tzinfo=self.timezone)
                if opening > local:
                    return opening
        return None

    def _holiday(self, day: date, language: str) -> str | None:
        if self.holiday_country is None:
            return None
        names = _holidays(self.holiday_country, day.year, language)
        name = names.get(day)
        return str(name) if name else None


@functools.lru_cache(maxsize=64)
def _holidays(country: str, year: int, language: str) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country, years=year, language=language)
    except (NotImplementedError, KeyError, ValueError):
        return holidays.country_holidays(country, years=year)
