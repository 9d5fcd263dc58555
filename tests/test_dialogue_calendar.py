"""Opening hours answered for the actual day: holidays, Saturdays, after closing, DST."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from clock import VirtualClock
from dialogue.engine import DialogueEngine
from onthaal.config import load_config
from onthaal.dialogue_setup import build_engine, opening_calendar

REPO = Path(__file__).resolve().parent.parent
CONFIG = load_config(REPO / "robot.toml")


async def engine_at(instant: datetime) -> AsyncIterator[DialogueEngine]:
    async with VirtualClock(instant) as clock:
        yield build_engine(CONFIG, REPO / "robot.toml", clock)


@pytest.fixture
async def tuesday_morning() -> AsyncIterator[DialogueEngine]:
    # Tuesday 24 November 2026, 10:00 in Brussels (09:00 UTC)
    async for engine in engine_at(datetime(2026, 11, 24, 9, 0, tzinfo=UTC)):
        yield engine


async def test_a_public_holiday_is_closed_and_named() -> None:
    # Christmas Day 2026 is a Friday
    async for engine in engine_at(datetime(2026, 12, 25, 9, 0, tzinfo=UTC)):
        reply = engine.conversation("nl").respond("Zijn jullie vandaag open?")
        assert reply.intent == "opening_hours"
        assert "Vandaag zijn we gesloten (Kerstmis)." in reply.text
        # 26 December is no public holiday in Belgium: open again on Saturday morning,
        # which is tomorrow, and said so
        assert "We zijn morgen weer open vanaf 9.00 uur." in reply.text
        fr = engine.conversation("fr").respond("Êtes-vous ouverts aujourd'hui ?")
        assert "Noël" in fr.text


async def test_saturday_hours_are_given_for_the_coming_saturday(
    tuesday_morning: DialogueEngine,
) -> None:
    reply = tuesday_morning.conversation("en").respond("Are you open on Saturday?")
    assert reply.intent == "opening_hours"
    assert "On Saturday we are open from 9:00 to 12:00." in reply.text


async def test_after_closing_time_the_robot_says_when_it_opens_again() -> None:
    # Tuesday 24 November 2026, 15:00 in Brussels: Tuesday is mornings only
    async for engine in engine_at(datetime(2026, 11, 24, 14, 0, tzinfo=UTC)):
        reply = engine.conversation("nl").respond("Wanneer sluiten jullie vandaag?")
        assert "Nu zijn we gesloten; vandaag waren we open van 8.30 uur tot 12.00 uur." in (
            reply.text
        ), "#21: after closing it says it is closed now"
        assert "We zijn morgen weer open vanaf 8.30 uur." in reply.text


async def test_during_opening_hours_no_next_opening_is_announced(
    tuesday_morning: DialogueEngine,
) -> None:
    reply = tuesday_morning.conversation("de").respond("Wann haben Sie heute geöffnet?")
    assert reply.text.startswith("Heute haben wir von 8:30 Uhr bis 12:00 Uhr geöffnet. Für")


async def test_dst_change_day_uses_local_time_on_both_sides() -> None:
    calendar = opening_calendar(CONFIG)
    # Sunday 29 March 2026: clocks go forward at 02:00 (UTC+1 -> UTC+2).
    # Monday 30 March 08:30 local is 06:30 UTC; the Friday before, 08:30 local was 07:30 UTC.
    assert calendar.next_opening(datetime(2026, 3, 28, 12, 0, tzinfo=UTC)) == datetime(
        2026, 3, 30, 8, 30, tzinfo=calendar.timezone
    )
    assert calendar.next_opening(datetime(2026, 3, 28, 12, 0, tzinfo=UTC)).astimezone(
        UTC
    ) == datetime(2026, 3, 30, 6, 30, tzinfo=UTC)
    assert calendar.is_open(datetime(2026, 3, 30, 6, 45, tzinfo=UTC))  # 08:45 local
    assert not calendar.is_open(datetime(2026, 3, 27, 7, 15, tzinfo=UTC))  # 08:15 local
    assert calendar.is_open(datetime(2026, 3, 27, 7, 45, tzinfo=UTC))  # 08:45 local
    # Late on the last Sunday of October (clocks go back), it still answers for Monday
    async for engine in engine_at(datetime(2026, 10, 25, 22, 30, tzinfo=UTC)):  # 23:30 local
        reply = engine.conversation("en").respond("When do you open tomorrow?")
        assert "Tomorrow we are open from 8:30 to 12:00 and from 13:30 to 16:30." in reply.text


async def test_an_extra_closing_day_from_the_config(tuesday_morning: DialogueEngine) -> None:
    calendar = tuesday_morning.calendar
    hours = calendar.hours_on(date(2026, 12, 24), "nl")
    assert not hours.open
    assert hours.closed_reason == "kerstavond"


@pytest.mark.parametrize(
    ("question", "language", "says"),
    [
        # #21: the day asked about, said back, in every language (Tuesday 1 December 2026)
        ("Zijn jullie open op 24 december?", "nl", "Op 24 december zijn we gesloten (kerstavond)."),
        ("est-ce que vous êtes ouverts samedi", "fr", "Ce samedi, nous sommes ouverts de 9h00"),
        ("habt ihr am Samstag geöffnet, guten Morgen", "de", "Am Samstag haben wir von 9:00"),
        ("are you open this Saturday", "en", "On Saturday we are open from 9:00 to 12:00."),
        ("est-ce que vous êtes ouverts ?", "fr", "Aujourd'hui, nous sommes ouverts"),
        ("Guten Morgen, haben Sie heute offen?", "de", "Heute haben wir von 8:30"),
        ("Are you open on Christmas Eve?", "en", "On 24 December we are closed (Christmas Eve)."),
        ("Open op paasmaandag?", "nl", "Op 29 maart zijn we gesloten (Paasmaandag)."),
        (
            "Ouvert le 11 novembre ?",
            "fr",
            "Le 11 novembre, nous sommes fermés (Jour de l'Armistice)",
        ),
        ("Are you open on the 21st of July?", "en", "On 21 July we are closed (National Day)."),
        ("Habt ihr am 3. Oktober geöffnet?", "de", "Am 3. Oktober haben wir geschlossen."),
        ("Open op zondag?", "nl", "We zijn op maandag weer open vanaf 8.30 uur."),
    ],
)
async def test_the_day_a_visitor_names_is_the_day_answered(
    question: str, language: str, says: str
) -> None:
    async for engine in engine_at(datetime(2026, 12, 1, 8, 0, tzinfo=UTC)):
        reply = engine.conversation(language).respond(question)
        assert reply.intent == "opening_hours", (question, reply)
        assert says in reply.text, reply.text
