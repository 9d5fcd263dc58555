"""On a day the building is closed, every screen says so, and when it opens again.

The site's calendar (``[opening_hours]``: weekly hours, closing days, public holidays —
the robot's own) decides which days are closed: a day without one opening window. On
such a day each screen shows the municipality's "Vandaag gesloten — terug open op
maandag 4 januari om 8.30 uur" (``content/signage/closed.toml``) instead of its
default. It is an ordinary message in the schedule's timeline, made here: at the
lowest priority, losing every tie, so anything staff scheduled for that day still wins;
the preview, the week view and the screens' look-ahead all see it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from beacons.content import Language, LocalizedContent
from scheduler.model import EARLIEST, LATEST, Message, Targets
from scheduler.parse import first_error
from scheduler.recurrence import moment_words
from scheduler.templates import TemplatesError, read_toml

PLACEHOLDERS = ("weekday", "date", "time")
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # "edited" before anything: loses every tie


class Calendar(Protocol):
    """The building's calendar, as far as closed days need it."""

    def open_windows(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Aware windows of opening that overlap ``[start, end)``, in order."""
        ...

    def next_opening(self, instant: datetime) -> datetime | None:
        """The next moment the building opens after ``instant`` (None: not soon)."""
        ...


@dataclass(frozen=True)
class ClosedTexts:
    """The closed-day notice per language: a title and a body with placeholders."""

    texts: dict[Language, LocalizedContent]

    def content(self, opens: datetime | None) -> dict[Language, LocalizedContent]:
        """The words for a day after which the building opens at ``opens``."""
        found: dict[Language, LocalizedContent] = {}
        for language, text in self.texts.items():
            if opens is None:
                body = None  # not open again in sight: say only that it is closed
            else:
                body = (text.body or "").format(**moment_words(opens, language)) or None
            found[language] = text.model_copy(update={"body": body})
        return found


def load_closed_texts(path: Path, languages: Sequence[Language]) -> ClosedTexts:
    """The notice in ``path`` for every site language; raises ``TemplatesError``."""
    data = read_toml(path)
    problems: list[str] = []
    texts: dict[Language, LocalizedContent] = {}
    for language in languages:
        item = data.get(language)
        if not isinstance(item, dict):
            problems.append(f"{path}: [{language}]: missing (every site language needs one)")
            continue
        try:
            text = LocalizedContent.model_validate(item)
        except ValidationError as exc:
            problems.append(f"{path}: [{language}] {first_error(exc)}")
            continue
        try:
            (text.body or "").format(**dict.fromkeys(PLACEHOLDERS, "x"))
        except (KeyError, IndexError, ValueError) as exc:
            problems.append(
                f"{path}: [{language}] body: unknown placeholder {exc} "
                f"(use {', '.join('{' + p + '}' for p in PLACEHOLDERS)})"
            )
            continue
        texts[language] = text
    unknown = sorted(set(data) - set(languages))
    problems += [f"{path}: [{key}]: not a site language" for key in unknown]
    if problems:
        raise TemplatesError(problems)
    return ClosedTexts(texts)


def closed_notices(
    calendar: Calendar,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    texts: ClosedTexts,
    displays: Sequence[str],
) -> list[Message]:
    """One notice per closed day overlapping ``[start, end)``, for ``displays``."""
    if not displays:
        return []
    found: list[Message] = []
    # Only days the schedule can hold (a preview may look at its very edge).
    day = max(start, EARLIEST + timedelta(days=1)).astimezone(tz).date()
    last = min(end, LATEST - timedelta(days=1)).astimezone(tz).date()
    while day <= last:
        opens = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        closes = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        if not calendar.open_windows(opens, closes):
            again = calendar.next_opening(closes - timedelta(microseconds=1))
            content = texts.content(again.astimezone(tz) if again else None)
            # The id changes with the words, so an edited text reaches the screens.
            digest = hashlib.sha256(repr(sorted(content.items())).encode()).hexdigest()[:6]
            found.append(
                Message(
                    id=f"closed-{day:%Y%m%d}-{digest}",
                    title=next(iter(content.values())).title,
                    content=content,
                    targets=Targets(displays=list(displays)),
                    starts=opens,
                    ends=closes,
                    priority=0,
                    updated=NEVER,
                )
            )
        day += timedelta(days=1)
    return found
