"""What staff schedule: a message, its targets, when it is shown, and how it recurs.

Times are aware datetimes. People enter and read them in the site's time zone
(Europe/Brussels by default); they are stored in UTC. Recurrence is an RFC 5545 RRULE
(python-dateutil) expanded on *local* dates, and each occurrence is shown during the
message's dayparts in *local* wall-clock time, so a message "daily 09:00-12:00" is at
09:00 on both sides of a daylight-saving change.
"""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Self
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from beacons.content import TITLE_MAX, Language, LocalizedContent, check_text

MAX_OCCURRENCE_SEARCH = timedelta(days=366 * 2)

#: The window every time in the schedule lies in. Far enough for any notice; near enough
#: that every time in it is a local time in every zone, with room for the two years a
#: recurrence is searched ahead (at the ends of Python's calendar, 0001 and 9999, a
#: local time or a search past it does not exist and broke every list it was in).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def in_window(moment: datetime) -> datetime:
    """``moment`` (aware) if within :data:`EARLIEST` .. :data:`LATEST`; else ValueError."""
    try:
        inside = EARLIEST <= moment < LATEST
    except OverflowError:  # an offset that takes it past the ends of the calendar
        inside = False
    if not inside:
        raise ValueError(
            f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST - timedelta(days=1):%Y-%m-%d}"
        )
    return moment


class Kind(enum.StrEnum):
    """What sort of message it is."""

    INFO = "info"
    EMERGENCY = "emergency"


