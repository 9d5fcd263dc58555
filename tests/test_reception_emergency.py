"""#22: an emergency reaches the robot: it stops what it does and says it, in time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from beacons.content import LocalizedContent
from onthaal.reception_stack import robot_notices
from scheduler.model import Message, Targets, emergency_notice
from tests.reception_harness import reception
from tests.web_harness import running_site

# Tuesday 24 November 2026, 10:00 in Brussels: open.
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TZ = ZoneInfo("Europe/Brussels")


def _evacuation(zone_targets: Targets | None = None) -> Message:
    return emergency_notice(
        {
            "nl": LocalizedContent(title="Evacuatie", body="Verlaat het gebouw via de uitgang"),
            "fr": LocalizedContent(title="Évacuation", body="Quittez le bâtiment"),
        },
        zone_targets or Targets(everything=True),
        OPEN,
        TZ,
    )


async def test_the_robot_breaks_off_a_conversation_and_says_the_notice_within_2_s() -> None:
    async with reception(OPEN) as r:
        await r.sim.world.walk_in(7, step=1.0)
        await r.until_said("welkom")
        r.sim.world.tap_tablet("lang-fr")
        await r.until_said("en français")
        await r.tell("Où puis-je demander un passeport ?", "French")
        await r.until(lambda: r.sim.world.speaking)  # mid-answer
        raised = r.clock.now()
        r.situation.set_emergencies(robot_notices([_evacuation()], "hall"))
        r.engine.poke()
        french = await r.until_said("Évacuation")
        dutch = await r.until_said("Evacuatie")
        heard_after = datetime.fromisoformat(french["t"]) - raised
        assert heard_after <= timedelta(seconds=2), heard_after
        assert french["language"] == "French" and dutch["language"] == "Dutch"
        await r.until_said("Quittez le bâtiment.")
        await r.until_said("Verlaat het gebouw via de uitgang.")
        assert r.said().index("Évacuation.") < r.said().index("Evacuatie."), "visitor's first"
        assert r.journal("pepper", "stop-speech"), "the answer was cut off"
        assert r.situation.conversation is None, "the visitor is told, not answered"
        shown = [e["url"] for e in r.journal("pepper", "tablet-show")]
        assert any("/emergency?lang=fr" in url for url in shown)
        eyes = [e["rgb"] for e in r.journal("pepper", "leds")]
        assert "#ff0000" in eyes

        # Someone walks in during the evacuation: not greeted.
        said = len(r.said())
        await r.sim.world.walk_in(8, step=1.0)
        await r.clock.sleep(5)
        assert not any("welkom" in text.lower() for text in r.said()[said:])

        # It ends: welcome page, and the next visitor is greeted again.
        r.situation.set_emergencies([])
        r.engine.poke()
        await r.until(lambda: "/welcome" in (r.sim.state.tablet or ("", ""))[1], timeout=10)
        r.sim.world.leave(7)
        r.sim.world.leave(8)
        await r.sim.world.walk_in(9, step=1.0)
        await r.until(lambda: sum("welkom" in t.lower() for t in r.said()) >= 2)


def test_the_robot_announces_only_emergencies_for_its_zone() -> None:
    everywhere = _evacuation()
    hall = _evacuation(Targets(groups=["hall"]))
    elsewhere = _evacuation(Targets(groups=["waiting-room"]))
    screens = _evacuation(Targets(displays=["hall-info"]))
    ids = [n.id for n in robot_notices([everywhere, hall, elsewhere, screens], "hall")]
    assert ids == [everywhere.id, hall.id]
    (german,) = robot_notices([everywhere], "hall")
    assert german.said("de", "nl") == ("nl", "Evacuatie. Verlaat het gebouw via de uitgang.")


async def test_an_emergency_raised_by_the_desk_reaches_the_robots_listener(
    tmp_path: Path,
) -> None:
    async with running_site(tmp_path) as site:
        heard: list[list[str]] = []
        site.dispatcher.on_emergencies(lambda active: heard.append([m.id for m in active]))
        notice = {"content": {"nl": {"title": "Brand", "body": "Verlaat het gebouw"}}}
        headers = {"Authorization": f"Bearer {site.desk_token}"}
        async with httpx.AsyncClient(base_url=site.url, headers=headers) as http:
            started = await http.post("/api/v1/emergency", json=notice)
            assert started.status_code == 201, started.text
            one = started.json()["id"]
            for _ in range(200):
                if heard:
                    break
                await asyncio.sleep(0.01)
            assert heard == [[one]]
            assert (await http.delete(f"/api/v1/emergency/{one}")).status_code == 200
            for _ in range(200):
                if len(heard) == 2:
                    break
                await asyncio.sleep(0.01)
            assert heard == [[one], []]
