"""Proof of play: stretches from acks until replaced, per message and device, as CSV.

The acceptance run: real broker, simulated screens, the dispatcher and the web app; the
CSV for a message lists each screen with the minutes it was shown, and those match the
displays' own journal of what they showed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from onthaal.config import load_config
from onthaal.scenario.model import load_scenario
from onthaal.scenario.runner import ScenarioRun
from scheduler.played import Played, message_of, stretches
from scheduler.store import Delivery, Store
from tests.configs import isolated_config
from tests.web_harness import T0, running_site

H = timedelta(hours=1)
M = timedelta(minutes=1)


def delivered(device: str, content: str, at: datetime) -> Delivery:
    return Delivery(device, content, at.isoformat(), True, 1, None)


def test_a_stretch_runs_from_its_ack_until_something_else_is_confirmed() -> None:
    found = stretches(
        [
            delivered("info", "default.ab", T0 - H),  # before the period
            delivered("info", "kerst.v1", T0 + 10 * M),
            delivered("info", "kerst.v1", T0 + 20 * M),  # republished: the same stretch
            delivered("info", "kerst.v2", T0 + 30 * M),  # edited: another version
            delivered("info", "default.ab", T0 + 50 * M),
            delivered("door", "kerst.v1", T0 + 5 * M),  # never replaced
        ],
        T0,
        T0 + H,
    )
    assert [(p.device, p.content_id, p.starts - T0, p.ends - T0 if p.ends else None)
            for p in found] == [
        ("info", "default.ab", timedelta(0), 10 * M),  # clipped to the period's start
        ("door", "kerst.v1", 5 * M, None),
        ("info", "kerst.v1", 10 * M, 30 * M),
        ("info", "kerst.v2", 30 * M, 50 * M),
        ("info", "default.ab", 50 * M, None),
    ]  # fmt: skip
    assert found[1].minutes(T0 + H) == 55
    assert message_of("kerst.v2") == "kerst" and message_of("default.ab") is None
    assert Played("x", "a-b.v3", T0, None).message == "a-b"


def test_the_store_gives_what_was_showing_when_the_period_began_and_keeps_it_when_pruned(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "s.sqlite")
    for minutes, content in ((0, "a.v1"), (30, "b.v1"), (24 * 60, "c.v1")):
        store.record_delivery("info", content, T0 + minutes * M, ok=True)
    store.record_delivery("info", "d.v1", T0 + 25 * H, ok=False, error="timeout")
    around = store.deliveries_between(T0 + H, T0 + 2 * H)
    assert [d.content_id for d in around] == ["b.v1"]  # shown since 09:30, still at 10:00
    assert store.delivery_counts() == {("info", True): 3, ("info", False): 1}
    assert store.prune_deliveries(T0 + 30 * H) == 3  # the failure and two old ones
    assert [d.content_id for d in store.deliveries()] == ["c.v1"]  # still what it shows
    # the metrics' counters do not go down with the retention
    assert store.delivery_counts() == {("info", True): 3, ("info", False): 1}


DAY = """
[day]
name = "Proof of play"
date = "2026-12-01"
opens = "09:00"
closes = "10:30"

[visitors]
arrivals = ["09:05"]

[[staff]]
at = "09:10"
action = "schedule"
id = "kerst"
text = { nl = "Kerstmarkt op het plein" }
targets = "group:hall"
until = "09:55"

