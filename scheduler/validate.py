"""Checks that need more than the message itself: targets that exist, a rule that fires,
links that fit the beacons they target."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from beacons.frames import FrameError, encode_eddystone_url
from scheduler.model import Message
from scheduler.resolve import Device


def problems(
    message: Message,
    devices: Sequence[Device],
    url_beacons: set[str],
    tz: ZoneInfo,
) -> list[str]:
    """Why ``message`` cannot be scheduled here; empty when it can."""
    found: list[str] = []
    displays = {d.id for d in devices if d.kind == "display"}
    beacons = {d.id for d in devices if d.kind == "beacon"}
    groups = {d.group for d in devices}
    targets = message.targets
    for kind, wanted, known in (
        ("display", targets.displays, displays),
        ("beacon", targets.beacons, beacons),
        ("group", targets.groups, groups),
    ):
        for name in wanted:
            if name not in known:
                found.append(
                    f"targets: unknown {kind} {name!r} (known: {', '.join(sorted(known))})"
                )
    if not message.fires(tz):
        found.append("recurrence: the rule never falls between starts and ends")
    reached = _beacons_reached(message, devices, url_beacons)
    if reached:
        for language, item in message.content.items():
            if item.link is None:
                continue
            try:
                encode_eddystone_url(str(item.link))
            except FrameError as exc:
                found.append(
                    f"content.{language}.link: too long for the BLE beacons it targets "
                    f"({', '.join(sorted(reached))}): {exc}"
                )
    return found


def _beacons_reached(
    message: Message, devices: Sequence[Device], url_beacons: set[str]
) -> set[str]:
    targets = message.targets
    reached = set()
    for device in devices:
        if device.id not in url_beacons:
            continue
        if targets.everything or device.id in targets.beacons or device.group in targets.groups:
            reached.add(device.id)
    return reached
