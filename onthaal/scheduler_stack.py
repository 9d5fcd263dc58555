"""The scheduler wired to the config: devices, their defaults, the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from clock import Clock
from dialogue.calendar import OpeningCalendar
from onthaal.config import Config
from onthaal.dialogue_setup import opening_calendar
from scheduler.closed import closed_notices, load_closed_texts
from scheduler.dispatch import BeaconSink, DeviceDefaults, Dispatcher, DisplaySink
from scheduler.model import Message
from scheduler.resolve import Device
from scheduler.store import Store


def devices(config: Config) -> list[Device]:
    """Every display and beacon in the config."""
    return [
        *(Device(d.id, "display", d.group) for d in config.displays),
        *(Device(b.id, "beacon", b.group) for b in config.beacons),
    ]


def defaults(config: Config) -> dict[str, DeviceDefaults]:
    """What each device shows when nothing is scheduled."""
    found = {
        d.id: DeviceDefaults(content=dict(d.default), protocol=d.protocol) for d in config.displays
    }
    for beacon in config.beacons:
        found[beacon.id] = DeviceDefaults(
            content=dict(beacon.default) or None,
            url=beacon.url or None,
            beacon_mode=beacon.mode,
        )
    return found


def url_beacons(config: Config) -> set[str]:
    """Beacons whose frame carries the link."""
    return {b.id for b in config.beacons if b.mode == "url"}


#: Real seconds the running system's connection waits for a database another program has
#: locked: it lives on the loop the robot shares, so the wait must stay short.
LOOP_BUSY_TIMEOUT = 0.25


def open_store(config: Config, config_path: Path, *, busy_timeout: float = 2.0) -> Store:
    """The schedule database named in ``[scheduler]``."""
    return Store(config_path.parent / config.scheduler.database, busy_timeout=busy_timeout)


def build_dispatcher(
    config: Config,
    store: Store,
    clock: Clock,
    *,
    displays: DisplaySink | None,
    beacons: BeaconSink | None,
    config_path: Path | None = None,
) -> Dispatcher:
    """A dispatcher for every configured device (``config_path``: where the content files
    it reads are found; without it, no closed-day notice)."""
    calendar = opening_calendar(config)
    return Dispatcher(
        store,
        devices(config),
        defaults(config),
        ZoneInfo(config.site.timezone),
        clock,
        displays=displays,
        beacons=beacons,
        languages=list(config.site.languages),
        ties=config.scheduler.ties,
        rotate_every=config.scheduler.rotate_every,
        emergency_url=config.scheduler.emergency_url or None,
        keep_deliveries=timedelta(days=config.scheduler.keep_deliveries_days),
        hours=calendar,
        closed_days=closed_days(config, config_path, calendar) if config_path else None,
    )


def closed_days(
    config: Config, config_path: Path, calendar: OpeningCalendar
) -> Callable[[datetime, datetime], list[Message]] | None:
    """The closed-day notices of ``[scheduler] closed_notice`` (None: not wanted).

    Raises ``TemplatesError`` for an unusable file (checked at start and by check-config).
    """
    if not config.scheduler.closed_notice:
        return None
    texts = load_closed_texts(
        config_path.parent / config.scheduler.closed_notice, list(config.site.languages)
    )
    tz, screens = ZoneInfo(config.site.timezone), [d.id for d in config.displays]
    return lambda start, end: closed_notices(calendar, tz, start, end, texts, screens)
