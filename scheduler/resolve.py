"""What every device should show at an instant, and when that next changes. Pure.

Rules, in order: an active emergency on a device's targets beats everything; otherwise
the highest priority wins; among equals the newest edit wins, or they take turns every
``rotate_every`` seconds (configurable). A device with nothing active shows its
configured default.

:class:`Timeline` expands every message's active windows over a horizon once, so that
questions about any instant within it are a bisection per message.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from scheduler.model import DeviceKind, Kind, Message

TieRule = Literal["newest", "rotate"]


@dataclass(frozen=True)
class Device:
    """A display or beacon as the scheduler sees it."""

    id: str
    kind: DeviceKind
    group: str


@dataclass(frozen=True)
class Showing:
    """What a device shows: a message, or its default (``message is None``)."""

    device: str
    message: Message | None

    @property
    def content_id(self) -> str:
        """The content id to deliver ("default" when nothing is scheduled)."""
        return self.message.content_id if self.message else "default"

    @property
    def emergency(self) -> bool:
        """Whether an emergency is shown."""
        return self.message is not None and self.message.kind is Kind.EMERGENCY


def _rank(message: Message) -> tuple[bool, int]:
    return (message.kind is Kind.EMERGENCY, message.priority)


class BuildingHours(Protocol):
    """When the building is open (the site's calendar)."""

    def open_windows(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Aware windows of opening that overlap ``[start, end)``, in order."""
        ...


def windows_of(
    message: Message,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    hours: BuildingHours | None = None,
) -> list[tuple[datetime, datetime]]:
    """When ``message`` is shown within ``[start, end)``: its own windows, cut to the
    building's opening hours (``building = "open"``) or to the rest (``"closed"``)."""
    windows = message.occurrences(tz, start, end)
    if message.building == "any" or hours is None or not windows:
        return windows
    opened = hours.open_windows(start - timedelta(days=1), end + timedelta(days=1))
    found: list[tuple[datetime, datetime]] = []
    for opens, closes in windows:
        if message.building == "open":
            found += [
                (max(opens, a), min(closes, b)) for a, b in opened if a < closes and b > opens
            ]
            continue
        at = opens
        for a, b in opened:
            if b <= at or a >= closes:
                continue
            if a > at:
                found.append((at, a))
            at = max(at, b)
        if at < closes:
            found.append((at, closes))
    return found


class Timeline:
    """Messages with their active windows expanded over ``[start, end)``."""

    def __init__(
        self,
        messages: Iterable[Message],
        tz: ZoneInfo,
        start: datetime,
        end: datetime,
        hours: BuildingHours | None = None,
    ) -> None:
        """Expand every message once (``hours``: for messages tied to the building's)."""
        self.tz = tz
        self.start = start
        self.end = end
        self._messages: list[Message] = []
        self._index: dict[str, int] = {}
        self._starts: list[list[datetime]] = []
        self._ends: list[list[datetime]] = []
        boundaries: set[datetime] = set()
        for message in messages:
            windows = windows_of(message, tz, start, end, hours)
            if not windows:
                continue
            self._index[message.id] = len(self._messages)
            self._messages.append(message)
            self._starts.append([w[0] for w in windows])
            self._ends.append([w[1] for w in windows])
            for opens, closes in windows:
                boundaries.add(opens)
                boundaries.add(closes)
        self._boundaries = sorted(b for b in boundaries if start <= b <= end)

    @property
    def messages(self) -> list[Message]:
        """The messages active somewhere within the horizon."""
        return list(self._messages)

    def subset(self, indices: Iterable[int], start: datetime, end: datetime) -> Timeline:
        """The same timeline with only the messages at ``indices`` of :attr:`messages`,
        its change points looked up within ``[start, end]`` only (nothing is expanded
        again: a device's own messages, cheaply)."""
        part = Timeline.__new__(Timeline)
        part.tz, part.start, part.end = self.tz, self.start, self.end
        chosen = sorted(set(indices))
        part._messages = [self._messages[i] for i in chosen]
        part._index = {m.id: n for n, m in enumerate(part._messages)}
        part._starts = [self._starts[i] for i in chosen]
        part._ends = [self._ends[i] for i in chosen]
        edges: set[datetime] = set()
        for i in chosen:
            for times in (self._starts[i], self._ends[i]):
                lo, hi = bisect.bisect_left(times, start), bisect.bisect_right(times, end)
                edges.update(times[lo:hi])
        part._boundaries = sorted(edges)
        return part

    def covers(self, moment: datetime) -> bool:
        """Whether ``moment`` lies within the expanded horizon."""
        return self.start <= moment < self.end

    def active(self, at: datetime) -> list[Message]:
        """Messages active at ``at``."""
        found = []
        for message, starts, ends in zip(self._messages, self._starts, self._ends, strict=True):
            index = bisect.bisect_right(starts, at) - 1
            if index >= 0 and at < ends[index]:
                found.append(message)
        return found

    def window_end(self, message: Message, at: datetime) -> datetime | None:
        """When the window of ``message`` holding ``at`` closes; None: not within the
        horizon (a message without an end, or one past it), or not active at ``at``."""
        index = self._index.get(message.id)
        if index is None:
            return None
        starts, ends = self._starts[index], self._ends[index]
        found = bisect.bisect_right(starts, at) - 1
        if found < 0 or at >= ends[found] or ends[found] >= self.end:
            return None
        return ends[found]

    def next_change(self, after: datetime) -> datetime | None:
        """The first instant after ``after`` at which a message starts or stops."""
        index = bisect.bisect_right(self._boundaries, after)
        return self._boundaries[index] if index < len(self._boundaries) else None


def resolve(
    timeline: Timeline,
    devices: Sequence[Device],
    at: datetime,
    *,
    ties: TieRule = "newest",
    rotate_every: float = 60.0,
) -> dict[str, Showing]:
    """What every device shows at ``at``."""
    everything: list[Message] = []
    by_group: dict[str, list[Message]] = defaultdict(list)
    by_device: dict[tuple[DeviceKind, str], list[Message]] = defaultdict(list)
    for message in timeline.active(at):
        targets = message.targets
        if targets.everything:
            everything.append(message)
        for group in targets.groups:
            by_group[group].append(message)
        for display in targets.displays:
            by_device[("display", display)].append(message)
        for beacon in targets.beacons:
            by_device[("beacon", beacon)].append(message)
    best_everywhere = _best(everything)
    best_in_group = {group: _best(found) for group, found in by_group.items()}
    slot = int(at.timestamp() // rotate_every)
    showing = {}
    for device in devices:
        candidates = [
            *best_everywhere,
            *best_in_group.get(device.group, ()),
            *_best(by_device.get((device.kind, device.id), [])),
        ]
        showing[device.id] = Showing(device.id, _pick(_best(candidates), ties, slot))
    return showing


def tied(timeline: Timeline, showing: Showing, at: datetime) -> bool:
    """Whether what ``showing`` shows shares its priority with another active message
    (so, with ``ties = "rotate"``, they take turns)."""
    message = showing.message
    if message is None:
        return False
    return len([m for m in timeline.active(at) if m.priority == message.priority]) > 1


def _best(messages: list[Message]) -> list[Message]:
    """The messages sharing the top rank (emergency first, then priority)."""
    if not messages:
        return []
    top = max(_rank(m) for m in messages)
    return [m for m in messages if _rank(m) == top]


def _pick(tied: list[Message], ties: TieRule, slot: int) -> Message | None:
    if not tied:
        return None
    unique = {m.id: m for m in tied}
    if len(unique) == 1:
        return next(iter(unique.values()))
    if ties == "rotate":
        ordered = sorted(unique.values(), key=lambda m: m.id)
        return ordered[slot % len(ordered)]
    return max(unique.values(), key=lambda m: (m.updated, m.id))


def rotation_boundary(after: datetime, rotate_every: float) -> datetime:
    """The next instant the rotation turns."""
    seconds = after.timestamp()
    next_turn = (seconds // rotate_every + 1) * rotate_every
    return after + timedelta(seconds=next_turn - seconds)
