"""Messages, their audit trail and proof of delivery, in SQLite (WAL).

Every change to a message is one transaction that writes the message and an audit row
(who, when, what: the message before and after). The schema is versioned with
``PRAGMA user_version``; a database from an older version is migrated on open.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scheduler.model import Kind, Message

log = logging.getLogger("onthaal.scheduler")

# Each entry upgrades the schema by one version. Never edit a released entry: add one.
MIGRATIONS: tuple[str, ...] = (
    # 1: messages and their audit trail
    """
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        before TEXT,
        after TEXT
    );
    """,
    # 2: proof of delivery per device
    """
    CREATE TABLE deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        device TEXT NOT NULL,
        content_id TEXT NOT NULL,
        at TEXT NOT NULL,
        ok INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        error TEXT
    );
    CREATE INDEX deliveries_device ON deliveries (device, seq);
    """,
    # 3: counters the metrics read (a scrape no longer counts the whole table), and the
    # index proof-of-play reports and the retention read by
    """
    CREATE TABLE delivery_counts (
        device TEXT NOT NULL,
        ok INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (device, ok)
    );
    INSERT INTO delivery_counts (device, ok, n)
        SELECT device, ok, COUNT(*) FROM deliveries GROUP BY device, ok;
    CREATE INDEX deliveries_at ON deliveries (at);
    """,
)


class StoreError(Exception):
    """A change the store refuses (unknown id, duplicate id)."""


class DatabaseUnusable(Exception):
    """A database file exists but is not one Onthaal can use; the message names it."""


_SQLITE_HEADER = b"SQLite format 3\x00"


def private_database(path: Path | str) -> None:
    """Make ``path`` a file only its owner reads (0600), in a folder Onthaal makes 0700.

    Accounts, password hashes, the session key and the schedule are nobody else's on
    the machine. SQLite gives its ``-wal`` and ``-shm`` files the database's mode.
    """
    if str(path) == ":memory:":
        return
    file = Path(path)
    if not file.parent.exists():
        file.parent.mkdir(mode=0o700, parents=True)
    if not file.exists():
        os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o600))
    for part in (file, file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")):
        if part.exists() and part.stat().st_mode & 0o077 and part.stat().st_uid == os.getuid():
            part.chmod(0o600)


def check_database_file(path: Path | str) -> None:
    """Refuse a file that is there but is no Onthaal database (never replace it).

    A zero-byte file used to be taken silently as a new empty database: every message,
    account or audit entry gone without a word. A damaged file (garbage pages, cut off
    mid-page) gave tracebacks or a crash loop; another program's database would have had
    Onthaal's tables added to it. Each is refused with one line naming the file. Missing
    files are fine (created).
    """
    if str(path) == ":memory:":
        return
    file = Path(path)
    if file.is_dir():
        raise DatabaseUnusable(f"{file}: is a folder, not a database file")
    if not file.exists():
        return
    size = file.stat().st_size
    if size == 0:
        raise DatabaseUnusable(
            f"{file}: is empty (0 bytes), not a database; Onthaal will not treat it as a new "
            "one. Restore it from a backup, or remove it to start with no data"
        )
    with file.open("rb") as handle:
        if handle.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            raise DatabaseUnusable(f"{file}: is not an SQLite database; not opened, not changed")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as db:
            verdict = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        verdict, version, tables = str(exc), None, None
    if verdict != "ok":
        raise DatabaseUnusable(
            f"{file}: is damaged ({str(verdict)[:120]}); not opened, not changed. Restore it "
            "from a backup (onthaal restore)"
        )
    if version == 0 and tables:
        raise DatabaseUnusable(
            f"{file}: is another program's SQLite database (it has tables, none of "
            "Onthaal's); not opened, not changed"
        )


@dataclass(frozen=True)
class AuditEntry:
    """One change to one message."""

    seq: int
    message_id: str
    actor: str
    at: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class Delivery:
    """What a device was given, when, and how it went."""

    device: str
    content_id: str
    at: str
    ok: bool
    attempts: int
    error: str | None


class Store:
    """The schedule database."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout: float = 5.0,
        any_thread: bool = False,
        check: bool = True,
    ) -> None:
        """Open ``path`` (created and migrated as needed; ``":memory:"`` for tests).

        ``busy_timeout``: real seconds a call waits for a database another program holds
        locked before it raises ``sqlite3.OperationalError`` (keep it short on a loop
        the robot shares). ``any_thread``: the connection may be used from worker
        threads, one at a time (the caller serialises). ``check``: refuse an empty,
        damaged or foreign file first (:func:`check_database_file`; a second connection
        to a file already opened skips it).
        """
        if check:
            check_database_file(path)
        private_database(path)
        self._path = str(path)
        self._db = sqlite3.connect(
            str(path), isolation_level=None, timeout=busy_timeout, check_same_thread=not any_thread
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._listeners: list[Callable[[], None]] = []
        self._damaged: set[str] = set()
        self.migrate()

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Bring the schema up to date, one version per transaction.

        Each step takes the write lock first and reads the version under it: another
        process opening the same new file at the same moment (``onthaal schedule`` while
        ``onthaal run`` starts) waits, then finds the step done, instead of failing on
        "table messages already exists".
        """
        while self.schema_version < len(MIGRATIONS):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                version = self.schema_version
                if version >= len(MIGRATIONS):
                    self._db.execute("COMMIT")
                    break
                # executescript would COMMIT first; run the step's statements one by one
                for statement in _statements(MIGRATIONS[version]):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {version + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every change made through this store."""
        self._listeners.append(callback)

    def data_version(self) -> int:
        """Changes when another connection (another process) wrote to the database."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    # -- messages --------------------------------------------------------------------------

    def add(self, message: Message, actor: str, at: datetime) -> Message:
        """Store a new message; raises :class:`StoreError` if its id is taken."""
        message = message.model_copy(update={"version": 1, "updated": at})
        try:
            self._write(message, actor, at, "create", None, insert=True)
        except sqlite3.IntegrityError:
            raise StoreError(f"a message with id {message.id!r} already exists") from None
        return message

    def update(self, message: Message, actor: str, at: datetime) -> Message:
        """Replace a message (its version goes up by one)."""
        before = self.get(message.id)
        message = message.model_copy(update={"version": before.version + 1, "updated": at})
        self._write(message, actor, at, "update", before, insert=False)
        return message

    def delete(self, message_id: str, actor: str, at: datetime, action: str = "delete") -> None:
        """Delete a message (kept in the audit trail), a damaged one too.

        ``action``: how the audit trail names it ("emergency-end" when the reception
        desk ends an emergency: staff read "noodmelding beëindigd", not "deleted").
        """
        try:
            before: Message | None = self.get(message_id)
        except StoreError:
            if not self.exists(message_id):
                raise
            before = None  # damaged: the audit keeps no copy of what cannot be read
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("UPDATE messages SET deleted = 1 WHERE id = ?", (message_id,))
            self._audit(message_id, actor, at, action, before, None)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._changed()

    def restore(self, message_id: str, actor: str, at: datetime, within: timedelta) -> Message:
        """Undo the deletion of a message deleted less than ``within`` ago (an undo
        button, not an archive); raises :class:`StoreError` otherwise."""
        row = self._db.execute(
            "SELECT body FROM messages WHERE id = ? AND deleted = 1", (message_id,)
        ).fetchone()
        deleted = self._db.execute(
            "SELECT at FROM audit WHERE message_id = ? AND action = 'delete' "
            "ORDER BY seq DESC LIMIT 1",
            (message_id,),
        ).fetchone()
        if row is None or deleted is None:
            raise StoreError(f"no deleted message {message_id!r} to bring back")
        if datetime.fromisoformat(deleted[0]) < at - within:
            raise StoreError(f"{message_id!r} was deleted too long ago to undo")
        message = self._load(message_id, row[0])
        if message is None:
            raise StoreError(f"{message_id!r} cannot be read any more; add it again")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("UPDATE messages SET deleted = 0 WHERE id = ?", (message_id,))
            self._audit(message_id, actor, at, "restore", None, message)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._changed()
        return message

    def exists(self, message_id: str) -> bool:
        """Whether a message with this id is stored (readable or not)."""
        row = self._db.execute(
            "SELECT 1 FROM messages WHERE id = ? AND deleted = 0", (message_id,)
        ).fetchone()
        return row is not None

    def end_emergencies(self, actor: str, at: datetime) -> int:
        """Delete every emergency notice; how many there were."""
        active = [m for m in self.messages() if m.kind is Kind.EMERGENCY]
        for message in active:
            self.delete(message.id, actor, at, ending(message))
        return len(active)

    def get(self, message_id: str) -> Message:
        """A message by id; raises :class:`StoreError` if there is none (or it is damaged)."""
        row = self._db.execute(
            "SELECT body FROM messages WHERE id = ? AND deleted = 0", (message_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"no message {message_id!r}")
        message = self._load(message_id, row[0])
        if message is None:
            raise StoreError(
                f"message {message_id!r} in {self._path} no longer passes the rules it was "
                "checked by; it is not shown. Delete it (and add it again)"
            )
        return message

    def messages(self) -> list[Message]:
        """Every message that is not deleted, by id (damaged ones left out, and logged)."""
        rows = self._db.execute("SELECT id, body FROM messages WHERE deleted = 0 ORDER BY id")
        return [m for i, body in rows if (m := self._load(i, body)) is not None]

    def _load(self, message_id: str, body: str) -> Message | None:
        """A stored message, or None (logged once) if it fails today's rules.

        A message stored by an older version, or written into the file by hand, may not
        pass: one such row must not break every list for everyone (it did: a time at the
        end of the calendar made every page of messages a 500).
        """
        try:
            return Message.model_validate_json(body)
        except ValueError as exc:  # pydantic's ValidationError is one
            if message_id not in self._damaged:
                self._damaged.add(message_id)
                log.warning(
                    "message %r in %s is left out: %s",
                    message_id,
                    self._path,
                    str(exc).splitlines()[:3],
                )
            return None

    def reader(self, *, any_thread: bool = False) -> Store:
        """Another connection to the same database, for reading on another thread.

        WAL lets it read while this one writes. For ``":memory:"`` there is no other
        connection to the same data: this store itself.
        """
        if self._path == ":memory:":
            return self
        return Store(self._path, busy_timeout=2.0, any_thread=any_thread, check=False)

    @property
    def in_memory(self) -> bool:
        """Whether this is a ``":memory:"`` database (no second connection can see it)."""
        return self._path == ":memory:"

    def page(
        self,
        *,
        kind: Kind | None = None,
        target: str | None = None,
        after: str | None = None,
        limit: int = 100,
        keep: Callable[[Message], bool] | None = None,
    ) -> tuple[list[Message], int | None]:
        """Up to ``limit`` messages with an id after ``after``, filtered in SQL.

        ``kind`` and ``target`` (a display, beacon or group id) are matched by SQLite;
        ``keep`` is a further test in Python (a moment a message must be active at).
        Returns the page and, without ``keep``, how many match in all (else None).
        """
        where = ["deleted = 0"]
        args: list[Any] = []
        if kind is not None:
            where.append("json_extract(body, '$.kind') = ?")
            args.append(kind.value)
        if target is not None:
            where.append(
                "EXISTS (SELECT 1 FROM json_each(body, '$.targets.displays') WHERE value = ?"
                " UNION ALL SELECT 1 FROM json_each(body, '$.targets.beacons') WHERE value = ?"
                " UNION ALL SELECT 1 FROM json_each(body, '$.targets.groups') WHERE value = ?)"
            )
            args.extend([target] * 3)
        condition = " AND ".join(where)
        total = (
            None
            if keep is not None
            else int(
                self._db.execute(
                    f"SELECT count(*) FROM messages WHERE {condition}", args
                ).fetchone()[0]
            )
        )
        found: list[Message] = []
        cursor = after
        while len(found) < limit:
            batch = self._db.execute(
                f"SELECT id, body FROM messages WHERE {condition}"
                + (" AND id > ?" if cursor is not None else "")
                + " ORDER BY id LIMIT ?",
                [*args, *([cursor] if cursor is not None else []), limit],
            ).fetchall()
            if not batch:
                break
            for message_id, body in batch:
                cursor = message_id
                message = self._load(message_id, body)
                if message is None:
                    continue
                if keep is None or keep(message):
                    found.append(message)
                    if len(found) == limit:
                        break
        return found, total

    def audit(self, message_id: str | None = None) -> list[AuditEntry]:
        """The audit trail, oldest first (of one message, or of all)."""
        query = "SELECT seq, message_id, actor, at, action, before, after FROM audit"
        params: tuple[str, ...] = ()
        if message_id is not None:
            query += " WHERE message_id = ?"
            params = (message_id,)
        return [
            AuditEntry(
                seq,
                mid,
                actor,
                at,
                action,
                json.loads(before) if before else None,
                json.loads(after) if after else None,
            )
            for seq, mid, actor, at, action, before, after in self._db.execute(
                query + " ORDER BY seq", params
            )
        ]

    def _write(
        self,
        message: Message,
        actor: str,
        at: datetime,
        action: str,
        before: Message | None,
        *,
        insert: bool,
    ) -> None:
        body = message.model_dump_json()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if insert:
                existing = self._db.execute(
                    "SELECT deleted FROM messages WHERE id = ?", (message.id,)
                ).fetchone()
                if existing is not None and existing[0]:
                    self._db.execute("DELETE FROM messages WHERE id = ?", (message.id,))
                self._db.execute(
                    "INSERT INTO messages (id, body) VALUES (?, ?)", (message.id, body)
                )
            else:
                self._db.execute("UPDATE messages SET body = ? WHERE id = ?", (body, message.id))
            self._audit(message.id, actor, at, action, before, message)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._changed()

    def _audit(
        self,
        message_id: str,
        actor: str,
        at: datetime,
        action: str,
        before: Message | None,
        after: Message | None,
    ) -> None:
        self._db.execute(
            "INSERT INTO audit (message_id, actor, at, action, before, after)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                message_id,
                actor,
                at.isoformat(),
                action,
                before.model_dump_json() if before else None,
                after.model_dump_json() if after else None,
            ),
        )

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    # -- deliveries ------------------------------------------------------------------------

    def record_delivery(
        self,
        device: str,
        content_id: str,
        at: datetime,
        *,
        ok: bool,
        attempts: int = 1,
        error: str | None = None,
    ) -> None:
        """Record what a device was given (proof of play) or why it failed."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT INTO deliveries (device, content_id, at, ok, attempts, error)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (device, content_id, at.astimezone(UTC).isoformat(), int(ok), attempts, error),
            )
            self._db.execute(
                "INSERT INTO delivery_counts (device, ok, n) VALUES (?, ?, 1)"
                " ON CONFLICT (device, ok) DO UPDATE SET n = n + 1",
                (device, int(ok)),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def delivery_counts(self) -> dict[tuple[str, bool], int]:
        """Per (device, ok): how many deliveries were ever recorded (a counter: pruning
        old records does not lower it). One row per device and outcome is read."""
        rows = self._db.execute("SELECT device, ok, n FROM delivery_counts")
        return {(device, bool(ok)): n for device, ok, n in rows}

    def deliveries_between(
        self, start: datetime, end: datetime, device: str | None = None
    ) -> list[Delivery]:
        """Confirmed deliveries in ``[start, end)``, oldest first, each device's last one
        before ``start`` too (what it was showing when the period began)."""
        # Stored as UTC ISO text (the clock's): compared as text, so asked in UTC too.
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        where, params = "ok = 1 AND at < ?", [end.isoformat()]
        if device is not None:
            where += " AND device = ?"
            params.append(device)
        rows = self._db.execute(
            "SELECT device, content_id, at, ok, attempts, error FROM deliveries"
            f" WHERE {where} AND (at >= ? OR seq IN (SELECT MAX(seq) FROM deliveries"
            " WHERE ok = 1 AND at < ? GROUP BY device)) ORDER BY seq",
            (*params, start.isoformat(), start.isoformat()),
        )
        return [Delivery(d, c, at, bool(ok), n, error) for d, c, at, ok, n, error in rows]

    def prune_deliveries(self, before: datetime) -> int:
        """Forget delivery records older than ``before`` (the retention), except each
        device's newest confirmed one (what it shows may be older). How many went."""
        cursor = self._db.execute(
            "DELETE FROM deliveries WHERE at < ? AND seq NOT IN"
            " (SELECT MAX(seq) FROM deliveries WHERE ok = 1 GROUP BY device)",
            (before.astimezone(UTC).isoformat(),),
        )
        return cursor.rowcount

    def deliveries(self, device: str | None = None) -> list[Delivery]:
        """Delivery records, oldest first."""
        query = "SELECT device, content_id, at, ok, attempts, error FROM deliveries"
        params: tuple[str, ...] = ()
        if device is not None:
            query += " WHERE device = ?"
            params = (device,)
        return [
            Delivery(d, c, at, bool(ok), attempts, error)
            for d, c, at, ok, attempts, error in self._db.execute(query + " ORDER BY seq", params)
        ]


def _statements(script: str) -> list[str]:
    """The SQL statements of a migration script (they hold no ';' inside strings)."""
    return [part.strip() for part in script.split(";") if part.strip()]


def ending(message: Message) -> str:
    """The audit action for ending ``message`` early: an emergency's (or a drill's) end."""
    if message.kind is Kind.EMERGENCY:
        return "drill-end" if message.drill else "emergency-end"
    return "delete"
