"""A durable outbox for display content: written before publishing, kept until acked.

SQLite in WAL mode. Accepting new content for a display supersedes what was still
pending for it (the newest content is what the display must end up showing); the older
row stays as history, marked superseded, so nothing disappears without a trace. Rows
are acknowledged only by the display's own ack of that content id.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_MIGRATIONS = (
    """
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        display TEXT NOT NULL,
        content_id TEXT NOT NULL,
        payload BLOB NOT NULL,
        accepted_at TEXT NOT NULL,
        published_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        acked_at TEXT,
        superseded_by INTEGER
    );
    CREATE INDEX outbox_pending ON outbox (display) WHERE acked_at IS NULL
        AND superseded_by IS NULL;
    """,
)


@dataclass(frozen=True)
class OutboxItem:
    """One piece of content for one display."""

    seq: int
    display: str
    content_id: str
    payload: bytes
    accepted_at: str
    published_at: str | None
    attempts: int
    acked_at: str | None


class Outbox:
    """The outbox in one SQLite file (``":memory:"`` for a throwaway one)."""

    def __init__(self, path: Path | str, *, busy_timeout: float = 5.0) -> None:
        """Open (and create or migrate) the outbox at ``path``.

        ``busy_timeout``: real seconds a write waits for a database another program holds
        before it raises ``sqlite3.OperationalError`` (short on the robot's loop; the
        caller tries again later).
        """
        if str(path) != ":memory:":
            # What screens are told is nobody else's to read on the machine: 0600 in a
            # folder made 0700 (as scheduler.store.private_database does; beacons does
            # not import the scheduler).
            file = Path(path)
            if not file.parent.exists():
                file.parent.mkdir(mode=0o700, parents=True)
            if not file.exists():
                os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=busy_timeout)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes
        self._migrate()

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def accept(self, items: Iterable[tuple[str, str, bytes]], at: datetime) -> list[int]:
        """Store ``(display, content_id, payload)`` items in one transaction; their seqs.

        Anything still pending for the same display is marked superseded by the new row.
        """
        seqs: list[int] = []
        with self._transaction():
            for display, content_id, payload in items:
                cursor = self._db.execute(
                    "INSERT INTO outbox (display, content_id, payload, accepted_at)"
                    " VALUES (?, ?, ?, ?)",
                    (display, content_id, payload, at.isoformat()),
                )
                seq = cursor.lastrowid
                assert seq is not None
                self._db.execute(
                    "UPDATE outbox SET superseded_by = ? WHERE display = ? AND seq < ?"
                    " AND acked_at IS NULL AND superseded_by IS NULL",
                    (seq, display, seq),
                )
                seqs.append(seq)
        return seqs

    def pending(self, display: str | None = None) -> list[OutboxItem]:
        """What still waits for an ack (one item per display at most), oldest first."""
        query = f"SELECT {_COLUMNS} FROM outbox WHERE acked_at IS NULL AND superseded_by IS NULL"
        params: tuple[str, ...] = ()
        if display is not None:
            query += " AND display = ?"
            params = (display,)
        return [OutboxItem(*row) for row in self._db.execute(query + " ORDER BY seq", params)]

    def current(self, display: str) -> OutboxItem | None:
        """The content ``display`` should show: the newest item not superseded."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE display = ? AND superseded_by IS NULL"
            " ORDER BY seq DESC LIMIT 1",
            (display,),
        ).fetchone()
        return OutboxItem(*row) if row is not None else None

    def mark_published(self, seq: int, at: datetime) -> None:
        """Record one more publish attempt of ``seq``."""
        self._db.execute(
            "UPDATE outbox SET published_at = ?, attempts = attempts + 1 WHERE seq = ?",
            (at.isoformat(), seq),
        )

    def acknowledge(self, display: str, content_id: str, at: datetime) -> bool:
        """Mark the pending item of ``display`` with ``content_id`` acked; whether one was."""
        cursor = self._db.execute(
            "UPDATE outbox SET acked_at = ? WHERE display = ? AND content_id = ?"
            " AND acked_at IS NULL AND superseded_by IS NULL",
            (at.isoformat(), display, content_id),
        )
        return cursor.rowcount > 0

    def history(self, display: str) -> list[OutboxItem]:
        """Every item ever accepted for ``display``, oldest first (proof of delivery)."""
        return [
            OutboxItem(*row)
            for row in self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE display = ? ORDER BY seq", (display,)
            )
        ]

    def last_acked(self) -> dict[str, OutboxItem]:
        """Per display, the newest acknowledged item."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE seq IN (SELECT MAX(seq) FROM outbox"
            " WHERE acked_at IS NOT NULL GROUP BY display)"
        )
        return {item.display: item for item in (OutboxItem(*row) for row in rows)}

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


_COLUMNS = "seq, display, content_id, payload, accepted_at, published_at, attempts, acked_at"


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
