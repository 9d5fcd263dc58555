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
MAX_POINTS = 200  # instants resolved per plan (each resolves every device once)


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
    until: datetime  # nothing is known after this instant


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
    """What every device in ``devices`` shows from ``now`` for ``span`` (bounded)."""
    horizon = min(now + span, timeline.end)
    moments: list[datetime] = []
    decisions: list[dict[str, Showing]] = []
    at: datetime | None = now
    while at is not None and at < horizon and len(moments) < max_points:
        showing = resolve(timeline, devices, at, ties=ties, rotate_every=rotate_every)
        moments.append(at)
        decisions.append(showing)
        at = _next_point(timeline, showing, at, ties, rotate_every)
    until = horizon if at is None else min(at, horizon)
    stretches: dict[str, list[Stretch]] = {}
    for device in devices:
        found: list[Stretch] = []
        for moment, showing in zip(moments, decisions, strict=True):
            item = showing[device.id]
            if found and found[-1].showing.content_id == item.content_id:
                continue
            if found:
                last = found[-1]
                found[-1] = Stretch(last.starts, moment, last.showing)
            found.append(Stretch(moment, None, item))
        last_message = found[-1].showing.message if found else None
        if last_message is not None:
            last = found[-1]
            found[-1] = Stretch(
                last.starts, timeline.window_end(last_message, moments[-1]), last.showing
            )
        stretches[device.id] = found
    return Plan(stretches, until)


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
