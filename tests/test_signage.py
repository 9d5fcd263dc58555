"""Info screens over MQTT: the same suite against mosquitto and the embedded broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest

from beacons.content import LocalizedContent
from beacons.outbox import Outbox
from beacons.signage import BrokerSettings, Signage, UnknownDisplay
from beacons.signage_messages import ContentMessage
from clock import VirtualClock
from hw_sim.brokers import BrokerUnderTest
from hw_sim.journal import Journal
from hw_sim.signage import SimulatedDisplays

SITE = "cityhall"
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def content(content_id: str, title: str = "Openingsuren") -> ContentMessage:
    """A small bilingual message."""
    return ContentMessage(
        content_id=content_id,
        content={
            "nl": LocalizedContent(title=title, body="Vandaag open tot 12:00."),
            "en": LocalizedContent(title="Opening hours", body="Open until 12:00 today."),
        },
    )


@dataclass
class Rig:
    """A broker, a clock, simulated displays and the driver, wired together."""

    broker: BrokerUnderTest
    settings: BrokerSettings
    clock: VirtualClock
    journal: Journal
    screens: SimulatedDisplays
    outbox_path: Path
    driver: Signage
    tasks: dict[str, asyncio.Task[None]]

    def start_driver(self) -> None:
        """(Re)start the driver on the same outbox file, as a restarted Onthaal would."""
        self.driver = Signage(
            self.settings,
            SITE,
            list(self.screens.screens),
            Outbox(self.outbox_path),
            self.clock,
            ack_timeout=5.0,
            backoff_initial=0.1,
            backoff_max=1.0,
        )
        self.tasks["driver"] = asyncio.create_task(self.driver.run())

    async def stop_driver(self) -> None:
        """Cancel the driver (an Onthaal crash or restart)."""
        task = self.tasks.pop("driver")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def shown(self, display: str) -> list[str]:
        """Content ids the display rendered, in order."""
        return self.screens[display].shown


async def until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Wait (in real time) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def rig(broker: BrokerUnderTest, tmp_path: Path, displays: int) -> AsyncIterator[Rig]:
    """Displays and the driver against ``broker``."""
    settings = BrokerSettings(host=broker.host, port=broker.port, keepalive=5, timeout=2.0)
    async with VirtualClock(T0, settle=0.005) as clock:
        journal = Journal(clock)
        ids = [f"screen-{n:02d}" for n in range(displays)]
        screens = SimulatedDisplays(ids, SITE, settings, clock, journal)
        tasks = {"screens": asyncio.create_task(screens.run())}
        setup = Rig(broker, settings, clock, journal, screens, tmp_path / "outbox.db", None, tasks)  # type: ignore[arg-type]
        setup.start_driver()
        try:
            await asyncio.wait_for(screens.all_connected(), 20)
            await until(lambda: setup.driver.connected, what="driver connected")
            await until(
                lambda: all(s.online for s in setup.driver.states().values()),
                what="every display seen online",
            )
            yield setup
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)


def acked_everywhere(r: Rig, content_id: str) -> bool:
    """Whether every display acknowledged ``content_id``."""
    return all(s.acknowledged == content_id for s in r.driver.states().values())


async def test_content_reaches_50_displays_and_every_ack_is_recorded(
    broker: BrokerUnderTest, tmp_path: Path
) -> None:
    async with rig(broker, tmp_path, 50) as r:
        deliveries: list[str] = []
        r.driver.on_delivery(lambda d: deliveries.append(d.display))
        r.driver.push_many({d: content("hours-1") for d in r.screens.screens})
        await until(lambda: acked_everywhere(r, "hours-1"), what="50 acks")
        assert sorted(deliveries) == sorted(r.screens.screens)
        assert r.driver.pending() == {}
        for display in r.screens.screens:
            assert r.shown(display) == ["hours-1"]
            [item] = r.driver._outbox.history(display)
            assert item.acked_at is not None
        assert all(s.online for s in r.driver.states().values())


async def test_a_display_offline_during_a_push_gets_the_content_when_it_comes_back(
    broker: BrokerUnderTest, tmp_path: Path
) -> None:
    async with rig(broker, tmp_path, 3) as r:
        off = r.screens["screen-01"]
        off.switch_off()
        await until(lambda: not r.driver.states()["screen-01"].online, what="offline seen")
        r.driver.push_many({d: content("event-7") for d in r.screens.screens})
        await until(lambda: r.driver.pending() == {"screen-01": "event-7"}, what="2 acks")
        assert r.shown("screen-01") == []
        assert r.driver.pending() == {"screen-01": "event-7"}
        off.switch_on()
        await until(lambda: acked_everywhere(r, "event-7"), what="the late screen's ack")
        assert r.shown("screen-01") == ["event-7"]
        assert r.driver.pending() == {}


async def test_the_broker_restarting_mid_push_loses_and_duplicates_nothing(
    broker: BrokerUnderTest, tmp_path: Path
) -> None:
    async with rig(broker, tmp_path, 20) as r:
        r.driver.push_many({d: content("before") for d in r.screens.screens})
        await until(lambda: acked_everywhere(r, "before"), what="first round")
        r.driver.push_many({d: content("after", "Nieuw") for d in r.screens.screens})
        await broker.stop()  # mid-push: some screens have it, some do not
        await until(lambda: not r.driver.connected, what="the driver notices")
        assert "unreachable" in (r.driver.problem() or "") or "lost" in (r.driver.problem() or "")
        await broker.start()
        await until(lambda: acked_everywhere(r, "after"), 30, what="every screen after restart")
        assert r.driver.problem() is None
        for display in r.screens.screens:
            assert r.shown(display) == ["before", "after"], display
            shows = Counter(e["content_id"] for e in r.journal.find(f"display:{display}", "show"))
            assert max(shows.values()) == 1


async def test_a_restarted_onthaal_delivers_what_its_outbox_still_holds(
    broker: BrokerUnderTest, tmp_path: Path
) -> None:
    async with rig(broker, tmp_path, 5) as r:
        for screen in r.screens.screens.values():
            screen.drop_acks = True  # shown, but the acks never arrive
        r.driver.push_many({d: content("queue-3") for d in r.screens.screens})
        await until(lambda: all(r.shown(d) == ["queue-3"] for d in r.screens.screens))
        assert len(r.driver.pending()) == 5
        await r.stop_driver()
        for screen in r.screens.screens.values():
            screen.drop_acks = False
        r.start_driver()
        assert len(r.driver.pending()) == 5, "the outbox survived the restart"
        await until(lambda: acked_everywhere(r, "queue-3"), what="acks after restart")
        assert r.driver.pending() == {}
        assert all(r.shown(d) == ["queue-3"] for d in r.screens.screens)


async def test_malformed_acks_and_stray_topics_are_logged_and_ignored(
    broker: BrokerUnderTest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="onthaal.beacons.signage")
    async with rig(broker, tmp_path, 2) as r:
        base = f"onthaal/{SITE}/signage"
        async with aiomqtt.Client(broker.host, broker.port, identifier="prankster") as prank:
            await prank.publish(f"{base}/screen-00/ack", b"{not json", qos=1)
            await prank.publish(f"{base}/screen-00/ack", b'{"content_id": 42}', qos=1)
            await prank.publish(f"{base}/screen-00/state", b"rebooting", qos=1)
            await prank.publish(f"{base}/nobody/ack", b'{"content_id": "x"}', qos=1)
            await prank.publish(f"{base}/screen-00/ack/extra", b"{}", qos=1)
            big = b'{"content_id": "' + b"x" * 100_000 + b'"}'  # never parsed (#20)
            await prank.publish(f"{base}/screen-00/ack", big, qos=1)

        def warned() -> list[logging.LogRecord]:  # the driver's (not, say, the loop watch's)
            return [r for r in caplog.records if r.name == "onthaal.beacons.signage"]

        await until(lambda: len(warned()) >= 5, what="warnings")
        messages = " | ".join(rec.getMessage() for rec in warned())
        assert "bytes (a display says at most 4096)" in messages
        assert "malformed ack" in messages
        assert "unknown display 'nobody'" in messages
        assert "presence must be" in messages
        assert r.driver.connected
        r.driver.push_many({d: content("still-fine") for d in r.screens.screens})
        await until(lambda: acked_everywhere(r, "still-fine"), what="delivery after noise")


async def test_unknown_displays_are_refused_and_nothing_is_stored(
    broker: BrokerUnderTest, tmp_path: Path
) -> None:
    async with rig(broker, tmp_path, 2) as r:
        with pytest.raises(UnknownDisplay, match="lobby-9"):
            r.driver.push_many({"screen-00": content("a"), "lobby-9": content("a")})
        assert r.driver.pending() == {}
        assert r.shown("screen-00") == []
