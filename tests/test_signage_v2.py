"""Signage protocol v2: a player that loses the broker keeps showing the right thing.

The payload carries the end of the *current window* (not of the series) and the plan of
the next 24 hours, so the reference display switches by itself; Onthaal says whether it
is there on a retained availability topic with a last will; a player reads only its own
topic. Run against mosquitto and the embedded broker, on the virtual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from beacons.content import Language, LocalizedContent
from beacons.outbox import Outbox
from beacons.signage import BrokerSettings, Signage
from beacons.signage_messages import (
    MAX_AHEAD,
    MAX_ITEMS,
    ContentMessage,
    next_turn,
    showing_at,
)
from clock import VirtualClock
from hw_sim.brokers import BrokerUnderTest
from hw_sim.journal import Journal
from hw_sim.signage import SimulatedDisplay, SimulatedDisplays
from scheduler.ahead import plan
from scheduler.dispatch import DeviceDefaults, Dispatcher
from scheduler.model import Daypart, Message, Recurrence, Targets
from scheduler.resolve import Device, Timeline
from scheduler.store import Store

BRUSSELS = ZoneInfo("Europe/Brussels")
SITE = "cityhall"
SCREEN = Device("hall-info", "display", "hall")
DEFAULT: dict[Language, LocalizedContent] = {"nl": LocalizedContent(title="Welkom in het stadhuis")}


def local(text: str) -> datetime:
    """A Brussels wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=BRUSSELS)


def mornings(ends: str | None = None, priority: int = 50, id: str = "loket") -> Message:
    """'Loket open' every weekday 08:30-12:00 from Monday 30 November 2026."""
    return Message(
        id=id,
        title=id,
        content={"nl": LocalizedContent(title=f"{id}: loket open tot 12 uur")},
        targets=Targets(everything=True),
        starts=local("2026-11-30 00:00"),
        ends=local(ends) if ends else None,
        recurrence=Recurrence(
            rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", dayparts=[Daypart.parse("08:30-12:00")]
        ),
        priority=priority,
        updated=datetime(2026, 11, 1, tzinfo=UTC),
    )


class Taken:
    """A display sink that keeps what the dispatcher hands it."""

    def __init__(self) -> None:
        self.last: dict[str, ContentMessage] = {}

    def push_many(self, messages: Mapping[str, ContentMessage]) -> None:
        self.last.update(messages)

    def on_delivery(self, callback: Callable[[Any], None]) -> None:
        pass


async def payload_at(
    moment: datetime, messages: list[Message], protocol: int = 2, **options: Any
) -> ContentMessage:
    """What the dispatcher publishes for the hall screen at ``moment``."""
    async with VirtualClock(moment, settle=0.001) as clock:
        store = Store(":memory:")
        for item in messages:
            store.add(item, "an", clock.now())
        sink = Taken()
        defaults = {SCREEN.id: DeviceDefaults(content=DEFAULT, protocol=protocol)}  # type: ignore[arg-type]
        dispatcher = Dispatcher(
            store, [SCREEN], defaults, BRUSSELS, clock, displays=sink, **options
        )
        runner = asyncio.create_task(dispatcher.run())
        try:
            for _ in range(50):
                await asyncio.sleep(0)
                if SCREEN.id in sink.last:
                    break
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        return sink.last[SCREEN.id]


async def test_valid_until_is_the_end_of_this_window_not_of_the_series() -> None:
    sent = await payload_at(local("2026-12-01 11:00"), [mornings()])  # Tuesday
    assert sent.content_id.startswith("loket")
    assert sent.valid_until == local("2026-12-01 12:00")  # a series without end has one now
    # what comes next: tomorrow's window, then the default in between
    assert [(s.starts, s.ends) for s in sent.ahead or []] == [
        (local("2026-12-02 08:30"), local("2026-12-02 12:00"))
    ]
    assert sent.default is not None and sent.default.content["nl"].title == DEFAULT["nl"].title
    assert sent.planned_until is not None and sent.planned_until <= local("2026-12-02 11:00")
    # the player's own decisions follow from it
    assert showing_at(sent, local("2026-12-01 11:59")) == sent.content_id
    assert showing_at(sent, local("2026-12-01 12:00")) == sent.default.content_id
    assert showing_at(sent, local("2026-12-02 09:00")) == sent.content_id
    assert next_turn(sent, local("2026-12-01 11:00")) == local("2026-12-01 12:00")


