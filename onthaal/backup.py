"""A site's data, copied consistently and put back: ``onthaal backup`` and ``onthaal restore``.

The databases are in WAL mode: a plain copy of ``schedule.sqlite`` without its ``-wal``
file held half the messages and audit of a running site. ``backup`` copies each
database with SQLite's online backup API (a consistent snapshot, while Onthaal runs),
and the site's keys and accounts beside them, with a manifest of their checksums.
``restore`` checks the manifest, refuses while Onthaal runs on this data (the site
lock), keeps what it replaces (``*.before-restore``), and writes each database back
with the same API. Nothing is ever silently overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from onthaal import __version__
from onthaal.config import Config
from scheduler.store import DatabaseUnusable, check_database_file

MANIFEST = "manifest.json"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why, naming the file."""


@dataclass(frozen=True)
class SiteFile:
    """One file of a site's data: its name in a backup and where it lives."""

    name: str
    key: str  # the config key that names it
    path: Path
    database: bool


def site_files(config: Config, config_path: Path) -> list[SiteFile]:
    """Every file that holds the site's data: the databases, then the keys and accounts."""
    base = config_path.parent
    files = [
        SiteFile("schedule.sqlite", "[scheduler] database", base / config.scheduler.database, True),
        SiteFile("users.sqlite", "[web] users", base / config.web.users, True),
        SiteFile("signage-outbox.sqlite", "[mqtt] outbox", base / config.mqtt.outbox, True),
        SiteFile("alerts.sqlite", "[alerts] database", base / config.alerts.database, True),
        SiteFile("signing.key", "[mqtt] signing_key", base / config.mqtt.signing_key, False),
        SiteFile("mqtt-accounts.json", "[mqtt] accounts", base / config.mqtt.accounts, False),
    ]
    if config.web.session_key:
        files.append(
            SiteFile("session.key", "[web] session_key", base / config.web.session_key, False)
        )
    return [f for f in files if str(f.path) != ":memory:" and f.path.name != ":memory:"]


def lock_path(config: Config, config_path: Path) -> Path | None:
    """The site lock beside the schedule database (None for in-memory data)."""
    files = site_files(config, config_path)
    return files[0].path.parent / "onthaal.lock" if files else None


@contextlib.contextmanager
def site_lock(config: Config, config_path: Path) -> Iterator[None]:
    """Hold the site lock while Onthaal runs on this data; BackupError if another does."""
    path = lock_path(config, config_path)
    if path is None:
        yield
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                f"{path}: another Onthaal runs on this site's data; stop it first"
            ) from None
        yield
    finally:
        os.close(descriptor)


def backup(config: Config, config_path: Path, destination: Path) -> list[str]:
    """Copy the site's data into ``destination`` (new or empty, made 0700); what was copied."""
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise BackupError(f"{destination}: exists and is not an empty folder; choose a new one")
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    destination.chmod(0o700)
    manifest: dict[str, object] = {
        "onthaal": __version__,
        "made": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {},
    }
    files: dict[str, dict[str, str]] = {}
    done = []
    for item in site_files(config, config_path):
        if not item.path.exists():
            continue
        target = destination / item.name
        if item.database:
            _check(item.path)
            _copy_database(item.path, target)
        else:
            _private_copy(item.path, target)
        files[item.name] = {"sha256": _sha256(target), "key": item.key}
        done.append(f"{item.key}: {item.path} -> {target}")
    manifest["files"] = files
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    (destination / MANIFEST).chmod(0o600)
    return done


def restore(config: Config, config_path: Path, source: Path) -> list[str]:
    """Put the backup in ``source`` back in place of the site's data; what was restored."""
    try:
        manifest = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
        listed = manifest["files"]
        assert isinstance(listed, dict)
    except (OSError, ValueError, KeyError, AssertionError, TypeError):
        raise BackupError(f"{source}: is not an Onthaal backup (no readable {MANIFEST})") from None
    by_name = {f.name: f for f in site_files(config, config_path)}
    for name, entry in listed.items():
        copy = source / name
        if name not in by_name:
            raise BackupError(f"{copy}: is not a file this site keeps")
        if not copy.is_file() or _sha256(copy) != entry.get("sha256"):
            raise BackupError(f"{copy}: is missing or changed since the backup was made")
        if by_name[name].database:
            _check(copy)
    done = []
    with site_lock(config, config_path):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        for name in listed:
            item = by_name[name]
            copy = source / name
            item.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if item.path.exists():
                kept = item.path.with_name(f"{item.path.name}.before-restore-{stamp}")
                if item.database:
                    _copy_database(item.path, kept)
                else:
                    _private_copy(item.path, kept)
            if item.database:
                _write_database(copy, item.path)
            else:
                _private_copy(copy, item.path)
            done.append(f"{item.key}: {copy} -> {item.path}")
    return done


def _check(path: Path) -> None:
    try:
        check_database_file(path)
    except DatabaseUnusable as exc:
        raise BackupError(str(exc)) from None


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a live database (SQLite's online backup), 0600."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_CREAT | os.O_WRONLY, 0o600))
    with (
        contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as reading,
        contextlib.closing(sqlite3.connect(partial)) as writing,
    ):
        reading.backup(writing)
        writing.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    partial.replace(target)


def _write_database(source: Path, target: Path) -> None:
    """Replace ``target``'s content with ``source``'s, through SQLite (WAL and all)."""
    if not target.exists():
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
    with (
        contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as reading,
        contextlib.closing(sqlite3.connect(target)) as writing,
    ):
        reading.backup(writing)
    target.chmod(0o600)


def _private_copy(source: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    descriptor = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out, source.open("rb") as read:
        shutil.copyfileobj(read, out)
    partial.replace(target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()
