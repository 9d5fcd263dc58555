"""A site folder: what ``onthaal init`` creates and ``onthaal check-config`` verifies.

"ok" from ``check-config`` has to mean that ``run`` will start: besides the config's own
schema, the content it refers to must load (knowledge base, the robot's lines) and the
data files must be creatable and writable where the config puts them.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import ssl
from pathlib import Path

from clock import RealClock
from dialogue.kb import KnowledgeBaseError
from dialogue.semantic import SemanticUnavailable, semantic_stage
from onthaal.config import Config
from onthaal.dialogue_setup import build_engine, load_tablet_pages
from onthaal.web.chat import ChatTextsError, load_chat_texts
from onthaal.web.tablet_content import TabletContentError
from robot.reception import TextsError, load_texts
from scheduler.closed import load_closed_texts
from scheduler.store import DatabaseUnusable, check_database_file
from scheduler.templates import TemplatesError, load_templates


class SiteError(Exception):
    """A site folder cannot be created; ``problems`` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def data_files(config: Config) -> list[tuple[str, str]]:
    """(key, path as configured) of every file Onthaal writes."""
    files = [
        ("[scheduler] database", config.scheduler.database),
        ("[mqtt] outbox", config.mqtt.outbox),
        ("[web] users", config.web.users),
    ]
    if config.privacy.statistics:
        files.append(("[privacy] statistics_file", config.privacy.statistics_file))
    if config.sim.journal:
        files.append(("[sim] journal", config.sim.journal))
    return files


def _writable_place(path: Path) -> str | None:
    """Why ``path`` cannot be created or written, or None."""
    if path.is_dir():
        return "is a folder, not a file"
    if path.exists():
        if not os.access(path, os.W_OK):
            return "is not writable"
        return None
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create it: {parent} is not writable"
    return None


def _foreign_database(path: Path) -> str | None:
    """Why an existing file is not a database Onthaal can open, or None."""
    try:
        check_database_file(path)  # the rule the stores themselves apply on open
    except DatabaseUnusable as exc:
        return str(exc).removeprefix(f"{path}: ")
    if not path.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            db.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        return f"cannot be read as a database ({exc})"
    return None


def check_site(config: Config, config_path: Path) -> list[str]:
    """Everything ``run`` would load or open that would fail, one line each."""
    base = config_path.parent
    problems: list[str] = []
    try:
        engine = build_engine(config, config_path, RealClock())
    except KnowledgeBaseError as exc:
        problems.extend(f"[dialogue] knowledge_base: {p}" for p in exc.problems)
    else:
        try:
            load_tablet_pages(config, config_path, engine.kb)
        except TabletContentError as exc:
            problems.extend(f"[behaviours] tablet_pages: {p}" for p in exc.problems)
        try:
            semantic_stage(
                config.dialogue.semantic, engine.kb, base / config.dialogue.semantic_cache
            )
        except SemanticUnavailable as exc:
            problems.append(f"[dialogue] semantic: {config.dialogue.semantic!r} {exc}")
    try:
        load_templates(base / config.scheduler.emergency_templates, tuple(config.site.languages))
    except TemplatesError as exc:
        problems.extend(f"[scheduler] emergency_templates: {p}" for p in exc.problems)
    if config.scheduler.closed_notice:
        try:
            load_closed_texts(base / config.scheduler.closed_notice, list(config.site.languages))
        except TemplatesError as exc:
            problems.extend(f"[scheduler] closed_notice: {p}" for p in exc.problems)
    try:
        load_texts(base / config.behaviours.texts, tuple(config.site.languages))
    except TextsError as exc:
        problems.extend(f"[behaviours] texts: {p}" for p in exc.problems)
    if config.chat.enabled:
        try:
            load_chat_texts(base / config.chat.texts, tuple(config.site.languages))
        except ChatTextsError as exc:
            problems.extend(f"[chat] texts: {p}" for p in exc.problems)
    for key, configured in data_files(config):
        path = base / configured
        reason = _writable_place(path)
        if reason is None and key != "[privacy] statistics_file" and key != "[sim] journal":
            reason = _foreign_database(path)
        if reason is not None:
            problems.append(f"{config_path}: {key}: {path}: {reason}")
    tls = config.mqtt.tls
    if tls.enabled and tls.ca_file:
        reason = _unusable_ca(base / tls.ca_file)
        if reason is not None:
            problems.append(f"{config_path}: [mqtt] tls.ca_file: {base / tls.ca_file}: {reason}")
    return problems


def _unusable_ca(path: Path) -> str | None:
    """Why ``path`` cannot verify a broker (missing, unreadable, not PEM), or None."""
    if not path.is_file():
        return "no such file"
    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        return f"not a CA certificate in PEM ({exc})"
    return None


def _content_paths(config: Config) -> list[tuple[str, str]]:
    """(TOML key, path as configured) of the content the config refers to."""
    return [
        ("knowledge_base", config.dialogue.knowledge_base),
        ("texts", config.behaviours.texts),
        ("tablet_pages", config.behaviours.tablet_pages),  # with its folder (pictures)
        *([("texts", config.chat.texts)] if config.chat.enabled else []),
        ("emergency_templates", config.scheduler.emergency_templates),
        *(
            [("closed_notice", config.scheduler.closed_notice)]
            if config.scheduler.closed_notice
            else []
        ),
    ]


def init_site(config: Config, config_path: Path, folder: Path) -> list[Path]:
    """Create ``folder`` with a copy of the config and of every content file it uses.

    Paths inside the copy stay relative, so the folder can be moved as a whole. The data
    folder (``var/``) is created private (0700). Returns what was written. Raises
    :class:`SiteError` when ``folder`` already holds a config or content is missing.
    """
    target_config = folder / "robot.toml"
    if target_config.exists():
        raise SiteError([f"{target_config}: already exists; not overwritten"])
    text = config_path.read_text(encoding="utf-8")
    copies: list[tuple[Path, Path]] = []
    problems = []
    for key, configured in _content_paths(config):
        source = (config_path.parent / configured).resolve()
        if not source.exists():
            problems.append(f"{config_path}: {key}: {source} does not exist")
            continue
        relative = Path(configured)
        if relative.is_absolute() or ".." in relative.parts:
            relative = Path("content") / source.name
            text = re.sub(
                rf'^(\s*{key}\s*=\s*)"{re.escape(configured)}"',
                rf'\g<1>"{relative.as_posix()}"',
                text,
                flags=re.MULTILINE,
            )
        if key == "tablet_pages":  # the pictures it names are beside it
            copies.append((source.parent, (folder / relative).parent))
            continue
        copies.append((source, folder / relative))
    if problems:
        raise SiteError(problems)
    written = []
    folder.mkdir(parents=True, exist_ok=True)
    for source, destination in copies:
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        else:
            shutil.copy2(source, destination)
        written.append(destination)
    target_config.write_text(text, encoding="utf-8")
    written.append(target_config)
    data = folder / "var"
    data.mkdir(exist_ok=True)
    data.chmod(0o700)
    written.append(data)
    return written
