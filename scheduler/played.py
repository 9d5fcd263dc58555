"""Proof of play: which device showed what, from when to when. Pure.

A device shows a content from the moment it confirmed it (its ack, or a beacon's
verified write) until it confirmed another one; confirmations of the same content in a
row (a republish, a new look-ahead) are one stretch. A message's content ids are
``<message id>.v<version>``, so one message's stretches cover all its versions.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from scheduler.store import Delivery

_VERSIONED = re.compile(r"^(?P<message>[a-z0-9][a-z0-9-]*)\.v\d+$")


@dataclass(frozen=True)
class Played:
    """``device`` showed ``content_id`` from ``starts`` to ``ends`` (None: it still does)."""

    device: str
    content_id: str
    starts: datetime
    ends: datetime | None

    def minutes(self, now: datetime) -> float:
        """How long, in minutes (until ``now`` while it still shows: pass the earlier of
        now and the period's end)."""
        return ((self.ends or now) - self.starts).total_seconds() / 60

    @property
    def message(self) -> str | None:
        """The message id it belongs to (None for a default)."""
        return message_of(self.content_id)


def message_of(content_id: str) -> str | None:
    """The message a content id belongs to (None: a device's default)."""
    found = _VERSIONED.match(content_id)
    return found["message"] if found else None


def stretches(deliveries: Iterable[Delivery], start: datetime, end: datetime) -> list[Played]:
    """Every device's stretches within ``[start, end)`` (clipped to it), oldest first.

    ``deliveries``: confirmed ones, oldest first, including each device's last one before
    ``start`` (``Store.deliveries_between`` gives exactly that).
    """
    per_device: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for item in deliveries:
        if item.ok:
            per_device[item.device].append((datetime.fromisoformat(item.at), item.content_id))
    found: list[Played] = []
    for device, confirmed in per_device.items():
        confirmed.sort(key=lambda pair: pair[0])
        merged: list[tuple[datetime, str]] = []
        for at, content in confirmed:
            if not merged or merged[-1][1] != content:
                merged.append((at, content))
        for index, (at, content) in enumerate(merged):
            until = merged[index + 1][0] if index + 1 < len(merged) else None
            if until is not None and until <= start:
                continue  # replaced before the period began
            begins = max(at, start)
            if begins >= end:
                continue
            # Clipped to the period; None: not replaced (yet), it shows to this day.
            ends = min(until, end) if until is not None else None
            found.append(Played(device, content, begins, ends))
    found.sort(key=lambda p: (p.starts, p.device))
    return found


def of_message(played: Iterable[Played], message_id: str) -> list[Played]:
    """The stretches of one message (any version)."""
    return [p for p in played if p.message == message_id]
