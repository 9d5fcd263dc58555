"""Fleet health: per device a state and the reason for it. Pure.

What the drivers observe (a display's presence and acks, a beacon's last advertisement
and TLM battery, the robot's link) becomes one :class:`Health` per device, so staff see
*why* something is not right and alerts fire on the same judgement:

- ``offline``: a display said so (its last will) or the robot's link is down;
- ``stale``: not heard for longer than its class allows (a beacon's advertisements) — a
  dead or stolen beacon no longer stays green for ever;
- ``failing``: the last delivery to it failed (with the error);
- ``wrong-content``: it has not confirmed what it should show for longer than allowed;
- ``low-battery``: TLM says so (with a days-left estimate from the trend);
- ``online``: none of the above; ``unknown``: never heard at all.

Order matters: a device that is gone is reported gone, not "wrong content".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

DeviceClass = Literal["display", "beacon", "robot"]
State = Literal["online", "stale", "offline", "failing", "wrong-content", "low-battery", "unknown"]
#: The states an alert calls "down" (the device is not there).
DOWN: frozenset[State] = frozenset({"stale", "offline"})
#: Every state, best first (for sorting and for the dashboard's legend).
STATES: tuple[State, ...] = (
    "online",
    "low-battery",
    "wrong-content",
    "failing",
    "stale",
    "offline",
    "unknown",
)


@dataclass(frozen=True)
class FleetRules:
    """How long each kind of silence or disagreement is tolerated."""

    stale_after: dict[DeviceClass, timedelta] = field(
        default_factory=lambda: {
            "beacon": timedelta(minutes=10),
            "robot": timedelta(days=3650),  # its link says when it is gone
            "display": timedelta(days=3650),  # displays say offline themselves (last will)
        }
    )
    confirm_within: timedelta = timedelta(minutes=5)
    low_battery_percent: int = 20


@dataclass(frozen=True)
class Observation:
    """What the drivers know about one device right now."""

    device: str
    kind: DeviceClass
    group: str = ""
    name: str = ""
    last_seen: datetime | None = None  # last sign of life (advert, ack, state, event)
    online: bool | None = None  # a presence it announces itself (None: it does not)
    wanted: str | None = None  # what it should show
    confirmed: str | None = None  # what it last confirmed showing
    wanted_since: datetime | None = None  # since when it should show ``wanted``
    failed: str | None = None  # the last delivery error, if the last delivery failed
    battery_percent: int | None = None


@dataclass(frozen=True)
class Health:
    """One device's state, the reason in plain words, and what the dashboard shows."""

    device: str
    kind: DeviceClass
    state: State
    reason: str
    group: str = ""
    name: str = ""
    last_seen: datetime | None = None
    battery_percent: int | None = None
    days_left: float | None = None  # battery, from the trend (None: not enough data)
    # The reason again, for words in the reader's language (content/web/fleet.toml).
    reason_key: str = "ok"
    reason_args: tuple[tuple[str, str], ...] = ()

    def reason_in(self, words: dict[str, str]) -> str:
        """The reason with ``words[reason_key]`` (English :attr:`reason` if missing)."""
        template = words.get(self.reason_key)
        if template is None:
            return self.reason
        try:
            return template.format(**dict(self.reason_args))
        except (KeyError, IndexError, ValueError):
            return self.reason

    @property
    def down(self) -> bool:
        """Whether the device is not there (an alert's "down")."""
        return self.state in DOWN


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def assess(
    seen: Observation, now: datetime, rules: FleetRules, days_left: float | None = None
) -> Health:
    """The health of one device at ``now``."""

    def health(state: State, reason: str, key: str, **args: object) -> Health:
        return Health(
            seen.device,
            seen.kind,
            state,
            reason,
            seen.group,
            seen.name,
            seen.last_seen,
            seen.battery_percent,
            days_left,
            key,
            tuple((k, str(v)) for k, v in args.items()),
        )

    if seen.online is False:
        if seen.last_seen is None:
            return health("offline", "it reports offline", "offline")
        ago = _ago(now - seen.last_seen)
        return health(
            "offline", f"it reports offline (last sign {ago} ago)", "offline_since", ago=ago
        )
    if seen.last_seen is None and seen.online is None:
        return health("unknown", "never heard", "never")
    allowed = rules.stale_after[seen.kind]
    if seen.last_seen is not None and now - seen.last_seen > allowed:
        ago, limit = _ago(now - seen.last_seen), _ago(allowed)
        return health(
            "stale", f"not heard for {ago} (allowed {limit})", "stale", ago=ago, allowed=limit
        )
    if seen.failed:
        return health("failing", seen.failed, "failing", error=seen.failed)
    if (
        seen.wanted is not None
        and seen.wanted != seen.confirmed
        and seen.wanted_since is not None
        and now - seen.wanted_since > rules.confirm_within
    ):
        ago = _ago(now - seen.wanted_since)
        return health(
            "wrong-content",
            f"has not confirmed {seen.wanted!r} for {ago}"
            f" (shows {seen.confirmed or 'nothing confirmed'})",
            "unconfirmed",
            wanted=seen.wanted,
            ago=ago,
        )
    percent = seen.battery_percent
    if percent is not None and percent <= rules.low_battery_percent:
        if days_left is None:
            return health("low-battery", f"battery {percent} %", "battery", percent=percent)
        days = f"{days_left:.0f}"
        return health(
            "low-battery",
            f"battery {percent} %, about {days} days left",
            "battery_days",
            percent=percent,
            days=days,
        )
    return health("online", "ok", "ok")


class BatteryTrend:
    """Battery readings of one device over time, and the days left they point to.

    Readings are kept one per ``every`` at most (TLM frames repeat every few seconds)
    and for ``keep`` at most, so memory stays bounded whatever the uptime.
    """

    def __init__(
        self, every: timedelta = timedelta(hours=1), keep: timedelta = timedelta(days=30)
    ) -> None:
        """Sample at most once per ``every``; forget readings older than ``keep``."""
        self._every = every
        self._keep = keep
        self._samples: deque[tuple[datetime, int]] = deque()

    def add(self, at: datetime, percent: int) -> None:
        """Note a reading (ignored if the last kept one is more recent than ``every``)."""
        if self._samples and at - self._samples[-1][0] < self._every:
            return
        self._samples.append((at, percent))
        while self._samples and at - self._samples[0][0] > self._keep:
            self._samples.popleft()

    def days_left(self) -> float | None:
        """Days until empty at the fitted rate; None without a falling trend over a day."""
        return days_left(self._samples)


def days_left(samples: Iterable[tuple[datetime, int]]) -> float | None:
    """Least-squares fit of percent over time: days until it reaches 0, or None."""
    points = list(samples)
    if len(points) < 3 or points[-1][0] - points[0][0] < timedelta(days=1):
        return None
    origin = points[0][0]
    xs = [(at - origin).total_seconds() / 86_400 for at, _ in points]
    ys = [float(p) for _, p in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    if slope >= 0:
        return None  # not draining (or replaced): no estimate
    now_level = mean_y + slope * (xs[-1] - mean_x)
    return max(0.0, now_level / -slope)
