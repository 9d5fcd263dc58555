"""On a closed day every screen says so, and when the building opens again.

One calendar for robot and screens: the site's ``[opening_hours]`` (weekly hours,
closing days, Belgian public holidays). The notice's words are the municipality's
(``content/signage/closed.toml``); scheduled messages still win.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from beacons.content import LocalizedContent
from clock import RealClock
from onthaal.config import load_config
from onthaal.scheduler_stack import build_dispatcher, open_store
from scheduler.model import Message, Targets
from scheduler.templates import TemplatesError
from tests.configs import isolated_config

BRUSSELS = ZoneInfo("Europe/Brussels")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BRUSSELS)


def preview(tmp_path: Path, moment: datetime, **replace: str) -> dict[str, Message | None]:
    config_path = isolated_config(tmp_path, **replace)
    config = load_config(config_path)
    store = open_store(config, config_path)
    for message in EXTRA:
        store.add(message, "staff", at("2026-12-01 09:00"))
    dispatcher = build_dispatcher(
        config, store, RealClock(), displays=None, beacons=None, config_path=config_path
    )
    return {device: s.message for device, s in dispatcher.preview(moment).items()}


EXTRA: list[Message] = []


def test_on_christmas_every_screen_says_closed_and_when_it_opens_again(tmp_path: Path) -> None:
    shown = preview(tmp_path, at("2026-12-25 10:00"))  # a Friday and a public holiday
    notice = shown["hall-info"]
    assert notice is not None and notice.id.startswith("closed-20261225")
    assert notice.content["nl"].title == "Vandaag gesloten"
    body = notice.content["nl"].body or ""
    assert "terug open op zaterdag 26 december om 9.00 uur" in body  # Saturday 09:00
    assert "Wieder geöffnet am Samstag, 26. Dezember um 9.00 Uhr" in (
        notice.content["de"].body or ""
    )
    assert {d for d, m in shown.items() if m is not None and m.id == notice.id} == {
        "hall-entrance",
        "hall-info",
        "waiting-room-1",
    }  # screens only: the beacons keep their link


def test_a_closing_day_before_a_weekend_names_the_next_opening(tmp_path: Path) -> None:
    notice = preview(tmp_path, at("2026-12-24 11:00"))["hall-info"]  # Christmas Eve
    assert notice is not None
    # 25 December is a holiday, Saturday 26 opens at 9
    assert "zaterdag 26 december om 9.00" in (notice.content["nl"].body or "")


def test_an_open_day_shows_the_usual_default_and_a_message_still_wins(tmp_path: Path) -> None:
    assert preview(tmp_path, at("2026-12-22 10:00"))["hall-info"] is None  # a Tuesday
    EXTRA.append(
        Message(
            id="kerstconcert",
            title="Kerstconcert",
            content={"nl": LocalizedContent(title="Kerstconcert vanavond")},
            targets=Targets(everything=True),
            starts=at("2026-12-25 00:00"),
            ends=at("2026-12-26 00:00"),
        )
    )
    try:
        (tmp_path / "b").mkdir()
        shown = preview(tmp_path / "b", at("2026-12-25 10:00"))
    finally:
        EXTRA.clear()
    assert shown["hall-info"] is not None and shown["hall-info"].id == "kerstconcert"


def test_no_notice_when_the_site_does_not_want_one(tmp_path: Path) -> None:
    assert preview(tmp_path, at("2026-12-25 10:00"), scheduler__closed_notice='""')[
        "hall-info"
    ] is None  # fmt: skip


def test_a_broken_notice_file_is_refused_naming_file_key_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "closed.toml"
    bad.write_text(
        '[nl]\ntitle = "Gesloten"\nbody = "Open op {wanneer}"\n[fr]\ntitle = "Fermé"\n',
        encoding="utf-8",
    )
    config_path = isolated_config(tmp_path, scheduler__closed_notice=f'"{bad}"')
    with pytest.raises(TemplatesError, match=r"\[nl\] body: unknown placeholder 'wanneer'"):
        preview(tmp_path, at("2026-12-25 10:00"), scheduler__closed_notice=f'"{bad}"')
    checked = subprocess.run(
        [sys.executable, "-m", "onthaal", "check-config", "--config", str(config_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 2
    assert "[scheduler] closed_notice:" in checked.stderr
    assert "[en]: missing" in checked.stderr
