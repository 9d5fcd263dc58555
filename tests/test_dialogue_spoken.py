"""#21: the robot says a short answer (times as people say them); screens show it all."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from clock import VirtualClock
from dialogue.engine import DialogueEngine
from dialogue.kb import KnowledgeBaseError, load_knowledge_base
from dialogue.spoken import SPOKEN_WORDS, shorten, spoken_time
from onthaal.config import load_config
from onthaal.dialogue_setup import build_engine
from robot.hal import UtteranceHeard
from tests.configs import REPO
from tests.reception_harness import reception

LANGS = ("nl", "fr", "en", "de")
# Tuesday 24 November 2026, 10:00 in Brussels (open), and a Saturday and a closed Sunday.
MOMENTS = [
    datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
    datetime(2026, 11, 24, 19, 0, tzinfo=UTC),
    datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
    datetime(2026, 11, 29, 9, 0, tzinfo=UTC),
]
READ_NOT_HEARD = re.compile(r"\d{2,}[ ./]\d{2}|www\.|https?://|@|\.be\b")


@pytest.fixture(params=MOMENTS, ids=lambda m: m.strftime("%a-%H"))
def engine(request: pytest.FixtureRequest) -> Iterator[DialogueEngine]:
    config = load_config(REPO / "robot.toml")
    yield build_engine(config, REPO / "robot.toml", VirtualClock(request.param))


def test_every_answer_is_said_in_at_most_25_words_without_numbers_to_note(
    engine: DialogueEngine,
) -> None:
    for intent in engine.kb.intents.values():
        for language in LANGS:
            reply = engine.answer(intent.id, language)
            said = reply.said
            where = f"{intent.id}/{language}: {said!r}"
            assert 0 < len(said.split()) <= SPOKEN_WORDS, where
            assert not READ_NOT_HEARD.search(said), where
            assert not re.search(r"\d{1,2}[.:]\d{2}", said), f"a time as written: {where}"


def test_the_tablet_and_the_chat_still_get_the_whole_answer(engine: DialogueEngine) -> None:
    reply = engine.answer("id_card", "nl")
    assert "00800 2123 2123" in reply.text, "Doc Stop's number is on the screen"
    assert "00800" not in reply.said and "Burgerzaken" in reply.said
    library = engine.answer("library", "en")
    assert "www.aalter.be" in library.text and "www" not in library.said


@pytest.mark.parametrize(
    ("language", "moment", "said"),
    [
        ("nl", time(8, 30), "half 9"),
        ("nl", time(13, 30), "half 2"),
        ("nl", time(9, 15), "kwart over 9"),
        ("nl", time(16, 45), "kwart voor 5"),
        ("nl", time(12, 0), "12 uur"),
        ("nl", time(23, 59, 59), "24 uur"),
        ("fr", time(8, 30), "8 heures et demie"),
        ("fr", time(16, 45), "17 heures moins le quart"),
        ("en", time(13, 0), "1 pm"),
        ("en", time(8, 30), "half past 8"),
        ("en", time(9, 20), "9 20 am"),
        ("de", time(8, 30), "halb 9"),
        ("de", time(10, 15), "Viertel nach 10"),
    ],
)
def test_times_are_said_the_way_people_say_them(language: str, moment: time, said: str) -> None:
    kb = load_knowledge_base(REPO / "content" / "kb", LANGS)
    assert spoken_time(moment, kb.phrases["time_spoken"][language]) == said


def test_opening_hours_are_said_in_words_and_shown_in_figures() -> None:
    config = load_config(REPO / "robot.toml")
    engine = build_engine(config, REPO / "robot.toml", VirtualClock(MOMENTS[0]))
    reply = engine.answer("opening_hours", "nl", date(2026, 11, 25))  # a Wednesday
    assert "8.30 uur" in reply.text
    assert "half 9" in reply.said and "8.30" not in reply.said


def test_an_aspect_asked_is_said_first() -> None:
    config = load_config(REPO / "robot.toml")
    engine = build_engine(config, REPO / "robot.toml", VirtualClock(MOMENTS[0]))
    reply = engine.conversation("nl").respond("hoeveel kost een paspoort?", "nl")
    assert reply.intent == "passport"
    assert reply.said.startswith("De prijs hangt af van de procedure.")
    assert "www.aalter.be" in reply.text and len(reply.said.split()) <= SPOKEN_WORDS


def test_shorten_drops_what_is_read_and_keeps_what_fits() -> None:
    text = (
        "Het Sociaal Huis is achteraan rechts. Bel gerust naar 09 325 75 00. "
        "U vindt er ook een wachtzaal met speelgoed voor de kinderen en een koffieautomaat "
        "die jammer genoeg vaak stuk is, zeggen de bezoekers. Het is gratis."
    )
    said, left_out = shorten(text)
    assert said == "Het Sociaal Huis is achteraan rechts. Het is gratis."
    assert left_out


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    shutil.copytree(REPO / "content" / "kb", folder)
    return folder


def _problems(folder: Path) -> list[str]:
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(folder, LANGS)
    return info.value.problems


def test_a_long_answer_without_a_spoken_text_is_refused(kb_dir: Path) -> None:
    path = kb_dir / "building_permit.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"\n\[spoken\]\n(?:[a-z]{2} = .*\n)+", "\n", text), encoding="utf-8")
    problems = _problems(kb_dir)
    assert any(
        "building_permit.toml" in p and "answers.nl" in p and "write spoken.nl" in p
        for p in problems
    ), problems


def test_a_spoken_text_over_25_words_and_a_label_with_or_are_refused(kb_dir: Path) -> None:
    path = kb_dir / "wifi.toml"
    text = path.read_text(encoding="utf-8")
    long = " ".join(["woord"] * 26)
    text = text.replace("[answers]", f'[spoken]\nnl = "{long}"\n\n[answers]', 1)
    text = re.sub(r'(\[label\]\nnl = )"[^"]*"', r'\1"wifi of internet"', text)
    path.write_text(text, encoding="utf-8")
    problems = _problems(kb_dir)
    assert any("spoken.nl: 26 words" in p for p in problems), problems
    assert any("label.nl" in p and "'of'" in p for p in problems), problems


async def test_the_robot_says_the_short_answer_and_its_tablet_shows_all() -> None:
    async with reception(MOMENTS[0]) as r:
        await r.sim.world.walk_in(7, step=1.0)
        await r.until_said("welkom")
        r.robot.tablet_input(UtteranceHeard("mijn identiteitskaart is gestolen", "nl", 1.0))
        said = await r.until_said("Burgerzaken")
        assert "00800" not in said["text"] and len(said["text"].split()) <= SPOKEN_WORDS
        shown = [e["url"] for e in r.journal("pepper", "tablet-show")]
        assert any("/page/id_card?lang=nl" in url for url in shown), "the whole answer"
