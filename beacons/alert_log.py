"""Every alert raised, and what became of it on each channel: written before it is sent.

SQLite (WAL), one row per alert edge, keyed by :attr:`~beacons.alerts.Alert.key` so the
same edge is never stored (or sent) twice. A row waits (``pending``, or ``held`` in the
quiet hours) until every channel took it; a channel that fails is tried again with
back-off and its last error kept, so an alert is never dropped without a trace. The web
app reads the same file with a connection of its own. Thread-safe: the fleet watcher
calls it from worker threads, off the robot's loop.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from beacons.alerts import Alert, Condition, Edge, OpenProblem

Status = Literal["held", "pending", "sent", "failed", "digest"]

_MIGRATIONS = (
    """
    CREATE TABLE alerts (
        key TEXT PRIMARY KEY,
        device TEXT NOT NULL,
        kind TEXT NOT NULL,
        condition TEXT NOT NULL,
        edge TEXT NOT NULL,
        at TEXT NOT NULL,
        since TEXT NOT NULL,
        reason TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        grp TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        channels TEXT NOT NULL DEFAULT '{}',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try TEXT,
        sent_at TEXT
    );
    CREATE INDEX alerts_at ON alerts (at);
    CREATE INDEX alerts_waiting ON alerts (status) WHERE status IN ('held', 'pending');
    CREATE TABLE digests (day TEXT PRIMARY KEY, sent_at TEXT NOT NULL, outcome TEXT NOT NULL);
    """,
)


@dataclass(frozen=True)
class Logged:
    """An alert as stored, with its delivery state."""

    alert: Alert
    status: Status
    channels: dict[str, str]  # channel -> "ok" or its last error
    attempts: int
    next_try: datetime | None
    sent_at: datetime | None


class AlertLog:
    """The alert log in one SQLite file (``":memory:"`` for a throwaway one)."""

    def __init__(self, path: Path | str, *, busy_timeout: float = 5.0) -> None:
        """Open (create 0600 in a 0700 folder, migrate) the log at ``path``."""
        if str(path) != ":memory:":
            file = Path(path)
            if not file.parent.exists():
                file.parent.mkdir(mode=0o700, parents=True)
            if not file.exists():
                os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o600))
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path), isolation_level=None, timeout=busy_timeout, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def close(self) -> None:
        """Close the database."""
        with self._locked() as db:
            db.close()

    def add(self, alert: Alert, status: Status) -> bool:
        """Store a new alert edge; False if that very edge is already stored."""
        with self._locked() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO alerts (key, device, kind, condition, edge, at, since,"
                " reason, name, grp, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.key,
                    alert.device,
                    alert.kind,
                    alert.condition,
                    alert.edge,
                    alert.at.isoformat(),
                    alert.since.isoformat(),
                    alert.reason,
                    alert.name,
                    alert.group,
                    status,
                ),
            )
            return cursor.rowcount == 1

    def set_status(self, key: str, status: Status) -> None:
        """Move an alert to ``status`` (held ones released, or left to the digest)."""
        with self._locked() as db:
            db.execute("UPDATE alerts SET status = ? WHERE key = ?", (status, key))

    def record_attempt(
        self,
        key: str,
        channels: dict[str, str],
        at: datetime,
        next_try: datetime | None,
        gave_up: bool = False,
    ) -> None:
        """What each channel said; ``next_try`` when some failed (None: all took it)."""
        done = all(v == "ok" for v in channels.values())
        status: Status = "sent" if done else ("failed" if gave_up else "pending")
        with self._locked() as db:
            db.execute(
                "UPDATE alerts SET channels = ?, attempts = attempts + 1, next_try = ?,"
                " status = ?, sent_at = CASE WHEN ? THEN ? ELSE sent_at END WHERE key = ?",
                (
                    json.dumps(channels, sort_keys=True),
                    next_try.isoformat() if next_try else None,
                    status,
                    done,
                    at.isoformat(),
                    key,
                ),
            )

    def waiting(self) -> list[Logged]:
        """Alerts not yet taken by every channel (held or pending), oldest first."""
        return self._select("WHERE status IN ('held', 'pending') ORDER BY at")

    def recent(self, limit: int = 100, device: str | None = None) -> list[Logged]:
        """The newest alerts first (optionally of one device)."""
        if device is None:
            return self._select("ORDER BY at DESC LIMIT ?", (limit,))
        return self._select("WHERE device = ? ORDER BY at DESC LIMIT ?", (device, limit))

    def between(self, start: datetime, end: datetime) -> list[Logged]:
        """Alerts raised in ``[start, end)``, oldest first (for the digest)."""
        return self._select(
            "WHERE at >= ? AND at < ? ORDER BY at", (start.isoformat(), end.isoformat())
        )

    def open_problems(self) -> list[OpenProblem]:
        """Problems stored without their recovery (a restart resumes them)."""
        with self._locked() as db:
            rows = db.execute(
                "SELECT device, condition, since FROM alerts p WHERE edge = 'problem'"
                " AND NOT EXISTS (SELECT 1 FROM alerts r WHERE r.edge = 'recovered'"
                " AND r.device = p.device AND r.condition = p.condition AND r.since = p.since)"
            ).fetchall()
        return [OpenProblem(d, c, datetime.fromisoformat(s)) for d, c, s in rows]

    def digest_sent(self, day: str) -> bool:
        """Whether the digest of ``day`` (ISO date) went out (or was given up)."""
        with self._locked() as db:
            row = db.execute("SELECT 1 FROM digests WHERE day = ?", (day,)).fetchone()
        return row is not None

    def record_digest(self, day: str, at: datetime, outcome: str) -> None:
        """Note the digest of ``day`` as done."""
        with self._locked() as db:
            db.execute(
                "INSERT OR REPLACE INTO digests (day, sent_at, outcome) VALUES (?, ?, ?)",
                (day, at.isoformat(), outcome),
            )

    def _select(self, where: str, params: tuple[Any, ...] = ()) -> list[Logged]:
        with self._locked() as db:
            rows = db.execute(
                "SELECT device, kind, condition, edge, at, since, reason, name, grp, status,"
                f" channels, attempts, next_try, sent_at FROM alerts {where}",
                params,
            ).fetchall()
        found = []
        for row in rows:
            device, kind, condition, edge, at, since, reason, name, grp = row[:9]
            status, channels, attempts, next_try, sent_at = row[9:]
            condition_: Condition = condition
            edge_: Edge = edge
            alert = Alert(
                device,
                kind,
                condition_,
                edge_,
                datetime.fromisoformat(at),
                datetime.fromisoformat(since),
                reason,
                name,
                grp,
            )
            found.append(
                Logged(
                    alert,
                    status,
                    json.loads(channels),
                    attempts,
                    datetime.fromisoformat(next_try) if next_try else None,
                    datetime.fromisoformat(sent_at) if sent_at else None,
                )
            )
        return found