[[faults]]
at = "09:30"
kind = "display-off"
target = "hall-info"
duration = 300
"""


async def test_the_csv_for_a_message_lists_each_screen_with_the_minutes_the_journal_shows(
    tmp_path: Path,
) -> None:
    # A simulated morning (exact simulated time: messages in flight are waited for).
    scenario_file = tmp_path / "day.toml"
    scenario_file.write_text(DAY, encoding="utf-8")
    (tmp_path / "sim").mkdir()
    actions = tmp_path / "journal.jsonl"  # what every simulated device did ([sim] journal)
    config_path = isolated_config(tmp_path / "sim", sim__journal=f'"{actions}"')
    run = ScenarioRun(
        load_scenario(scenario_file), load_config(config_path), config_path, seed=1,
        speed=None, journal=io.StringIO(), state_dir=tmp_path / "state",
    )  # fmt: skip
    await run.run()
    entries = [json.loads(line) for line in actions.read_text(encoding="utf-8").splitlines()]
    # The web app over that day's database answers for the message.
    site_folder = tmp_path / "web"
    (site_folder / "var").mkdir(parents=True)
    for suffix in ("", "-wal"):  # the day's database as it was left, its log included
        source = tmp_path / "state" / f"schedule.sqlite{suffix}"
        if source.exists():
            shutil.copy(source, site_folder / "var" / source.name)
    async with (
        running_site(site_folder) as site,
        httpx.AsyncClient(
            base_url=site.url, headers={"Authorization": f"Bearer {site.staff_token}"}
        ) as http,
    ):
        answer = await http.get(
            "/api/v1/messages/kerst/played.csv",
            params={"start": "2026-12-01T09:00", "end": "2026-12-01T10:30"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(answer.text)))
    minutes: dict[str, float] = {}
    for line in lines:
        minutes[line["device"]] = minutes.get(line["device"], 0.0) + float(line["minutes"])
    journal_minutes = _journal_minutes(entries, "kerst")
    screens = {d for d in minutes if d in journal_minutes}
    assert screens == set(journal_minutes) == {"hall-entrance", "hall-info"}
    assert set(minutes) - screens == {"hall-door", "hall-desk", "hall-stairs"}  # beacons
    for screen, shown in journal_minutes.items():
        assert minutes[screen] == pytest.approx(shown, abs=0.1), screen
    assert journal_minutes["hall-entrance"] == pytest.approx(45, abs=0.1)  # 09:10-09:55
    # hall-info was switched off 09:30-09:35; shown from its ack until replaced, so the
    # record keeps the stretch (and the journal, which logs no "show" while off, too)
    assert journal_minutes["hall-info"] == pytest.approx(45, abs=0.1)


async def test_bad_periods_and_unknown_devices_get_a_clear_4xx(tmp_path: Path) -> None:
    async with (
        running_site(tmp_path) as site,
        httpx.AsyncClient(
            base_url=site.url, headers={"Authorization": f"Bearer {site.staff_token}"}
        ) as http,
    ):
        bad = await http.get("/api/v1/messages/kerst/played", params={"start": "2027-01-01"})
        too_long = await http.get(
            "/api/v1/messages/kerst/played", params={"start": "2025-01-01T00:00"}
        )
        unknown = await http.get("/api/v1/devices/no-such/played")
        nothing = await http.get("/api/v1/messages/kerst/played")
    assert bad.status_code == 422 and "start is not before end" in bad.text
    assert too_long.status_code == 422 and "at most 400 days" in too_long.text
    assert unknown.status_code == 404 and "no-such" in unknown.text
    assert nothing.status_code == 200 and nothing.json()["devices"] == []


def _journal_minutes(entries: list[dict[str, object]], message: str) -> dict[str, float]:
    """Per display, minutes between showing ``message`` and showing the next thing."""
    found: dict[str, float] = {}
    began: dict[str, datetime] = {}
    for entry in entries:
        if entry.get("action") != "show":
            continue
        device = str(entry["device"]).removeprefix("display:")
        at = datetime.fromisoformat(str(entry["t"]))
        if device in began:
            found[device] = found.get(device, 0.0) + (at - began.pop(device)).total_seconds() / 60
        if str(entry["content_id"]).startswith(message + ".v"):
            began[device] = at
    assert not began, f"still showing at the end: {began}"
    return found


async def test_the_dispatcher_prunes_proof_of_play_past_its_retention_once_a_day(
    tmp_path: Path,
) -> None:
    from zoneinfo import ZoneInfo

    from clock import VirtualClock
    from scheduler.dispatch import Dispatcher

    store = Store(tmp_path / "s.sqlite")
    for days in (500, 450, 10):
        store.record_delivery("info", f"m{days}.v1", T0 - timedelta(days=days), ok=True)
    store.record_delivery("door", "old.v1", T0 - timedelta(days=450), ok=True)  # its newest
    async with VirtualClock(T0, settle=0.002) as clock:
        dispatcher = Dispatcher(
            store, [], {}, ZoneInfo("Europe/Brussels"), clock, keep_deliveries=timedelta(days=400)
        )
        runner = asyncio.create_task(dispatcher.run())
        try:
            await clock.sleep(60)
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
    left = sorted((d.device, d.content_id) for d in store.deliveries())
    assert left == [("door", "old.v1"), ("info", "m10.v1")]