async def test_a_higher_priority_notice_later_today_is_in_the_plan() -> None:
    later = Message(
        id="storing",
        title="storing",
        content={"nl": LocalizedContent(title="Storing aan de kassa")},
        targets=Targets(everything=True),
        starts=local("2026-12-01 11:00"),
        ends=local("2026-12-01 11:30"),
        priority=90,
        updated=datetime(2026, 11, 1, tzinfo=UTC),
    )
    sent = await payload_at(local("2026-12-01 10:00"), [mornings(), later])
    assert sent.valid_until == local("2026-12-01 11:00")  # it gives way at 11:00
    slots = [
        (s.starts.astimezone(BRUSSELS).strftime("%H:%M"), s.content_id) for s in sent.ahead or []
    ]
    assert slots[:2] == [("11:00", later.content_id), ("11:30", sent.content_id)]
    assert sent.items is not None and later.content_id in sent.items
    assert showing_at(sent, local("2026-12-01 11:10")) == later.content_id
    assert showing_at(sent, local("2026-12-01 11:45")) == sent.content_id


async def test_a_player_made_for_version_1_still_gets_version_1() -> None:
    sent = await payload_at(local("2026-12-01 11:00"), [mornings()], protocol=1)
    wire = sent.to_json()
    assert b'"schema":1' in wire
    assert b"ahead" not in wire and b"default" not in wire
    assert sent.valid_until == local("2026-12-01 12:00")  # the fix reaches v1 players too
    ContentMessage.model_validate_json(wire)


async def test_the_look_ahead_stays_bounded_whatever_the_schedule() -> None:
    # 40 notices taking turns every minute: hundreds of changes in 24 hours
    many = [mornings(id=f"beurt-{n:02d}") for n in range(40)]
    sent = await payload_at(local("2026-12-01 08:30"), many, ties="rotate", rotate_every=60.0)
    assert sent.ahead is not None and sent.items is not None
    assert len(sent.ahead) <= MAX_AHEAD and len(sent.items) <= MAX_ITEMS
    assert sent.planned_until is not None
    assert sent.planned_until < local("2026-12-01 12:00")  # it says where its knowledge ends
    assert showing_at(sent, sent.planned_until) == sent.default.content_id  # type: ignore[union-attr]
    assert len(sent.to_json()) < 64 * 1024


def test_the_plan_resolves_a_bounded_number_of_instants() -> None:
    many = [mornings(id=f"beurt-{n:02d}") for n in range(40)]
    now = local("2026-12-01 08:30")
    timeline = Timeline(many, BRUSSELS, now - timedelta(days=1), now + timedelta(days=8))
    started = time.perf_counter()
    found = plan(timeline, [SCREEN], now, ties="rotate", rotate_every=60.0, max_points=200)
    assert len(found.stretches[SCREEN.id]) <= 200
    assert found.until[SCREEN.id] == local("2026-12-01 08:30") + timedelta(minutes=200)
    assert time.perf_counter() - started < 5  # a sanity bound, not a benchmark


# -- against a real broker ---------------------------------------------------------------


async def until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Wait (in real time) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def building(
    broker: BrokerUnderTest, tmp_path: Path, start: datetime
) -> AsyncIterator[tuple[VirtualClock, Journal, SimulatedDisplay, Signage, Store]]:
    """One screen, the signage driver and the dispatcher, on the virtual clock."""
    settings = BrokerSettings(host=broker.host, port=broker.port, keepalive=5, timeout=2.0)
    async with VirtualClock(start, settle=0.005) as clock:
        journal = Journal(clock)
        screens = SimulatedDisplays([SCREEN.id], SITE, settings, clock, journal)
        driver = Signage(
            settings, SITE, [SCREEN.id], Outbox(tmp_path / "outbox.db"), clock,
            ack_timeout=5.0, backoff_initial=0.1, backoff_max=1.0,
        )  # fmt: skip
        store = Store(tmp_path / "schedule.sqlite")
        dispatcher = Dispatcher(
            store, [SCREEN], {SCREEN.id: DeviceDefaults(content=DEFAULT)}, BRUSSELS, clock,
            displays=driver,
        )  # fmt: skip
        tasks = [asyncio.create_task(t) for t in (screens.run(), driver.run(), dispatcher.run())]
        try:
            yield clock, journal, screens[SCREEN.id], driver, store
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_display_that_loses_the_broker_at_1159_shows_its_default_at_noon(
    broker: BrokerUnderTest, tmp_path: Path
) -> None:
    async with building(broker, tmp_path, local("2026-12-01 11:50")) as (
        clock, journal, screen, driver, store,
    ):  # fmt: skip
        store.add(mornings(), "an", clock.now())
        # Real-time waits hold simulated time: only the steps below move it.
        with clock.held():
            await until(lambda: (screen.on_screen or "").startswith("loket"), what="shown")
            await until(lambda: driver.states()[SCREEN.id].acknowledged == screen.on_screen)
            assert screen.onthaal_online is True  # Onthaal's retained availability
        await clock.sleep_until(local("2026-12-01 11:59"))
        with clock.held():
            await broker.stop()  # the broker (and so Onthaal) is gone for the display
            await until(lambda: not screen.connected.is_set(), what="the display noticed")
        await clock.sleep_until(local("2026-12-01 12:00:30"))
        assert (screen.on_screen or "").startswith("default")
        after = [
            e
            for e in journal.since(0)
            if datetime.fromisoformat(e["t"]) >= local("2026-12-01 11:59")
            and e["action"] in ("show", "online")
        ]
        switched = after[0]  # the first thing it did after losing the broker
        assert switched["action"] == "show" and switched["by"] == "plan"  # by itself
        assert datetime.fromisoformat(switched["t"]) == local("2026-12-01 12:00")
        assert switched["title"] == DEFAULT["nl"].title


