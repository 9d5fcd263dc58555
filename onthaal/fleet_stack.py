"""The fleet watcher: every device's health, alerts on it, and the daily digest.

A supervised child (``fleet``) on the core's loop. Every ``[fleet] check_seconds`` it
reads what the drivers already hold (cheap copies: no radio, no broker, no database),
judges each device (:func:`beacons.fleet.assess`), and hands the judgement to the
:class:`~beacons.alerts.Alerter`. New alerts are written to the alert log *before* they
are sent; every channel that fails is tried again with back-off and its error kept, so
nothing is dropped. Database writes and sending run in worker threads: an SMTP server
that takes ten seconds to answer never holds the robot's loop.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from beacons.alert_log import AlertLog, Logged, Status
from beacons.alerts import Alert, Alerter, AlertRules, release
from beacons.ble import BeaconState
from beacons.fleet import BatteryTrend, DeviceClass, FleetRules, Health, Observation, assess
from beacons.signage import DisplayState
from clock import Clock
from onthaal.alert_channels import Channel, ChannelError
from onthaal.config import Config
from scheduler.dispatch import DeviceStatus

log = logging.getLogger("onthaal.fleet")

RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(days=1)  # a channel failing for a day: recorded as failed
WORDS_FILE = Path(__file__).resolve().parents[1] / "content" / "web" / "fleet.toml"


class FleetWords:
    """The words of ``content/web/fleet.toml``: per language, falling back to English."""

    def __init__(self, path: Path = WORDS_FILE) -> None:
        """Read ``path`` (a missing or broken file: English placeholders from the code)."""
        try:
            self._data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            log.error("device health words not read from %s: %s", path, exc)
            self._data = {}

    def section(self, language: str, name: str) -> dict[str, str]:
        """``[<language>.<name>]`` over ``[en.<name>]``."""
        english = self._data.get("en", {}).get(name, {})
        return {**english, **self._data.get(language, {}).get(name, {})}


@dataclass(frozen=True)
class Known:
    """A configured device: who it is for staff."""

    id: str
    kind: DeviceClass
    group: str
    name: str


@dataclass
class FleetSources:
    """Where the watcher reads what the drivers know (each a cheap read)."""

    devices: Sequence[Known]
    displays: Callable[[], Mapping[str, DisplayState]] = dict
    beacons: Callable[[], Mapping[str, BeaconState]] = dict
    status: Callable[[], Mapping[str, DeviceStatus]] = dict
    robot_present: bool = False
    robot_connected: Callable[[], bool] = lambda: False
    robot_last_seen: Callable[[], datetime | None] = lambda: None
    robot_battery: Callable[[], int | None] = lambda: None


def known_devices(config: Config) -> list[Known]:
    """Every configured display and beacon."""
    return [
        *(Known(d.id, "display", d.group, d.name or d.id) for d in config.displays),
        *(Known(b.id, "beacon", b.group, b.name or b.id) for b in config.beacons),
    ]


def fleet_rules(config: Config) -> FleetRules:
    """``[fleet]`` as rules."""
    fleet = config.fleet
    return FleetRules(
        stale_after={
            "beacon": timedelta(minutes=fleet.beacon_stale_minutes),
            # The robot's link knows when it is gone (libqi); an idle robot is quiet.
            "robot": timedelta(days=3650),
            "display": timedelta(days=3650),
        },
        confirm_within=timedelta(minutes=fleet.confirm_minutes),
        low_battery_percent=fleet.low_battery_percent,
    )


def alert_rules(config: Config) -> AlertRules:
    """``[alerts]`` as rules."""
    alerts = config.alerts
    quiet = None
    if alerts.quiet_hours:
        start, end = alerts.quiet_hours.split("-")
        quiet = (time.fromisoformat(start), time.fromisoformat(end))
    return AlertRules(
        after={
            "down": timedelta(minutes=alerts.down_minutes),
            "wrong-content": timedelta(minutes=alerts.wrong_content_minutes),
            "low-battery": timedelta(minutes=alerts.low_battery_minutes),
        },
        quiet=quiet,
        tz=ZoneInfo(config.site.timezone),
    )


def alert_log_path(config: Config, config_path: Path) -> Path | str:
    """The alert log file (``":memory:"`` stays in memory)."""
    if config.alerts.database == ":memory:":
        return ":memory:"
    return config_path.parent / config.alerts.database


class FleetWatch:
    """Judges the fleet, raises alerts, sends them (and the digest), records everything."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        sources: FleetSources,
        alert_log: AlertLog,
        channels: Sequence[Channel],
        words: FleetWords | None = None,
        on_change: Callable[[tuple[Health, ...]], None] | None = None,
    ) -> None:
        """Watch ``sources`` by ``config``'s rules; tell ``channels``; record in ``alert_log``.

        ``on_change(fleet)``: called after a look that changed any device's health (the
        fleet's state for Home Assistant).
        """
        self._on_change = on_change
        self._config = config
        self._clock = clock
        self._sources = sources
        self._log = alert_log
        self._channels = list(channels)
        self._words = words or FleetWords()
        self._language = config.site.default_language
        self._site = config.site.name
        self._tz = ZoneInfo(config.site.timezone)
        self._rules = fleet_rules(config)
        self._alert_rules = alert_rules(config)
        self._alerter = Alerter(self._alert_rules, alert_log.open_problems())
        self._trends: dict[str, BatteryTrend] = {}
        self._fleet: tuple[Health, ...] = ()
        self._every = config.fleet.check_seconds
        # Whether the log may hold alerts still to send (a look with nothing to send
        # touches no thread and no database: a simulated week passes in a blink).
        self._maybe_waiting = True
        self._digest_done: str | None = None  # the last day whose digest is done
        self.sent: list[tuple[str, str]] = []  # (channel, alert key) delivered, for tests

    # -- for the dashboard ----------------------------------------------------------------

    @property
    def log(self) -> AlertLog:
        """The alert log (the web app reads it when it runs in this process)."""
        return self._log

    def fleet(self) -> tuple[Health, ...]:
        """Every device's health as of the last look (robot first, then as configured)."""
        return self._fleet

    # -- the child -------------------------------------------------------------------------

    async def run(self) -> None:
        """Look, alert and send every ``check_seconds`` for ever."""
        while True:
            try:
                await self.look()
            except Exception:  # one bad look must not end the watching
                log.exception("the fleet watcher failed one look")
            await self._clock.sleep(self._every)

    async def look(self) -> list[Alert]:
        """One look at the fleet: judge, alert, record, send what is due. The new alerts."""
        now = self._clock.now()
        before, self._fleet = self._fleet, tuple(self._judge(now))
        if self._on_change is not None and _changed(before, self._fleet):
            self._on_change(self._fleet)
        raised = self._alerter.observe(self._fleet, now)
        for alert in raised:
            status: Status = "held" if self._alert_rules.quiet_at(now) else "pending"
            self._maybe_waiting = True
            log.warning(
                "alert: %s %s %s (%s)", alert.device, alert.condition, alert.edge, alert.reason
            )
            await asyncio.to_thread(self._log.add, alert, status)
        await self._send_due(now)
        await self._digest_if_due(now)
        return raised

    def _judge(self, now: datetime) -> list[Health]:
        sources = self._sources
        displays, beacons, status = sources.displays(), sources.beacons(), sources.status()
        found: list[Health] = []
        if sources.robot_present:
            connected = sources.robot_connected()
            last_seen = sources.robot_last_seen()
            found.append(
                assess(
                    Observation(
                        "robot",
                        "robot",
                        name="robot",
                        last_seen=last_seen,
                        # Before its first connection it is not "offline" but not met yet.
                        online=connected if connected or last_seen is not None else None,
                        battery_percent=sources.robot_battery() if connected else None,
                    ),
                    now,
                    self._rules,
                )
            )
        for device in sources.devices:
            delivery = status.get(device.id)
            wanted = delivery.wanted if delivery else None
            confirmed = delivery.delivered if delivery else None
            failed = delivery.failed if delivery else None
            if device.kind == "display":
                screen = displays.get(device.id)
                heard = [t for t in (screen.last_ack, screen.last_state) if t] if screen else []
                seen = Observation(
                    device.id,
                    "display",
                    device.group,
                    device.name,
                    last_seen=max(heard, default=None),
                    online=screen.online if screen and screen.last_state else None,
                    wanted=wanted,
                    confirmed=confirmed,
                    wanted_since=delivery.wanted_at if delivery else None,
                    failed=failed,
                )
                found.append(assess(seen, now, self._rules))
                continue
            beacon = beacons.get(device.id)
            if beacon is not None and beacon.status == "failed" and not failed:
                failed = beacon.last_error or "the last push failed"
            percent = beacon.battery_percent if beacon else None
            trend = self._trends.setdefault(device.id, BatteryTrend())
            if percent is not None and beacon is not None and beacon.last_seen is not None:
                trend.add(beacon.last_seen, percent)
            seen = Observation(
                device.id,
                "beacon",
                device.group,
                device.name,
                last_seen=beacon.last_seen if beacon else None,
                wanted=wanted,
                confirmed=confirmed,
                wanted_since=delivery.wanted_at if delivery else None,
                failed=failed,
                battery_percent=percent,
            )
            found.append(assess(seen, now, self._rules, trend.days_left()))
        return found

    # -- sending ---------------------------------------------------------------------------

    async def _send_due(self, now: datetime) -> None:
        if not self._maybe_waiting:
            return
        waiting = await asyncio.to_thread(self._log.waiting)
        self._maybe_waiting = bool(waiting)
        held = [w.alert for w in waiting if w.status == "held"]
        if held and not self._alert_rules.quiet_at(now):
            send, digest = release(held, now, self._alert_rules)
            for alert in send:
                await asyncio.to_thread(self._log.set_status, alert.key, "pending")
            for alert in digest:
                await asyncio.to_thread(self._log.set_status, alert.key, "digest")
            waiting = await asyncio.to_thread(self._log.waiting)
        for item in waiting:
            if item.status != "pending" or (item.next_try is not None and item.next_try > now):
                continue
            await self._send(item, now)

    async def _send(self, item: Logged, now: datetime) -> None:
        subject, body = self.words_of(item.alert)
        payload = alert_payload(item.alert, self._config.site.id)
        results = dict(item.channels)
        for channel in self._channels:
            if results.get(channel.name) == "ok":
                continue  # this channel has it: never twice
            try:
                await asyncio.to_thread(channel.send, subject, body, payload)
            except ChannelError as exc:
                results[channel.name] = str(exc)
                log.warning("alert %s not sent by %s: %s", item.alert.key, channel.name, exc)
            else:
                results[channel.name] = "ok"
                self.sent.append((channel.name, item.alert.key))
        failing = [name for name, outcome in results.items() if outcome != "ok"]
        wait = min(RETRY_FIRST * (2**item.attempts), RETRY_MAX)
        gave_up = bool(failing) and now - item.alert.at > GIVE_UP_AFTER
        await asyncio.to_thread(
            self._log.record_attempt,
            item.alert.key,
            results,
            now,
            now + wait if failing and not gave_up else None,
            gave_up,
        )

    def words_of(self, alert: Alert) -> tuple[str, str]:
        """The subject and text of an alert in the site's language."""
        words = self._words.section(self._language, "alerts")
        states = self._words.section(self._language, "states")
        health = next((h for h in self._fleet if h.device == alert.device), None)
        state = health.state if health is not None and alert.edge == "problem" else alert.condition
        name = alert.name or alert.device
        key = "subject_problem" if alert.edge == "problem" else "subject_recovered"
        subject = words.get(key, "{site}: {name} {state}").format(
            site=self._site, name=name, state=states.get(state, state)
        )
        since = alert.since.astimezone(self._tz).strftime("%d/%m/%Y %H:%M")
        lines = [
            f"{words.get('since', 'Since')}: {since}",
            f"{words.get('reason', 'Reason')}: {alert.reason}",
        ]
        if alert.group:
            lines.append(f"{words.get('place', 'Place')}: {alert.group}")
        if alert.edge == "recovered":
            lines.append(
                words.get("recovered_after", "Back after {duration}.").format(
                    duration=_duration(alert.at - alert.since)
                )
            )
        return subject, "\n".join(lines) + "\n"

    async def send_test(self, user: str) -> dict[str, str]:
        """Send a test alert on every channel now; per channel "ok" or the error."""
        words = self._words.section(self._language, "alerts")
        subject = words.get("test_subject", "{site}: test").format(site=self._site)
        body = words.get("test_body", "Test by {user}.").format(user=user) + "\n"
        payload = {"schema": 1, "site": self._config.site.id, "event": "test", "by": user}
        return await send_test(self._channels, subject, body, payload)

    # -- the digest ------------------------------------------------------------------------

    async def _digest_if_due(self, now: datetime) -> None:
        at = self._config.alerts.digest_at
        email = [c for c in self._channels if c.name == "email"]
        if not at or not email:
            return
        local = now.astimezone(self._tz)
        due = datetime.combine(local.date(), time.fromisoformat(at), self._tz)
        day = local.date().isoformat()
        if local < due or self._digest_done == day:
            return
        if await asyncio.to_thread(self._log.digest_sent, day):
            self._digest_done = day
            return
        subject, body = await asyncio.to_thread(self.digest, local.date(), now)
        try:
            await asyncio.to_thread(email[0].send, subject, body, {"event": "digest", "day": day})
        except ChannelError as exc:
            log.warning("the daily digest was not sent: %s", exc)
            if now - due < GIVE_UP_AFTER / 2:
                return  # tried again at the next look
            outcome = f"failed: {exc}"
        else:
            outcome = "ok"
        await asyncio.to_thread(self._log.record_digest, day, now, outcome)
        self._digest_done = day

    def digest(self, day: date, now: datetime) -> tuple[str, str]:
        """The daily summary: what is not fine now, and the alerts of the last 24 hours."""
        words = self._words.section(self._language, "alerts")
        states = self._words.section(self._language, "states")
        reasons = self._words.section(self._language, "reasons")
        subject = words.get("digest_subject", "{site}: {day}").format(
            site=self._site, day=day.strftime("%d/%m/%Y")
        )
        unwell = [h for h in self._fleet if h.state != "online"]
        lines: list[str] = []
        if not unwell:
            lines.append(words.get("digest_all_well", "All fine.").format(count=len(self._fleet)))
        else:
            lines.append(words.get("digest_not_well", "Not fine:"))
            lines += [
                f"- {h.name or h.device}: {states.get(h.state, h.state)} ({h.reason_in(reasons)})"
                for h in unwell
            ]
        lines.append("")
        recent = self._log.between(now - timedelta(days=1), now)
        if not recent:
            lines.append(words.get("digest_none", "No alerts."))
        else:
            lines.append(words.get("digest_alerts", "Alerts:"))
            for item in recent:
                alert = item.alert
                at = alert.at.astimezone(self._tz).strftime("%H:%M")
                lines.append(f"- {at} {alert.name or alert.device}: {alert.condition} {alert.edge}")
        return subject, "\n".join(lines) + "\n"


