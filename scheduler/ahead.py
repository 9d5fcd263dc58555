"""What each device will show over the next hours: the look-ahead a display keeps. Pure.

A display that loses the broker (or Onthaal) must not keep showing a notice past its
window, nor go blank: with the plan below in every content payload (signage protocol
v2) it switches by itself, at the right moment, to what comes next or to its default.

The plan is made by resolving the schedule at every instant it can change within the
look-ahead (message windows opening or closing, rotation turns), so it is exactly what
the dispatcher would push if it were there. Its cost is bounded: at most
:data:`MAX_POINTS` instants are resolved, whatever the schedule; beyond them the plan
says it knows no further (``until``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.resolve import (
    Device,
    Showing,
    TieRule,
    Timeline,
    resolve,
    rotation_boundary,
    tied,
)

LOOK_AHEAD = timedelta(hours=24)
MAX_POINTS = 64  # instants resolved per plan (each resolves the planned displays once)


@dataclass(frozen=True)
class Stretch:
    """A device shows ``showing`` from ``starts`` until ``ends`` (None: no end known)."""

    starts: datetime
    ends: datetime | None
    showing: Showing


@dataclass(frozen=True)
class Plan:
    """Per device, its stretches from now on; the first is what it shows now."""

    stretches: dict[str, list[Stretch]]
    until: dict[str, datetime]  # per device: nothing is known after this instant


def plan(
    timeline: Timeline,
    devices: Sequence[Device],
    now: datetime,
    *,
    ties: TieRule = "newest",
    rotate_every: float = 60.0,
    span: timedelta = LOOK_AHEAD,
    max_points: int = MAX_POINTS,
) -> Plan:
    """What every device in ``devices`` shows from ``now`` for ``span`` (bounded).

    Each device is walked over its own messages only (those targeting everything, its
    group or itself), so its cost follows what concerns it, not the whole schedule.
    """
    horizon = min(now + span, timeline.end)
    everything: list[int] = []
    by_group: dict[str, list[int]] = defaultdict(list)
    by_device: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, message in enumerate(timeline.messages):
        targets = message.targets
        if targets.everything:
            everything.append(index)
        for group in targets.groups:
            by_group[group].append(index)
        for display in targets.displays:
            by_device[("display", display)].append(index)
        for beacon in targets.beacons:
            by_device[("beacon", beacon)].append(index)
    stretches: dict[str, list[Stretch]] = {}
    until: dict[str, datetime] = {}
    for device in devices:
        mine = (
            *everything,
            *by_group.get(device.group, ()),
            *by_device.get((device.kind, device.id), ()),
        )
        own = timeline.subset(mine, now, horizon)
        found, known = _walk(own, device, now, horizon, ties, rotate_every, max_points)
        stretches[device.id] = found
        until[device.id] = known
    return Plan(stretches, until)


def _walk(
    timeline: Timeline,
    device: Device,
    now: datetime,
    horizon: datetime,
    ties: TieRule,
    rotate_every: float,
    max_points: int,
) -> tuple[list[Stretch], datetime]:
    """One device's stretches from ``now``, and the instant its plan is known until."""
    found: list[Stretch] = []
    at: datetime | None = now
    last = now
    points = 0
    while at is not None and at < horizon and points < max_points:
        item = resolve(timeline, [device], at, ties=ties, rotate_every=rotate_every)[device.id]
        points += 1
        last = at
        if not found or found[-1].showing.content_id != item.content_id:
            if found:
                found[-1] = Stretch(found[-1].starts, at, found[-1].showing)
            found.append(Stretch(at, None, item))
        at = _next_point(timeline, {device.id: item}, at, ties, rotate_every)
    final = found[-1].showing.message if found else None
    if final is not None:
        found[-1] = Stretch(found[-1].starts, timeline.window_end(final, last), found[-1].showing)
    return found, horizon if at is None else min(at, horizon)


def _next_point(
    timeline: Timeline,
    showing: dict[str, Showing],
    at: datetime,
    ties: TieRule,
    rotate_every: float,
) -> datetime | None:
    later = timeline.next_change(at)
    if ties == "rotate" and any(tied(timeline, s, at) for s in showing.values()):
        turn = rotation_boundary(at, rotate_every)
        later = turn if later is None else min(later, turn)
    return later
