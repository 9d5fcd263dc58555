"""Building the dialogue engine from the config (part of the composition root)."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo

from clock import Clock
from dialogue.calendar import OpeningCalendar, TimeRange
from dialogue.engine import DialogueEngine
from dialogue.kb import KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from dialogue.semantic import SemanticUnavailable, semantic_stage
from onthaal.config import Config
from onthaal.web.tablet_content import TabletContent, load_tablet_content

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _ranges(items: list[str]) -> tuple[TimeRange, ...]:
    def parse(text: str) -> time:
        hours, minutes = (int(part) for part in text.split(":"))
        return time(23, 59, 59) if hours == 24 else time(hours, minutes)

    return tuple((parse(a), parse(b)) for a, b in (item.split("-") for item in items))


def opening_calendar(config: Config) -> OpeningCalendar:
    """The opening calendar described by ``[opening_hours]``."""
    hours = config.opening_hours
    return OpeningCalendar(
        timezone=ZoneInfo(config.site.timezone),
        weekly={i: _ranges(getattr(hours, name)) for i, name in enumerate(_WEEKDAYS)},
        exceptions={date.fromisoformat(d): _ranges(r) for d, r in hours.exceptions.items()},
        closed={
            date.fromisoformat(d): (
                {config.site.default_language: names}
                if isinstance(names, str)
                else {str(language): name for language, name in names.items()}
            )
            for d, names in hours.closed.items()
        },
        holiday_country=hours.public_holidays,
    )


def knowledge_base_path(config: Config, config_path: Path) -> Path:
    """``[dialogue] knowledge_base``, relative to the config file's folder."""
    return (config_path.parent / config.dialogue.knowledge_base).resolve()


def build_engine(
    config: Config,
    config_path: Path,
    clock: Clock,
    *,
    semantic: bool = False,
    semantic_threads: int = 1,
) -> DialogueEngine:
    """Load the knowledge base and build the engine; raises KnowledgeBaseError.

    ``semantic``: attach the stage ``[dialogue] semantic`` names, not prepared yet (the
    caller runs ``engine.semantic.prepare()`` in a thread); a stage that cannot run
    here is a problem of the config, reported like the knowledge base's.
    """
    languages = tuple(config.site.languages)
    kb = load_knowledge_base(knowledge_base_path(config, config_path), languages)
    stage = None
    if semantic:
        try:
            stage = semantic_stage(
                config.dialogue.semantic,
                kb,
                config_path.parent / config.dialogue.semantic_cache,
                threads=semantic_threads,
            )
        except SemanticUnavailable as exc:
            raise KnowledgeBaseError(
                [f"{config_path}: [dialogue] semantic = {config.dialogue.semantic!r}: {exc}"]
            ) from None
    return DialogueEngine(
        kb,
        opening_calendar(config),
        clock,
        default_language=config.site.default_language,
        threshold=config.dialogue.threshold,
        semantic=stage,
    )


def load_tablet_pages(config: Config, config_path: Path, kb: KnowledgeBase) -> TabletContent:
    """``[behaviours] tablet_pages`` checked against ``kb``; raises TabletContentError."""
    return load_tablet_content(config_path.parent / config.behaviours.tablet_pages, kb)
