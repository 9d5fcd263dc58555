"""The ``stream`` way of hearing (#17): real audio in, recognised text out.

The simulated Pepper speaks the visitor's sentence with espeak-ng into ALAudioDevice's
remote client (Onthaal's ``processRemote``, over libqi); Onthaal finds the utterance with
WebRTC's voice activity detector and recognises it with PocketSphinx's bundled US-English
model, constrained by the knowledge base's phrases; the dialogue engine takes it from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from clock import VirtualClock
from dialogue.kb import load_knowledge_base
from dialogue.vocabulary import spotting_vocabulary
from hw_sim.pepper import FOUR_VOICES, SimulatedPepper, libqi_available
from onthaal.config import load_config
from onthaal.dialogue_setup import build_engine
from robot.hal import UtteranceHeard
from robot.hearing import PocketSphinx, StreamHearing, Utterances
from robot.naoqi import NaoqiRobot
from tests.conftest import T0
from tests.robot_helpers import SETTLE, eventually, next_event
from tests.system_deps import require

REPO = Path(__file__).resolve().parent.parent


def vocabulary() -> dict[str, list[str]]:
    kb = load_knowledge_base(REPO / "content" / "kb", ("nl", "fr", "en", "de"))
    return {language: spotting_vocabulary(kb, language) for language in kb.languages}


def stream(phrases: Mapping[str, Sequence[str]]) -> StreamHearing:
    return StreamHearing(PocketSphinx(dict(phrases)))


async def test_a_synthesised_english_question_is_heard_end_to_end() -> None:
    require("espeak-ng")
    if not libqi_available():
        pytest.fail("the stream backend is tested over libqi")
    async with (
        VirtualClock(T0, settle=SETTLE) as clock,
        SimulatedPepper(clock, transport="libqi", settings=FOUR_VOICES) as sim,
    ):
        robot = NaoqiRobot(
            sim.url, clock=clock, session_factory=sim.session_factory, hearing=stream
        )
        robot.listen_for(vocabulary())
        async with robot:
            events = robot.events()
            await eventually(lambda: "OnthaalHearing" in sim.world.state.audio_subscribers)
            await robot.say("Hello!", "en")  # the conversation is in English now
            assert not sim.world.state.asr_subscribers, "NAOqi's recogniser is not used"
            sim.world.hear("Where can I get a new passport?", "English")
            heard = await next_event(events, UtteranceHeard, timeout=30)
            assert heard.language == "en" and "passport" in heard.text, heard
            engine = build_engine(load_config(REPO / "robot.toml"), REPO / "robot.toml", clock)
            understood = engine.understand(heard.text, language="en")
            assert understood.intent == "passport"
        assert "OnthaalHearing" not in sim.world.state.audio_subscribers, "unsubscribed on stop"


async def test_the_robot_does_not_hear_itself_or_silence() -> None:
    hearing = stream(vocabulary())
    heard: list[str] = []
    hearing.heard = lambda text, language, confidence: heard.append(text)
    hearing.feed(bytes(2 * 16000 * 3))  # three seconds of silence: nothing to recognise
    hearing.pause(True)  # the robot speaks: what the microphone hears is dropped
    hearing.feed(b"\x10\x27" * 16000 * 2)
    await asyncio.sleep(0.2)
    assert heard == []
    assert Utterances().feed(bytes(2 * 16000)) == []