async def test_players_learn_when_onthaal_goes_and_comes_back(
    broker: BrokerUnderTest, tmp_path: Path
) -> None:
    settings = BrokerSettings(host=broker.host, port=broker.port, keepalive=5, timeout=2.0)
    async with VirtualClock(local("2026-12-01 09:00"), settle=0.005) as clock:
        journal = Journal(clock)
        screens = SimulatedDisplays([SCREEN.id], SITE, settings, clock, journal)
        screen = screens[SCREEN.id]
        running = asyncio.create_task(screens.run())

        def onthaal() -> asyncio.Task[None]:
            driver = Signage(settings, SITE, [SCREEN.id], Outbox(tmp_path / "o.db"), clock)
            return asyncio.create_task(driver.run())

        try:
            task = onthaal()
            await until(lambda: screen.onthaal_online is True, what="online")
            task.cancel()  # a stop says "offline" itself (a will covers only a broken link)
            await asyncio.gather(task, return_exceptions=True)
            await until(lambda: screen.onthaal_online is False, what="offline after the stop")
            task = onthaal()
            await until(lambda: screen.onthaal_online is True, what="back")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        said = [e["state"] for e in journal.since(0) if e.get("action") == "onthaal"]
        assert said[:3] == ["online", "offline", "online"]


async def test_the_reference_display_never_shows_another_screens_content(
    tmp_path: Path,
) -> None:
    async with VirtualClock(local("2026-12-01 09:00"), settle=0.001) as clock:
        journal = Journal(clock)
        screen = SimulatedDisplay(SCREEN.id, SITE, BrokerSettings(), clock, journal)
        foreign = ContentMessage(content_id="other.1", content={"nl": LocalizedContent(title="X")})

        class Messages:
            """What a faulty broker might hand over: content for another display."""

            def __aiter__(self) -> Messages:
                self.left = [("onthaal/cityhall/signage/waiting-room-1/content", foreign)]
                return self

            async def __anext__(self) -> SimpleNamespace:
                if not self.left:
                    raise StopAsyncIteration
                topic, payload = self.left.pop()
                return SimpleNamespace(topic=topic, payload=payload.to_json())

        await screen._receive(SimpleNamespace(messages=Messages()))  # type: ignore[arg-type]
        assert screen.on_screen is None and screen.shown == []
        assert [e["action"] for e in journal.since(0)] == ["ignored"]


async def test_an_emergency_goes_out_without_waiting_for_a_plan_and_holds_until_its_end() -> None:
    from scheduler.model import Kind

    fire = Message(
        id="brand",
        title="Brand",
        content={"nl": LocalizedContent(title="Verlaat het gebouw")},
        targets=Targets(everything=True),
        starts=local("2026-12-01 10:55"),
        ends=local("2026-12-01 11:25"),
        kind=Kind.EMERGENCY,
        priority=100,
        updated=datetime(2026, 11, 1, tzinfo=UTC),
    )
    sent = await payload_at(local("2026-12-01 11:00"), [mornings(), fire])
    assert sent.emergency and sent.content_id.startswith("brand")
    assert sent.ahead == [] and sent.default is not None  # no plan: nothing to wait for
    assert showing_at(sent, local("2026-12-01 11:20")) == sent.content_id
    assert showing_at(sent, local("2026-12-01 11:30")) == sent.default.content_id
