"""What people type, read into the schedule's types: for API, forms, CLI and scenarios.

One place for the rules, so the web app, the command line and scenario files accept
and refuse the same input with the same words. Each function raises
:class:`InputError` with a message that says what to write instead; the caller puts
the field's name (``--every``, ``every``) in front.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from scheduler import recurrence
from scheduler.model import Recurrence, Targets, in_window

MAX_TEXT = 1000  # characters of typed input a message quotes back


class InputError(ValueError):
    """Input a person must correct; the message says how."""


def quoted(text: str) -> str:
    """``text`` as an error message quotes it: never long (an error never echoes a book)."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def parse_every(text: str, year: int | None = None) -> Recurrence:
    """Plain words to a recurrence, in any site language: "weekdays 08:30-12:00",
    "werkdagen 08:30-12:00", "elke maandag en woensdag van 8.30 tot 12.00, niet op 11
    november", "every first Tuesday of the month 09:00-11:00" (see
    :func:`scheduler.recurrence.parse`; ``year``: of skipped dates said without one)."""
    try:
        return recurrence.parse(text[: MAX_TEXT + 1], year)
    except (ValueError, ValidationError) as exc:
        raise InputError(f"{quoted(text)}: {first_error(exc)}") from None


def recurrence_of(
    every: str | None, recurrence: Recurrence | None, year: int | None = None
) -> Recurrence | None:
    """The recurrence from plain words or from a rule: one of the two, never both."""
    if every and recurrence is not None:
        raise InputError("give 'every' (plain words) or 'recurrence' (a rule), not both")
    return parse_every(every, year) if every else recurrence


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
