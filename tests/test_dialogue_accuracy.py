"""The engine on the shared development set: the issue's accuracy bars, as a regression guard.

The set lives in ``../shared/data`` beside the repository; ``tests/data`` holds a copy so
a clone anywhere can run it. Its lines are never copied into the knowledge base.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from clock import VirtualClock
from dialogue.evaluate import evaluate, read_samples
from onthaal.config import load_config
from onthaal.dialogue_setup import build_engine

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data" / "dialogue_dev.jsonl"
DEV_SET = SHARED if SHARED.exists() else REPO / "tests" / "data" / "dialogue_dev.jsonl"


async def test_dev_set_accuracy_meets_the_bars() -> None:
    async with VirtualClock(datetime(2026, 11, 24, 9, tzinfo=UTC)) as clock:
        engine = build_engine(load_config(REPO / "robot.toml"), REPO / "robot.toml", clock)
        summary = evaluate(engine, read_samples(DEV_SET)).summary()
    assert summary["top1_accuracy_in_scope"] >= 0.90, summary["mistakes"]
    assert summary["no_match_rate_out_of_scope"] >= 0.90, summary["mistakes"]
    assert summary["language_accuracy"] >= 0.95, summary["mistakes"]


async def test_dev_set_through_the_robots_word_spotting_meets_the_bar() -> None:
    """#17: what a NAOqi robot hears is the vocabulary phrases it spots, not the sentence."""
    from onthaal.dialogue_cli import word_spotting

    async with VirtualClock(datetime(2026, 11, 24, 9, tzinfo=UTC)) as clock:
        engine = build_engine(load_config(REPO / "robot.toml"), REPO / "robot.toml", clock)
        hear = word_spotting(engine)
        assert hear("goeiemiddag ik kom voor een nieuwe identiteitskaart", "nl") != ""
        summary = evaluate(engine, read_samples(DEV_SET), hear).summary()
    assert summary["top1_accuracy_in_scope"] >= 0.85, summary["mistakes"]
    assert summary["no_match_rate_out_of_scope"] >= 0.90, summary["mistakes"]
