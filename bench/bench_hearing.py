"""Hearing a visitor: from the end of an utterance to the first word of the answer.

The whole reception against the strict simulated Pepper over libqi (word spotting over
the vocabulary, its recognition delay, the tablet page fetched over HTTP before the
answer is spoken), on the virtual clock. For each in-scope question of the development
set (in the visitor's language, after a tap on that language), two figures:

- simulated robot time from the end of the sentence to the first word of the answer
  (what the robot itself takes: recognising, showing the page, starting to speak);
- real processing time for the same stretch (Onthaal's work and the simulator's).

Targets (#17): p95 < 1.2 s of simulated robot time, plus < 50 ms of processing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, Result, median, percentile
from dialogue.evaluate import read_samples

QUESTIONS = 60  # in-scope questions of the development set, spread over the languages
TARGET_SIMULATED = 1.2  # seconds
TARGET_PROCESSING = 50.0  # milliseconds
NAOQI = {"nl": "Dutch", "fr": "French", "en": "English", "de": "German"}
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _dev_set() -> Path:
    shared = ROOT.parent / "shared" / "data" / "dialogue_dev.jsonl"
    return shared if shared.exists() else ROOT / "tests" / "data" / "dialogue_dev.jsonl"


async def _measure() -> tuple[list[float], list[float]]:
    from tests.reception_harness import reception

    samples = [s for s in read_samples(_dev_set()) if s.intent]
    step = max(1, len(samples) // QUESTIONS)
    chosen = samples[::step][:QUESTIONS]
    simulated: list[float] = []
    processing: list[float] = []
    async with reception(OPEN) as r:
        world, journal = r.sim.world, r.sim.journal
        track = 100
        for sample in chosen:
            track += 1
            await world.walk_in(track, step=1.0)
            await r.until_said("welkom", timeout=30)
            if sample.language != "nl":
                r.robot.tablet_input(_tap(f"lang-{sample.language}"))
            await r.until(lambda: r.situation.listening and not world.speaking, 30)
            mark = len(journal.since(0))
            said_at: dict[str, Any] = {}

            def on_entry(entry: dict[str, Any], said_at: dict[str, Any] = said_at) -> None:
                if entry["action"] in ("say", "animated-say") and "real" not in said_at:
                    said_at["real"] = time.perf_counter()
                    said_at["simulated"] = r.clock.monotonic()

            journal.add_listener(on_entry)
            started_real, started = time.perf_counter(), r.clock.monotonic()
            world.hear(sample.text, NAOQI[sample.language])
            await r.until(functools.partial(_answered, said_at, journal, mark), 30)
            journal.remove_listener(on_entry)
            if "real" in said_at:
                simulated.append(said_at["simulated"] - started)
                processing.append((said_at["real"] - started_real) * 1000)
            world.leave(track)
            await r.until(lambda: r.situation.engaged is None and not world.speaking, 30)
            await r.clock.sleep(400)  # past regreet_after: the next one is a new visitor
    return simulated, processing


def _tap(element: str) -> Any:
    from robot.hal import TabletTouched

    return TabletTouched(element=element)


def _answered(said_at: dict[str, Any], journal: Any, mark: int) -> bool:
    """The robot began its answer, or did not hear the sentence at all."""
    return "real" in said_at or any(e["action"] == "unheard" for e in journal.since(mark))


def run() -> Result:
    """End of utterance to the first word of the answer, simulated and real."""
    logging.disable(logging.WARNING)
    try:
        simulated, processing = asyncio.run(_measure())
    finally:
        logging.disable(logging.NOTSET)
    result = Result("hearing", "End of a visitor's utterance to the first word of the answer")
    p95_sim, p95_real = percentile(simulated, 95), percentile(processing, 95)
    result.add("answered (of the questions asked)", len(simulated), "questions")
    result.add("simulated robot time: median", median(simulated), "s")
    result.add(
        "simulated robot time: p95",
        p95_sim,
        "s",
        target=f"< {TARGET_SIMULATED:g} s",
        met=p95_sim < TARGET_SIMULATED,
    )
    result.add("processing (wall clock): median", median(processing), "ms")
    result.add(
        "processing (wall clock): p95",
        p95_real,
        "ms",
        target=f"< {TARGET_PROCESSING:g} ms",
        met=p95_real < TARGET_PROCESSING,
    )
    result.notes = (
        f"{len(simulated)} in-scope questions of the development set through the strict "
        "simulated recogniser (word spotting, recognition delay), the reception, and the "
        "tablet page fetched from the real web app before the answer is spoken; the "
        "virtual clock measures the robot's own time, the wall clock the processing."
    )
    return result