async def send_test(
    channels: Sequence[Channel], subject: str, body: str, payload: Mapping[str, Any]
) -> dict[str, str]:
    """Send one message on every channel; per channel "ok" or what went wrong."""
    results: dict[str, str] = {}
    for channel in channels:
        try:
            await asyncio.to_thread(channel.send, subject, body, payload)
        except ChannelError as exc:
            results[channel.name] = str(exc)
        else:
            results[channel.name] = "ok"
    return results


def alert_payload(alert: Alert, site: str) -> dict[str, Any]:
    """The webhook's JSON for one alert (docs/alerts.md)."""
    return {
        "schema": 1,
        "site": site,
        "event": "alert",
        "key": alert.key,
        "device": alert.device,
        "kind": alert.kind,
        "name": alert.name,
        "group": alert.group,
        "condition": alert.condition,
        "edge": alert.edge,
        "at": alert.at.isoformat(),
        "since": alert.since.isoformat(),
        "reason": alert.reason,
    }


def _changed(before: tuple[Health, ...], after: tuple[Health, ...]) -> bool:
    """Whether any device's state, reason or battery differs (not just the clock)."""

    def key(h: Health) -> tuple[object, ...]:
        return (h.device, h.state, h.reason_key, h.reason_args, h.battery_percent)

    return [key(h) for h in before] != [key(h) for h in after]


def _duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
