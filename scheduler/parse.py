"""What people type, read into the schedule's types: for API, forms, CLI and scenarios.

One place for the rules, so the web app, the command line and scenario files accept
and refuse the same input with the same words. Each function raises
:class:`InputError` with a message that says what to write instead; the caller puts
the field's name (``--every``, ``every``) in front.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from scheduler.model import Daypart, Recurrence, Targets, in_window

_DAYS = {"mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA", "sun": "SU"}
_EVERY = re.compile(r"^\s*(?P<days>[a-z, ]+?)\s+(?P<parts>\d.*)$", re.IGNORECASE)
MAX_TEXT = 1000  # characters of typed input a message quotes back


class InputError(ValueError):
    """Input a person must correct; the message says how."""


def quoted(text: str) -> str:
    """``text`` as an error message quotes it: never long (an error never echoes a book)."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def parse_every(text: str) -> Recurrence:
    """Plain words to a recurrence: "weekdays 08:30-12:00", "daily 09:00-10:00",
    "mon,wed 14:00-16:00", "weekends 10:00-12:00"."""
    match = _EVERY.match(text[:MAX_TEXT])
    if match is None:
        raise InputError(f"{quoted(text)}: expected e.g. 'weekdays 08:30-12:00'")
    days = match["days"].strip().lower()
    if days in ("daily", "every day", "day", "days"):
        rule = "FREQ=DAILY"
    elif days in ("weekdays", "weekday"):
        rule = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    elif days in ("weekends", "weekend"):
        rule = "FREQ=WEEKLY;BYDAY=SA,SU"
    else:
        names = [d.strip()[:3] for d in days.split(",") if d.strip()]
        unknown = [n for n in names if n not in _DAYS]
        if unknown or not names:
            raise InputError(f"{quoted(text)}: unknown day(s) {', '.join(unknown) or quoted(days)}")
        rule = "FREQ=WEEKLY;BYDAY=" + ",".join(_DAYS[n] for n in names)
    try:
        parts = [Daypart.parse(p) for p in re.split(r"[,\s]+", match["parts"].strip()) if p]
        return Recurrence(rrule=rule, dayparts=parts)
    except (ValueError, ValidationError) as exc:
        raise InputError(f"{quoted(text)}: {first_error(exc)}") from None


def recurrence_of(every: str | None, recurrence: Recurrence | None) -> Recurrence | None:
    """The recurrence from plain words or from a rule: one of the two, never both."""
    if every and recurrence is not None:
        raise InputError("give 'every' (plain words) or 'recurrence' (a rule), not both")
    return parse_every(every) if every else recurrence


def parse_targets(text: str) -> Targets:
    """``everything`` or ``display:ID,beacon:ID,group:NAME``."""
    if text.strip() == "everything":
        return Targets(everything=True)
    found: dict[str, list[str]] = {"displays": [], "beacons": [], "groups": []}
    for item in (part.strip() for part in text[:MAX_TEXT].split(",") if part.strip()):
        kind, sep, name = item.partition(":")
        key = {"display": "displays", "beacon": "beacons", "group": "groups"}.get(kind)
        if not sep or key is None or not name:
            raise InputError(
                f"{quoted(item)}: expected display:ID, beacon:ID, group:NAME or everything"
            )
        found[key].append(name)
    if not any(found.values()):
        raise InputError(f"{quoted(text)}: name at least one target, or 'everything'")
    return Targets(displays=found["displays"], beacons=found["beacons"], groups=found["groups"])


def site_time(value: datetime | str, tz: ZoneInfo) -> datetime:
    """A moment people gave: a local time of the site (or with an offset), in the window.

    Text is ISO 8601 ("2026-12-24 10:00", "2026-12-24T10:00+01:00"). Raises
    :class:`InputError` for anything else, or for a time outside the schedule's window.
    """
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.strip())
        except ValueError:
            raise InputError(
                f'{quoted(text)}: expected a local time like "2026-12-24 10:00"'
            ) from None
    moment = value.replace(tzinfo=tz) if value.tzinfo is None else value
    try:
        return in_window(moment)
    except ValueError as exc:
        raise InputError(f"{value.isoformat()}: {exc}") from None


def first_error(exc: Exception) -> str:
    """One line for a validation error: where and what (pydantic's or a plain one)."""
    if isinstance(exc, ValidationError):
        return describe_error(exc.errors()[0])
    return str(exc)


def describe_error(error: object) -> str:
    """``where: what`` for one of pydantic's errors (its input never quoted)."""
    assert isinstance(error, dict)
    where = ".".join(str(part) for part in error["loc"]) or "message"
    return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"
