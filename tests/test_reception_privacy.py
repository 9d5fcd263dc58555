"""Privacy by default: nothing a visitor says or is outlives the conversation."""

from __future__ import annotations

import csv
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from onthaal.config import Config, load_config
from tests.reception_harness import REPO, Reception, reception

OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Brussels
TRACK_ID = 48151623  # distinctive, so a leak into a log line or file is unmistakable
QUESTION = "Waar zijn de toiletten? Mijn naam is Jozefien Vandewalle"


def _config(tmp_path: Path, *, statistics: bool) -> Config:
    config = load_config(REPO / "robot.toml")
    privacy = config.privacy.model_copy(
        update={"statistics": statistics, "statistics_file": str(tmp_path / "stats.csv")}
    )
    return config.model_copy(update={"privacy": privacy})


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


async def _one_visit(r: Reception) -> None:
    await r.sim.world.walk_in(TRACK_ID, step=1.0)
    await r.until_said("welkom")
    await r.tell(QUESTION, "Dutch")
    await r.until_said("toiletten vindt u")
    await r.tell("Dank u wel, tot ziens!", "Dutch")
    await r.until(lambda: r.situation.conversation is None)


async def test_by_default_a_visit_leaves_no_file_and_no_conversation(tmp_path: Path) -> None:
    async with reception(OPEN, config=_config(tmp_path, statistics=False)) as r:
        await _one_visit(r)
        assert r.situation.conversation is None
    assert not _files(tmp_path), "nothing is written when statistics are off"


async def test_statistics_when_enabled_are_anonymous_counts_only(tmp_path: Path) -> None:
    async with reception(OPEN, config=_config(tmp_path, statistics=True)) as r:
        await _one_visit(r)
    text = (tmp_path / "stats.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert rows, "counts were written"
    assert set(rows[0]) == {"hour", "language", "event", "count"}
    events = {row["event"]: int(row["count"]) for row in rows}
    assert events.get("toilets") == 1
    assert {row["language"] for row in rows} == {"nl"}
    assert all(row["hour"].startswith("2026-11-24T10:00") for row in rows)
    for secret in (str(TRACK_ID), "Jozefien", "Vandewalle", "toiletten?"):
        assert secret not in text


async def test_info_logs_carry_no_track_ids_and_no_visitor_words(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with reception(OPEN, config=_config(tmp_path, statistics=False)) as r:
        await _one_visit(r)
    info = [rec for rec in caplog.records if rec.levelno >= logging.INFO]
    assert info, "the reception does log at info level"
    for record in info:
        rendered = record.getMessage() + " " + " ".join(map(str, vars(record).values()))
        for secret in (str(TRACK_ID), "Jozefien", "Vandewalle"):
            assert secret not in rendered, f"{record.name}: {record.getMessage()}"
