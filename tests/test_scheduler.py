"""The scheduler on the virtual clock: resolution, DST, emergencies, restarts, retries."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from beacons.content import Content, LocalizedContent
from beacons.signage_messages import ContentMessage
from clock import VirtualClock
from scheduler.dispatch import DeviceDefaults, Dispatcher
from scheduler.model import Daypart, Kind, Message, Recurrence, Targets, emergency_notice
from scheduler.recurrence import describe
from scheduler.resolve import Device, Timeline, resolve
from scheduler.store import MIGRATIONS, Store
from scheduler.validate import problems

BRUSSELS = ZoneInfo("Europe/Brussels")
DEVICES = [
    Device("hall-entrance", "display", "hall"),
    Device("hall-info", "display", "hall"),
    Device("waiting-room-1", "display", "waiting-room"),
    Device("hall-door", "beacon", "hall"),
]
DEFAULTS = {
    "hall-entrance": DeviceDefaults(content={"nl": LocalizedContent(title="Welkom")}),
    "hall-info": DeviceDefaults(content={"nl": LocalizedContent(title="Openingsuren")}),
    "waiting-room-1": DeviceDefaults(content={"nl": LocalizedContent(title="Burgerzaken")}),
    "hall-door": DeviceDefaults(url="https://aalter.be/", beacon_mode="url"),
}


def local(text: str) -> datetime:
    """A Brussels wall-clock time, e.g. ``"2026-10-24 09:00"``."""
    return datetime.fromisoformat(text).replace(tzinfo=BRUSSELS)


def message(
    id: str,
    starts: str,
    *,
    ends: str | None = None,
    rule: str | None = None,
    parts: tuple[str, ...] = (),
    priority: int = 50,
    kind: Kind = Kind.INFO,
    link: str | None = None,
    **targets: Any,
) -> Message:
    return Message(
        id=id,
        title=id,
        content={"nl": LocalizedContent(title=id, link=link), "en": LocalizedContent(title=id)},
        targets=Targets(**targets),
        starts=local(starts),
        ends=local(ends) if ends else None,
        recurrence=Recurrence(rrule=rule, dayparts=[Daypart.parse(p) for p in parts])
        if rule
        else None,
        priority=priority,
        kind=kind,
        updated=datetime(2026, 10, 1, tzinfo=UTC),
    )


# A week across the end of summer time (Sunday 25 October 2026, 03:00 -> 02:00).
WEEK = [
    message(
        "mornings",
        "2026-10-19 00:00",
        rule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        parts=("08:30-12:00",),
        priority=50,
        groups=["hall"],
    ),
    message(
        "coffee",
        "2026-10-19 00:00",
        rule="FREQ=DAILY",
        parts=("09:00-10:00",),
        priority=70,
        displays=["hall-info"],
    ),
    message("market", "2026-10-23 14:00", ends="2026-10-26 10:00", priority=60, everything=True),
]


def shown_at(at: datetime, messages: list[Message] = WEEK) -> dict[str, str]:
    timeline = Timeline(messages, BRUSSELS, at - timedelta(days=2), at + timedelta(days=2))
    return {d: s.content_id for d, s in resolve(timeline, DEVICES, at).items()}


def test_a_week_of_overlapping_schedules_changes_exactly_when_expected() -> None:
    start, end = local("2026-10-22 00:00"), local("2026-10-29 00:00")
    timeline = Timeline(WEEK, BRUSSELS, start - timedelta(days=1), end)
    changes = []
    moment = timeline.next_change(start)
    while moment is not None and moment < end:
        changes.append(moment.astimezone(BRUSSELS).strftime("%a %d %H:%M"))
        moment = timeline.next_change(moment)
    expected = []
    for day in ("Thu 22", "Fri 23", "Sat 24", "Sun 25", "Mon 26", "Tue 27", "Wed 28"):
        weekday = day[:3] not in ("Sat", "Sun")
        points = ["09:00", "10:00"] + (["08:30", "12:00"] if weekday else [])
        if day == "Fri 23":
            points.append("14:00")
        expected += [f"{day} {p}" for p in sorted(set(points))]
    assert changes == expected  # coffee's 09:00 stays 09:00 local across the DST change


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Thursday: mornings on the hall, coffee on hall-info from 9 to 10
        ("2026-10-22 08:00", ("default", "default", "default", "default")),
        ("2026-10-22 08:45", ("mornings.v1", "mornings.v1", "default", "mornings.v1")),
        ("2026-10-22 09:30", ("mornings.v1", "coffee.v1", "default", "mornings.v1")),
        ("2026-10-22 12:00", ("default", "default", "default", "default")),
        # Friday afternoon: the market (everything) starts
        ("2026-10-23 14:00", ("market.v1", "market.v1", "market.v1", "market.v1")),
        # Saturday (summer time) and Sunday (winter time): coffee at 09:00 local both days
        ("2026-10-24 09:00", ("market.v1", "coffee.v1", "market.v1", "market.v1")),
        ("2026-10-25 08:59", ("market.v1", "market.v1", "market.v1", "market.v1")),
        ("2026-10-25 09:00", ("market.v1", "coffee.v1", "market.v1", "market.v1")),
        # Monday: mornings (50) lose to the market (60) until it ends at 10:00
        ("2026-10-26 09:45", ("market.v1", "coffee.v1", "market.v1", "market.v1")),
        ("2026-10-26 10:00", ("mornings.v1", "mornings.v1", "default", "mornings.v1")),
    ],
)
def test_resolution_at_the_change_points(at: str, expected: tuple[str, ...]) -> None:
    assert tuple(shown_at(local(at)).values()) == expected


def test_the_dst_change_keeps_local_time_not_utc() -> None:
    timeline = Timeline(WEEK, BRUSSELS, local("2026-10-23 00:00"), local("2026-10-27 00:00"))
    saturday = timeline.next_change(local("2026-10-24 08:00"))
    monday = timeline.next_change(local("2026-10-26 07:00"))
    assert saturday is not None and monday is not None
    assert saturday.astimezone(UTC).hour == 7  # 09:00 CEST
    assert monday.astimezone(UTC).hour == 7  # 08:30 CET
    assert monday.astimezone(BRUSSELS).strftime("%H:%M") == "08:30"


def test_ties_pick_the_newest_or_rotate() -> None:
    older = message("older", "2026-10-22 00:00", everything=True)
    newer = message("newer", "2026-10-22 00:00", everything=True).model_copy(
        update={"updated": datetime(2026, 10, 2, tzinfo=UTC)}
    )
    at = local("2026-10-22 10:00")
    timeline = Timeline([older, newer], BRUSSELS, at - timedelta(days=1), at + timedelta(days=1))
    assert resolve(timeline, DEVICES, at)["hall-info"].content_id == "newer.v1"
    turns = {
        resolve(timeline, DEVICES, at + timedelta(minutes=m), ties="rotate")["hall-info"].content_id
        for m in range(4)
    }
    assert turns == {"older.v1", "newer.v1"}


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be between 1 and 1000"),  # dateutil: for ever
        ("FREQ=SECONDLY", "FREQ must be one of"),  # minutes of expansion, GBs
        ("FREQ=MINUTELY", "FREQ must be one of"),
        ("FREQ=DAILY;BYHOUR=8", "BYHOUR is not allowed"),
        ("FREQ=DAILY;COUNT=5;UNTIL=20270101T000000", "COUNT or UNTIL, not both"),
        ("FREQ=DAILY;COUNT=100000000", "COUNT must be between 1 and 10000"),
    ],
)
def test_rules_that_cost_too_much_or_make_no_sense_are_refused_at_once(
    rule: str, reason: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(ValidationError, match=reason):
        message("x", "2026-10-22 10:00", rule=rule, parts=("09:00-10:00",), everything=True)
    assert time.perf_counter() - started < 1.0, "refused by reading the rule, not expanding it"


def test_a_message_ending_far_away_is_judged_on_a_bounded_horizon() -> None:
    far = message(
        "far", "2026-10-22 00:00", ends="2099-12-31 00:00",
        rule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", parts=("09:00-10:00",), everything=True,
    )  # fmt: skip
    started = time.perf_counter()
    assert not far.fires(ZoneInfo("Europe/Brussels"))
    assert time.perf_counter() - started < 1.0


def test_bad_messages_are_refused_with_their_reason() -> None:
    with pytest.raises(ValidationError, match="is not after starts"):
        message("x", "2026-10-22 10:00", ends="2026-10-22 09:00", everything=True)
    with pytest.raises(ValidationError, match="FREQ must be one of DAILY"):
        message(
            "x", "2026-10-22 10:00", rule="FREQ=SOMETIMES", parts=("09:00-10:00",), everything=True
        )
    with pytest.raises(ValidationError, match="not a valid RRULE"):
        message(
            "x", "2026-10-22 10:00", rule="FREQ=DAILY;BYDAY=XX", parts=("09:00-10:00",),
            everything=True,
        )  # fmt: skip
    with pytest.raises(ValidationError, match=r"lasts no time"):
        Daypart.parse("12:00-12:00")
    with pytest.raises(ValidationError, match="at least one target"):
        message("x", "2026-10-22 10:00")
    never = message(
        "never",
        "2026-10-22 00:00",
        ends="2026-10-24 00:00",
        rule="FREQ=WEEKLY;BYDAY=SU",
        parts=("09:00-10:00",),
        everything=True,
    )
    long_link = message(
        "long",
        "2026-10-22 00:00",
        groups=["hall"],
        link="https://www.aalter.be/burgerzaken/identiteitskaart",
    )
    ghost = message("ghost", "2026-10-22 00:00", displays=["attic"])
    assert problems(never, DEVICES, {"hall-door"}, BRUSSELS) == [
        "recurrence: the rule never falls between starts and ends"
    ]
    [too_long] = problems(long_link, DEVICES, {"hall-door"}, BRUSSELS)
    assert too_long.startswith("content.nl.link: too long for the BLE beacons it targets")
    assert "bytes too long" in too_long
    [unknown] = problems(ghost, DEVICES, {"hall-door"}, BRUSSELS)
    assert unknown.startswith("targets: unknown display 'attic'")
    assert describe(WEEK[0].recurrence, "en") == "on weekdays from 8.30 to 12.00"


def test_every_change_is_audited_and_an_old_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "schedule.sqlite"
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(f"BEGIN; {MIGRATIONS[0]} PRAGMA user_version = 1; COMMIT;")
    old.execute(
        "INSERT INTO messages (id, body) VALUES (?, ?)", ("market", WEEK[2].model_dump_json())
    )
    old.close()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    assert [m.id for m in store.messages()] == ["market"]
    at = datetime(2026, 10, 20, 8, tzinfo=UTC)
    store.add(WEEK[0], "an", at)
    edited = store.update(WEEK[0].model_copy(update={"priority": 80}), "bert", at)
    store.delete("market", "an", at)
    assert edited.version == 2
    trail = [(e.message_id, e.actor, e.action) for e in store.audit()]
    assert trail == [
        ("mornings", "an", "create"),
        ("mornings", "bert", "update"),
        ("market", "an", "delete"),
    ]
    assert store.audit("mornings")[1].before["priority"] == 50  # type: ignore[index]
    store.close()
    reopened = Store(path)
    assert [m.id for m in reopened.messages()] == ["mornings"]


class Screens:
    """Records what the dispatcher hands to the signage driver."""

    def __init__(self) -> None:
        self.pushes: list[dict[str, str]] = []
        self.shown: dict[str, str] = {}
        self._listeners: list[Callable[[Any], None]] = []

    def push_many(self, messages: Mapping[str, ContentMessage]) -> None:
        self.pushes.append({d: m.content_id for d, m in messages.items()})
        self.shown.update({d: m.content_id for d, m in messages.items()})

    def on_delivery(self, callback: Callable[[Any], None]) -> None:
        self._listeners.append(callback)


class Beacons:
    """Records beacon pushes; fails the first ``failures`` attempts of each."""

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}
        self.feed: dict[str, Content] = {}

    async def push_urls(self, wanted: Mapping[str, str]) -> dict[str, Any]:
        from beacons.ble import PushResult

        self.urls.update(wanted)
        return {b: PushResult(b, ok=True, changed=True, attempts=1) for b in wanted}

    def set_feed_content(self, beacon: str, content: Content) -> None:
        self.feed[beacon] = content


async def settle(clock: VirtualClock, until: datetime) -> None:
    """Let the dispatcher run on the virtual clock up to ``until``."""
    await clock.sleep_until(until)
    for _ in range(20):
        await asyncio.sleep(0)


async def test_an_emergency_overrides_everything_and_the_previous_content_returns(
    tmp_path: Path,
) -> None:
    async with VirtualClock(local("2026-10-22 08:00"), settle=0.002) as clock:
        store = Store(tmp_path / "s.sqlite")
        store.add(WEEK[0], "an", clock.now())
        screens, beacons = Screens(), Beacons()
        dispatcher = Dispatcher(
            store, DEVICES, DEFAULTS, BRUSSELS, clock, displays=screens, beacons=beacons
        )
        runner = asyncio.create_task(dispatcher.run())
        try:
            await settle(clock, local("2026-10-22 09:00"))
            assert screens.shown["hall-info"] == "mornings.v1"
            store.add(
                message(
                    "fire",
                    "2026-10-22 09:00",
                    kind=Kind.EMERGENCY,
                    priority=0,
                    everything=True,
                    link="https://aalter.be/nood",
                ),
                "admin",
                clock.now(),
            )
            await settle(clock, local("2026-10-22 09:01"))
            assert screens.pushes[-1] == dict.fromkeys(
                ["hall-entrance", "hall-info", "waiting-room-1"], "fire.v1"
            ), "an emergency beats priority 50, whatever its own priority"
            assert beacons.urls["hall-door"] == "https://aalter.be/nood"
            store.delete("fire", "admin", clock.now())
            await settle(clock, local("2026-10-22 09:02"))
            assert screens.shown["hall-info"] == "mornings.v1"
            assert screens.shown["waiting-room-1"].startswith("default.")
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


async def test_the_dispatcher_sleeps_until_the_next_change_without_polling(
    tmp_path: Path,
) -> None:
    async with VirtualClock(local("2026-10-22 00:00"), settle=0.002) as clock:
        store = Store(tmp_path / "s.sqlite")
        for item in WEEK:
            store.add(item, "an", clock.now())
        dispatcher = Dispatcher(
            store, DEVICES, DEFAULTS, BRUSSELS, clock, displays=Screens(), beacons=Beacons()
        )
        runner = asyncio.create_task(dispatcher.run())
        try:
            await settle(clock, local("2026-10-29 00:00"))
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
    # one pass at the start and one per change point: 25 in this week (see above),
    # Sunday's 09:00 included although the clocks went back that night
    assert dispatcher.passes == 26


async def test_a_restart_mid_week_delivers_what_fell_due_while_it_was_down(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite"
    async with VirtualClock(local("2026-10-22 08:00"), settle=0.002) as clock:
        store = Store(path)
        for item in WEEK:
            store.add(item, "an", clock.now())
        first = Screens()
        dispatcher = Dispatcher(store, DEVICES, DEFAULTS, BRUSSELS, clock, displays=first)
        runner = asyncio.create_task(dispatcher.run())
        await settle(clock, local("2026-10-22 08:45"))
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        store.close()
        assert first.shown["hall-info"] == "mornings.v1"

        await clock.sleep_until(local("2026-10-23 15:00"))  # down for a day: market began
        again = Screens()
        restarted = Dispatcher(Store(path), DEVICES, DEFAULTS, BRUSSELS, clock, displays=again)
        runner = asyncio.create_task(restarted.run())
        try:
            await settle(clock, local("2026-10-23 15:01"))
            assert again.shown == dict.fromkeys(
                ["hall-entrance", "hall-info", "waiting-room-1"], "market.v1"
            )
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


async def test_a_delivery_that_fails_twice_then_succeeds_is_recorded_so(
    tmp_path: Path,
) -> None:
    from beacons.ble import BeaconSpec, BleBeacons, Settings
    from beacons.frames import encode_eddystone_url
    from hw_sim.ble import BeaconField, Radio, beacon_address
    from hw_sim.journal import Journal

    async with VirtualClock(local("2026-10-22 08:00"), settle=0.003) as clock:
        field = BeaconField(clock, Journal(clock))
        field.add(
            "hall-door",
            beacon_address(0),
            encode_eddystone_url("https://aalter.be/"),
            radio=Radio(interval_ms=20),
        )
        async with field:
            driver = BleBeacons(
                [BeaconSpec("hall-door", address=beacon_address(0))],
                clock,
                Settings(attempts=3, connect_timeout=1, verify_timeout=2, backoff_initial=0.1),
            )
            driver.attach(*field.backend())
            field.beacons["hall-door"].fail_writes = 2
            store = Store(tmp_path / "s.sqlite")
            store.add(
                message(
                    "kerst",
                    "2026-10-22 09:00",
                    beacons=["hall-door"],
                    link="https://aalter.be/kerst",
                ),
                "an",
                clock.now(),
            )
            dispatcher = Dispatcher(store, DEVICES, DEFAULTS, BRUSSELS, clock, beacons=driver)
            async with driver.scanning():
                runner = asyncio.create_task(dispatcher.run())
                try:
                    await clock.sleep_until(local("2026-10-22 09:00"))
                    deadline = asyncio.get_running_loop().time() + 15
                    while not [
                        d
                        for d in store.deliveries("hall-door")
                        if d.ok and d.content_id == "kerst.v1"
                    ]:
                        assert asyncio.get_running_loop().time() < deadline
                        await asyncio.sleep(0.02)
                finally:
                    runner.cancel()
                    await asyncio.gather(runner, return_exceptions=True)
    delivered = [d for d in store.deliveries("hall-door") if d.content_id == "kerst.v1"]
    assert [(d.ok, d.attempts) for d in delivered] == [(True, 3)]
    assert dispatcher.status()["hall-door"].delivered == "kerst.v1"
    assert field.beacons["hall-door"].frame == encode_eddystone_url("https://aalter.be/kerst")


class OutboxScreens(Screens):
    """Displays behind a real outbox file, as the signage driver stores content."""

    def __init__(self, path: Path) -> None:
        from beacons.outbox import Outbox

        super().__init__()
        self.outbox = Outbox(path, busy_timeout=0.05)

    def push_many(self, messages: Mapping[str, ContentMessage]) -> None:
        self.outbox.accept(((d, m.content_id, m.to_json()) for d, m in messages.items()),
                           datetime.now(UTC))  # fmt: skip
        super().push_many(messages)


async def test_content_the_outbox_could_not_take_is_retried_and_reported_not_lost(
    tmp_path: Path,
) -> None:
    """#20 (H7): with the outbox locked by another program, the dispatcher used to mark
    the content as out, so it was never sent until a restart. It now keeps trying, says
    why in the device's status and in its health, and delivers once the lock is gone."""

    async with VirtualClock(local("2026-10-22 08:00"), settle=0.002) as clock:
        store = Store(tmp_path / "s.sqlite")
        screens = OutboxScreens(tmp_path / "outbox.sqlite")
        dispatcher = Dispatcher(store, DEVICES, DEFAULTS, BRUSSELS, clock, displays=screens)
        runner = asyncio.create_task(dispatcher.run())
        try:
            await settle(clock, local("2026-10-22 08:01"))
            holder = sqlite3.connect(tmp_path / "outbox.sqlite", isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")  # another program holds the outbox
            store.add(WEEK[0], "an", clock.now())  # mornings, from 08:30
            await settle(clock, local("2026-10-22 08:45"))
            status = dispatcher.status()["hall-info"]
            assert status.wanted == "mornings.v1" and status.delivered != "mornings.v1"
            assert status.failed is not None and "locked" in status.failed
            assert "display(s) waiting" in (dispatcher.problem() or "")
            holder.execute("ROLLBACK")
            holder.close()
            await settle(clock, local("2026-10-22 08:47"))  # the back-off is at most 60 s
            assert screens.shown["hall-info"] == "mornings.v1"
            rows = screens.outbox._db.execute(
                "SELECT content_id FROM outbox WHERE display = 'hall-info'"
            ).fetchall()
            assert ("mornings.v1",) in rows
            assert dispatcher.problem() is None and dispatcher.status()["hall-info"].failed is None
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


async def _until(condition: Callable[[], bool], seconds: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _frame_becomes(field: Any, beacon: str, frame: bytes) -> None:
    await _until(lambda: field.beacons[beacon].frame == frame)


async def test_a_link_beacon_advertises_the_emergency_link_and_then_its_own_again(
    tmp_path: Path,
) -> None:
    """#22: a link beacon kept its usual URL during an emergency while staff were told it
    showed the emergency. Over Bumble beacons: it switches, and back."""
    from beacons.ble import BeaconSpec, BleBeacons, Settings
    from beacons.frames import encode_eddystone_url
    from hw_sim.ble import BeaconField, Radio, beacon_address
    from hw_sim.journal import Journal

    async with VirtualClock(local("2026-10-22 08:00"), settle=0.003) as clock:
        field = BeaconField(clock, Journal(clock))
        field.add("hall-door", beacon_address(0), encode_eddystone_url("https://aalter.be/"),
                  radio=Radio(interval_ms=20))  # fmt: skip
        async with field:
            driver = BleBeacons(
                [BeaconSpec("hall-door", address=beacon_address(0))],
                clock,
                Settings(attempts=3, connect_timeout=1, verify_timeout=2, backoff_initial=0.1),
            )
            driver.attach(*field.backend())
            store = Store(tmp_path / "s.sqlite")
            dispatcher = Dispatcher(
                store, DEVICES, DEFAULTS, BRUSSELS, clock, beacons=driver,
                emergency_url="https://aalter.be/nood",
            )  # fmt: skip
            async with driver.scanning():
                runner = asyncio.create_task(dispatcher.run())
                try:
                    notice = emergency_notice(
                        {"nl": LocalizedContent(title="Evacuatie")},
                        Targets(everything=True),
                        local("2026-10-22 08:00"),
                        BRUSSELS,
                    )
                    store.add(notice, "desk", clock.now())
                    await _frame_becomes(
                        field, "hall-door", encode_eddystone_url("https://aalter.be/nood")
                    )
                    await _until(
                        lambda: dispatcher.status()["hall-door"].delivered == notice.content_id
                    )
                    store.end_emergencies("desk", clock.now())
                    await _frame_becomes(
                        field, "hall-door", encode_eddystone_url("https://aalter.be/")
                    )
                finally:
                    runner.cancel()
                    await asyncio.gather(runner, return_exceptions=True)


async def test_without_an_emergency_link_a_link_beacon_says_it_cannot_show_it(
    tmp_path: Path,
) -> None:
    async with VirtualClock(local("2026-10-22 08:00")) as clock:
        store = Store(tmp_path / "s.sqlite")
        dispatcher = Dispatcher(
            store, DEVICES, DEFAULTS, BRUSSELS, clock, displays=Screens(), beacons=Beacons()
        )
        notice = emergency_notice(
            {"nl": LocalizedContent(title="Evacuatie")}, Targets(everything=True),
            local("2026-10-22 08:00"), BRUSSELS,
        )  # fmt: skip
        store.add(notice, "desk", clock.now())
        runner = asyncio.create_task(dispatcher.run())
        try:
            await _until(lambda: dispatcher.status()["hall-door"].failed is not None)
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        door = dispatcher.status()["hall-door"]
        assert "emergency_url" in (door.failed or "")
        assert door.delivered != notice.content_id, "never claimed"
        assert [m.id for m in dispatcher.emergencies] == [notice.id]
