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


HARD_SET = REPO / "tests" / "data" / "dialogue_hard.jsonl"


async def test_the_hard_development_set_holds_what_was_reached() -> None:
    """#21: 372 lines written fresh as visitors speak (misheard, dialect, long,
    code-switched, fragments, days; none copied from the KB or the shared set). The
    issue's bar is 90% / 90%; this guards what the engine reaches now (81% / 90%) so no
    change slips back, and names the weakest kinds."""
    async with VirtualClock(datetime(2026, 11, 24, 9, tzinfo=UTC)) as clock:
        engine = build_engine(load_config(REPO / "robot.toml"), REPO / "robot.toml", clock)
        summary = evaluate(engine, read_samples(HARD_SET)).summary()
    assert summary["questions"] >= 300
    assert summary["top1_accuracy_in_scope"] >= 0.80, summary["by_kind"]
    assert summary["no_match_rate_out_of_scope"] >= 0.88, summary["by_kind"]
    kinds = summary["by_kind"]
    assert (
        kinds["fragment"]["top1_in_scope"] >= 0.90
        and kinds["code_switched"]["top1_in_scope"] >= 0.80
    )
    bands = [row for row in summary["reliability"] if row["questions"] >= 20]
    above = [row["right"] for row in bands if float(row["confidence"][:3]) >= engine.threshold]
    assert above and min(above) >= 0.70, "above the threshold, the best intent is mostly right"
