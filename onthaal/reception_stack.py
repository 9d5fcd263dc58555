"""Assembling the reception: dialogue engine, texts, situation and behaviour engine.

One builder for the app, the scenario tests and the benchmarks, so they all run the same
thing. Part of the composition root.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from clock import Clock
from dialogue.vocabulary import spotting_vocabulary
from onthaal.config import Config
from onthaal.dialogue_setup import build_engine
from robot.behaviour import BehaviourEngine
from robot.hal import RobotHAL
from robot.reception import (
    EmergencyNotice,
    ReceptionSettings,
    Situation,
    load_texts,
    reception_behaviours,
)
from robot.staff import StaffNotifier
from robot.stats import CsvStatistics, NoStatistics, Statistics
from scheduler.dispatch import Dispatcher
from scheduler.model import Message


@dataclass
class Reception:
    """The reception behaviours and what they work with."""

    situation: Situation
    engine: BehaviourEngine
    staff: StaffNotifier


def robot_notices(messages: Sequence[Message], zone: str) -> list[EmergencyNotice]:
    """The emergencies among ``messages`` the robot in ``zone`` announces."""
    return [
        EmergencyNotice(
            m.id, {str(lang): (item.title, item.body) for lang, item in m.content.items()}
        )
        for m in messages
        if m.targets.everything or zone in m.targets.groups
    ]


def follow_emergencies(reception: Reception, dispatcher: Dispatcher, zone: str) -> None:
    """Make the robot stop and speak an emergency the moment the schedule holds one."""

    def changed(active: Sequence[Message]) -> None:
        reception.situation.set_emergencies(robot_notices(active, zone))
        reception.engine.poke()

    dispatcher.on_emergencies(changed)


def build_reception(
    config: Config,
    config_path: Path,
    robot: RobotHAL,
    clock: Clock,
    *,
    tablet_token: str = "",
    semantic: bool = False,
) -> Reception:
    """Build the reception for ``robot``; raises KnowledgeBaseError or TextsError.

    ``tablet_token`` goes into every tablet page's address, so the page can send taps
    and typed questions back (see :mod:`onthaal.web.tablet`). ``semantic``: attach the
    configured semantic stage (the caller prepares it: ``prepare_in_threads``).
    """
    base = config_path.parent
    dialogue = build_engine(config, config_path, clock, semantic=semantic)
    robot.listen_for(
        {lang: spotting_vocabulary(dialogue.kb, lang) for lang in config.site.languages}
    )
    texts = load_texts(base / config.behaviours.texts, tuple(config.site.languages))
    statistics: Statistics = (
        CsvStatistics(base / config.privacy.statistics_file, ZoneInfo(config.site.timezone))
        if config.privacy.statistics
        else NoStatistics()
    )
    b = config.behaviours
    settings = ReceptionSettings(
        low_battery=b.low_battery,
        resume_battery=b.resume_battery,
        regreet_after=b.regreet_after,
        invite_every=b.invite_every,
        tablet_url=config.tablet_address(),
        tablet_token=tablet_token,
        same_person_within=b.same_person_within,
        guide_step=b.guide_step,
        exit_direction=b.exit_direction,
        emergency_repeat=b.emergency_repeat,
    )
    staff = StaffNotifier()
    situation = Situation(clock, dialogue, texts, settings, staff, statistics)
    engine = BehaviourEngine(
        robot, reception_behaviours(), situation, clock, on_event=situation.on_event
    )
    return Reception(situation, engine, staff)
