"""Alerts on the fleet's health: both edges, once each, after a grace period. Pure.

An :class:`Alerter` watches :class:`~beacons.fleet.Health` over time. A condition (a
device down, on low battery, or not showing what it should) that lasts longer than its
rule allows raises one ``problem`` alert; when it ends, one ``recovered`` alert follows.
A condition that ends within its grace period raises nothing (a beacon missing one
advertisement is not news). Alerts that fall in the quiet hours are held and, at their
end, the ones already recovered are left to the daily digest (:func:`release`).

Sending (e-mail, webhook), retrying and recording live in the composition root
(``onthaal/alerting.py``); the words live in ``content/web/alerts.toml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from beacons.fleet import DeviceClass, Health

Condition = Literal["down", "low-battery", "wrong-content"]
Edge = Literal["problem", "recovered"]
CONDITIONS: tuple[Condition, ...] = ("down", "wrong-content", "low-battery")


def condition_of(health: Health) -> Condition | None:
    """Which alert condition a health state is, if any."""
    if health.down:
        return "down"
    if health.state in ("wrong-content", "failing"):
        return "wrong-content"
    if health.state == "low-battery":
        return "low-battery"
    return None


@dataclass(frozen=True)
class AlertRules:
    """When to alert: how long each condition must last, and the quiet hours."""

    after: Mapping[Condition, timedelta] = field(
        default_factory=lambda: {
            "down": timedelta(0),
            "wrong-content": timedelta(minutes=10),
            "low-battery": timedelta(hours=1),
        }
    )
    quiet: tuple[time, time] | None = None  # local wall-clock [start, end); may span midnight
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Brussels"))

    def quiet_at(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in the quiet hours."""
        if self.quiet is None:
            return False
        start, end = self.quiet
        local = moment.astimezone(self.tz).time()
        return start <= local < end if start <= end else local >= start or local < end

    def quiet_ends(self, moment: datetime) -> datetime:
        """The end of the quiet hours that hold ``moment`` (``moment`` if not quiet)."""
        if self.quiet is None or not self.quiet_at(moment):
            return moment
        local = moment.astimezone(self.tz)
        end = local.replace(
            hour=self.quiet[1].hour, minute=self.quiet[1].minute, second=0, microsecond=0
        )
        if end <= local:
            end += timedelta(days=1)
        return end


@dataclass(frozen=True)
class Alert:
    """One edge of one condition on one device."""

    device: str
    kind: DeviceClass
    condition: Condition
    edge: Edge
    at: datetime  # when it was raised
    since: datetime  # when the condition began
    reason: str
    name: str = ""
    group: str = ""

    @property
    def key(self) -> str:
        """Stable identity: one alert per edge of one occurrence (de-duplication)."""
        return f"{self.device}/{self.condition}/{self.since.isoformat()}/{self.edge}"


@dataclass(frozen=True)
class OpenProblem:
    """A condition whose ``problem`` alert went out and whose recovery has not."""

    device: str
    condition: Condition
    since: datetime


class Alerter:
    """Turns a stream of fleet health into alerts, each edge once."""

    def __init__(self, rules: AlertRules, already_open: Iterable[OpenProblem] = ()) -> None:
        """Alert by ``rules``; ``already_open``: problems alerted before a restart (so a
        beacon still down is not announced again, and its recovery still is)."""
        self._rules = rules
        self._began: dict[tuple[str, Condition], datetime] = {}
        self._fired: set[tuple[str, Condition]] = set()
        self._last: dict[str, Health] = {}
        for item in already_open:
            self._began[(item.device, item.condition)] = item.since
            self._fired.add((item.device, item.condition))

    def observe(self, fleet: Iterable[Health], now: datetime) -> list[Alert]:
        """The alerts this look at the fleet raises (usually none)."""
        raised: list[Alert] = []
        for health in fleet:
            current = condition_of(health)
            self._last[health.device] = health
            for condition in CONDITIONS:
                key = (health.device, condition)
                if condition == current:
                    began = self._began.setdefault(key, now)
                    if key not in self._fired and now - began >= self._rules.after[condition]:
                        self._fired.add(key)
                        raised.append(self._alert(health, condition, "problem", now, began))
                elif key in self._began:
                    began = self._began.pop(key)
                    if key in self._fired:
                        self._fired.discard(key)
                        raised.append(self._alert(health, condition, "recovered", now, began))
        return raised

    def open_problems(self) -> list[OpenProblem]:
        """Problems alerted and not recovered (for the dashboard and a restart)."""
        return [OpenProblem(d, c, self._began[(d, c)]) for d, c in sorted(self._fired)]

    @staticmethod
    def _alert(
        health: Health, condition: Condition, edge: Edge, now: datetime, began: datetime
    ) -> Alert:
        reason = health.reason if edge == "problem" else f"{health.state}: {health.reason}"
        return Alert(
            health.device,
            health.kind,
            condition,
            edge,
            now,
            began,
            reason,
            health.name,
            health.group,
        )


def release(
    held: Sequence[Alert], now: datetime, rules: AlertRules
) -> tuple[list[Alert], list[Alert]]:
    """At the end of the quiet hours: (alerts to send now, alerts left to the digest).

    A problem that also recovered while it was quiet is news for the digest, not for a
    phone at 07:00; one still open is sent, and so is the recovery of a problem that was
    announced before the quiet hours began.
    """
    if rules.quiet_at(now):
        return [], []
    recovered = {(a.device, a.condition, a.since) for a in held if a.edge == "recovered"}
    problems = {(a.device, a.condition, a.since) for a in held if a.edge == "problem"}
    send: list[Alert] = []
    digest: list[Alert] = []
    for alert in held:
        both = (alert.device, alert.condition, alert.since) in recovered & problems
        (digest if both else send).append(alert)
    return send, digest