class Targets(BaseModel):
    """Which devices show the message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    everything: bool = Field(default=False, description="Every display and beacon.")
    displays: list[str] = Field(default_factory=list, description="Display ids.")
    beacons: list[str] = Field(default_factory=list, description="Beacon ids.")
    groups: list[str] = Field(default_factory=list, description="Group (zone) names.")

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not (self.everything or self.displays or self.beacons or self.groups):
            raise ValueError("a message needs at least one target (or everything)")
        return self


class Daypart(BaseModel):
    """A local time window of a day, e.g. 08:30-12:00; one that ends before it starts
    ends the next day (22:00-06:00, a night's notice)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end == self.start:
            raise ValueError(f"daypart starts and ends at {self.start:%H:%M}: it lasts no time")
        return self

    @property
    def overnight(self) -> bool:
        """Whether it ends the next day."""
        return self.end < self.start

    @classmethod
    def parse(cls, text: str) -> Daypart:
        """``"08:30-12:00"`` (or with an en dash)."""
        start, _, end = text.replace("–", "-").partition("-")
        try:
            opens, closes = time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
        except ValueError as exc:
            raise ValueError(f"daypart {text!r}: {exc} (expected HH:MM-HH:MM)") from None
        return cls(start=opens, end=closes)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


MAX_RRULE_LENGTH = 500
MAX_EXDATES = 400
#: The rule picks dates; the dayparts give the times of day. Finer frequencies would also
#: make one rule cost minutes of expansion on the robot's loop (FREQ=SECONDLY).
RRULE_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
MAX_RRULE_INTERVAL = 1000
MAX_RRULE_COUNT = 10_000
_SUB_DAILY_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")


def _check_cost(text: str) -> None:
    """Refuse rules that make no sense for dated messages or cost too much to expand."""
    parts: dict[str, str] = {}
    for item in text.split(";"):
        key, sep, val = item.partition("=")
        if not sep:
            raise ValueError(f"not a valid RRULE: {item[:40]!r} is not NAME=VALUE")
        parts[key.strip().upper()] = val.strip()
    freq = parts.get("FREQ", "").upper()
    if freq not in RRULE_FREQUENCIES:
        raise ValueError(
            f"FREQ must be one of {', '.join(RRULE_FREQUENCIES)} (got {freq[:20] or 'none'}): "
            "the rule picks dates, the dayparts give the times of day"
        )
    _whole(parts, "INTERVAL", 1, MAX_RRULE_INTERVAL)
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValueError("give COUNT or UNTIL, not both (RFC 5545)")
    _whole(parts, "COUNT", 1, MAX_RRULE_COUNT)
    for part in _SUB_DAILY_PARTS:
        if part in parts:
            raise ValueError(f"{part} is not allowed: the dayparts give the times of day")


def _whole(parts: dict[str, str], name: str, lowest: int, highest: int) -> None:
    """Check that rule part ``name``, if given, is a whole number in its range."""
    if name not in parts:
        return
    try:
        value = int(parts[name])
    except ValueError:
        raise ValueError(f"{name} must be a whole number") from None
    if not lowest <= value <= highest:
        raise ValueError(f"{name} must be between {lowest} and {highest}")


class Recurrence(BaseModel):
    """An RFC 5545 RRULE over local dates, shown during the dayparts of each date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rrule: str = Field(description="e.g. FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR")
    dayparts: list[Daypart] = Field(
        min_length=1, max_length=24, description="Local windows per date."
    )
    exdates: list[date] = Field(
        default_factory=list,
        max_length=MAX_EXDATES,
        description="Local dates skipped (RFC 5545 EXDATE): a holiday, a closing day.",
    )

    @field_validator("exdates")
    @classmethod
    def _exdates(cls, value: list[date]) -> list[date]:
        for day in value:
            in_window(datetime.combine(day, time(12), tzinfo=UTC))
        return sorted(set(value))

    @field_validator("rrule")
    @classmethod
    def _parses(cls, value: str) -> str:
        text = value.strip().removeprefix("RRULE:")
        if "DTSTART" in text.upper():
            raise ValueError("leave DTSTART out: the message's start is the rule's start")
        if len(text) > MAX_RRULE_LENGTH:
            raise ValueError(f"an RRULE of at most {MAX_RRULE_LENGTH} characters, please")
        _check_cost(text)
        try:
            rrulestr(text, dtstart=datetime(2026, 1, 1))  # noqa: DTZ001 - local, naive on purpose
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a valid RRULE: {exc}") from None
        return text


class Message(BaseModel):
    """A scheduled message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    title: str = Field(min_length=1, max_length=120, description="For staff lists.")
    content: dict[Language, LocalizedContent] = Field(min_length=1)
    targets: Targets
    starts: AwareDatetime = Field(description="From when (inclusive).")
    ends: AwareDatetime | None = Field(default=None, description="Until when (exclusive).")
    recurrence: Recurrence | None = None
    priority: int = Field(default=50, ge=0, le=100)
    kind: Kind = Kind.INFO
    drill: bool = Field(
        default=False,
        description="An exercise (emergencies): its titles say so on every screen, beacon "
        "and from the robot, and the audit trail keeps it apart.",
    )
    building: Literal["any", "open", "closed"] = Field(
        default="any",
        description="Shown only while the building is open, or only while it is closed "
        "(the site's calendar: opening hours, closing days, public holidays).",
    )
    version: int = Field(default=1, ge=1)
    # Set by the store on every change; the epoch only for messages not stored yet.
    updated: AwareDatetime = Field(default=datetime(1970, 1, 1, tzinfo=UTC))

    @field_validator("starts", "ends")
    @classmethod
    def _in_window(cls, value: datetime | None) -> datetime | None:
        return None if value is None else in_window(value)

    @field_validator("title")
    @classmethod
    def _readable(cls, value: str) -> str:
        return check_text(value)

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.ends is not None and self.ends <= self.starts:
            raise ValueError(f"ends ({self.ends.isoformat()}) is not after starts")
        return self

    @property
    def content_id(self) -> str:
        """The id a display acknowledges: changes with every edit."""
        return f"{self.id}.v{self.version}"

    def occurrences(
        self, tz: ZoneInfo, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """The windows (UTC) in which the message is active that overlap ``[start, end)``."""
        first = max(start, self.starts)
        last = end if self.ends is None else min(end, self.ends)
        if first >= last:
            return []
        if self.recurrence is None:
            return [(self.starts, self.ends or datetime.max.replace(tzinfo=UTC))]
        windows: list[tuple[datetime, datetime]] = []
        skipped = set(self.recurrence.exdates)
        for day in self._dates(tz, first - timedelta(days=1), last + timedelta(days=1)):
            if day in skipped:
                continue
            for part in self.recurrence.dayparts:
                opens = _local(day, part.start, tz)
                closes = _local(day + timedelta(days=part.overnight), part.end, tz)
                opens, closes = max(opens, self.starts), closes
                if self.ends is not None:
                    closes = min(closes, self.ends)
                if opens < closes and opens < last and closes > first:
                    windows.append((opens, closes))
        return windows

    def _dates(self, tz: ZoneInfo, start: datetime, end: datetime) -> list[date]:
        assert self.recurrence is not None
        local_start = self.starts.astimezone(tz).replace(tzinfo=None)
        rule = rrulestr(
            self.recurrence.rrule,
            dtstart=local_start.replace(hour=0, minute=0, second=0, microsecond=0),
        )
        lo = start.astimezone(tz).replace(tzinfo=None)
        hi = end.astimezone(tz).replace(tzinfo=None)
        return [moment.date() for moment in rule.between(lo, hi, inc=True)]

    def fires(self, tz: ZoneInfo) -> bool:
        """Whether the message is ever active (an RRULE may never match its window)."""
        # Bounded whatever the end: a rule is judged on its first two years.
        search_end = self.starts + MAX_OCCURRENCE_SEARCH
        horizon = search_end if self.ends is None else min(self.ends, search_end)
        return bool(self.occurrences(tz, self.starts, horizon))


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Local wall-clock ``day at`` as UTC (a time skipped by DST moves forward)."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz)
    # A wall time in the spring-forward gap does not exist; fold=0 gives the earlier
    # offset, which lands after the gap once normalised, which is what a person expects.
    return aware.astimezone(UTC)


#: How a drill's title begins, per language ("OEFENING: Evacuatie").
DRILL_WORD = {"nl": "OEFENING", "fr": "EXERCICE", "en": "DRILL", "de": "ÜBUNG"}


def emergency_notice(
    content: dict[Language, LocalizedContent],
    targets: Targets,
    now: datetime,
    tz: ZoneInfo,
    message_id: str | None = None,
    *,
    drill: bool = False,
    lasts: timedelta | None = None,
) -> Message:
    """An emergency notice from ``now`` until stopped (or for ``lasts``); its id says
    when it began. A ``drill`` says so in every title, in every language."""
    if drill:
        content = {
            language: item.model_copy(
                update={"title": check_text(f"{DRILL_WORD.get(language, 'DRILL')}: {item.title}")}
            )
            for language, item in content.items()
        }
        too_long = [lang for lang, item in content.items() if len(item.title) > TITLE_MAX]
        if too_long:
            raise ValueError(
                f"content.{too_long[0]}.title: with the drill mark it is longer than "
                f"{TITLE_MAX} characters"
            )
    kind = "drill" if drill else "emergency"
    return Message(
        # The second it began, and a random part: two raised in one second (two zones,
        # two admins) are two notices, not a conflict.
        id=message_id or f"{kind}-{now.astimezone(tz):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}",
        title=next(iter(content.values())).title,
        content=content,
        targets=targets,
        starts=now,
        ends=now + lasts if lasts is not None else None,
        priority=100,
        kind=Kind.EMERGENCY,
        drill=drill,
    )


DeviceKind = Literal["display", "beacon"]
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
