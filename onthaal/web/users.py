"""Staff accounts and integrator tokens, in SQLite.

Passwords are stored as Argon2id hashes (argon2-cffi). API tokens are random 32-byte
secrets shown once; only their SHA-256 is stored (a token has full entropy, so a fast
hash is enough and lets a request be checked with one indexed lookup). Roles, each with
what the one before may do: ``staff`` schedules messages; ``desk`` (the reception desk)
also raises and ends emergencies; ``admin`` also manages users and tokens.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from scheduler.store import check_database_file, private_database

log = logging.getLogger("onthaal.web.users")

Role = Literal["staff", "desk", "admin"]
ROLES: tuple[Role, ...] = ("staff", "desk", "admin")  # each may do what the one before may
MIN_PASSWORD = 10

_SCHEMA = (
    """
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password TEXT NOT NULL,
        language TEXT NOT NULL DEFAULT 'nl'
    );
    CREATE TABLE tokens (
        digest TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        role TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # Sessions are signed cookies; this number, in the cookie and here, lets the server
    # end them (logout, a new password): a cookie of an earlier epoch is no longer valid.
    "ALTER TABLE users ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;",
    "ALTER TABLE tokens ADD COLUMN expires TEXT;",  # ISO instant; NULL: never
    """
    CREATE TABLE security_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        subject TEXT NOT NULL,
        client TEXT NOT NULL
    );
    """,
)
#: Entries the security log keeps (the oldest go first): a flood of failed sign-ins
#: must not fill the disk.
SECURITY_LOG_KEEP = 100_000


#: Hex digits of a token's digest that name it in lists and revocations.
TOKEN_ID = 12


@dataclass(frozen=True)
class TokenInfo:
    """An API token as staff see it: never the token itself."""

    id: str
    label: str
    role: str
    created: str
    expires: str | None


class UserError(ValueError):
    """A user change that is refused; the message says why."""


@dataclass(frozen=True)
class User:
    """Someone (or some integration) acting on Onthaal."""

    name: str
    role: Role
    language: str = "nl"
    epoch: int = 0  # sessions of an earlier epoch are over

    @property
    def is_admin(self) -> bool:
        """Whether the user may manage users and tokens."""
        return self.role == "admin"

    def has(self, role: Role) -> bool:
        """Whether the user may do what ``role`` may (a higher role may do it all)."""
        return ROLES.index(self.role) >= ROLES.index(role) if self.role in ROLES else False


class Users:
    """The account database."""

    def __init__(self, path: Path | str) -> None:
        """Open (and create) the database at ``path``; refuses a file that is not one."""
        check_database_file(path)
        private_database(path)  # password hashes and the session key: 0600
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        for number, script in enumerate(_SCHEMA[version:], start=version + 1):
            self._db.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")
        self._hasher = PasswordHasher()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def secret(self) -> str:
        """The key that signs session cookies (made once, kept in the database)."""
        row = self._db.execute("SELECT value FROM settings WHERE key = 'session-key'").fetchone()
        if row is not None:
            return str(row[0])
        key = secrets.token_urlsafe(48)
        self._db.execute("INSERT INTO settings (key, value) VALUES ('session-key', ?)", (key,))
        return key

    def add(self, name: str, password: str, role: Role, language: str = "nl") -> User:
        """Create a user; raises :class:`UserError` (taken name, weak password, bad role)."""
        _check(name, password, role)
        try:
            self._db.execute(
                "INSERT INTO users (name, role, password, language) VALUES (?, ?, ?, ?)",
                (name, role, self._hasher.hash(password), language),
            )
        except sqlite3.IntegrityError:
            raise UserError(f"user {name!r} already exists") from None
        return User(name, role, language)

    def set_password(self, name: str, password: str) -> None:
        """Change a password."""
        _check(name, password, "staff")
        cursor = self._db.execute(
            "UPDATE users SET password = ?, epoch = epoch + 1 WHERE name = ?",
            (self._hasher.hash(password), name),
        )  # a new password ends every session of the old one
        if cursor.rowcount == 0:
            raise UserError(f"no user {name!r}")

    def end_sessions(self, name: str | None = None) -> None:
        """End every session of ``name``, or of everyone (their cookies stop working)."""
        if name is None:
            self._db.execute("UPDATE users SET epoch = epoch + 1")
        else:
            self._db.execute("UPDATE users SET epoch = epoch + 1 WHERE name = ?", (name,))

    def set_language(self, name: str, language: str) -> None:
        """The interface language of a user (nl or en)."""
        self._db.execute("UPDATE users SET language = ? WHERE name = ?", (language, name))

    def remove(self, name: str) -> None:
        """Delete a user; never the last admin (nobody could manage users after)."""
        admins = [n for (n,) in self._db.execute("SELECT name FROM users WHERE role = 'admin'")]
        if admins == [name]:
            raise UserError(f"{name!r} is the last admin; make another admin first")
        self._db.execute("DELETE FROM users WHERE name = ?", (name,))

    def get(self, name: str) -> User | None:
        """A user by name."""
        row = self._db.execute(
            "SELECT name, role, language, epoch FROM users WHERE name = ?", (name,)
        ).fetchone()
        return User(row[0], row[1], row[2], row[3]) if row else None

    def all(self) -> list[User]:
        """Every user, by name."""
        rows = self._db.execute("SELECT name, role, language FROM users ORDER BY name")
        return [User(n, r, lang) for n, r, lang in rows]

    def check_password(self, name: str, password: str) -> User | None:
        """The user if ``password`` is right, else None (same work either way)."""
        row = self._db.execute(
            "SELECT password, role, language, epoch FROM users WHERE name = ?", (name,)
        ).fetchone()
        stored = row[0] if row else _DUMMY_HASH
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self._hasher.check_needs_rehash(stored):
            self._db.execute(
                "UPDATE users SET password = ? WHERE name = ?", (self._hasher.hash(password), name)
            )
        return User(name, row[1], row[2], row[3])

    def note(self, action: str, actor: str, subject: str, client: str, at: datetime) -> None:
        """Write one entry of the security log: who did what to whom, from where.

        Sign-ins and their failures, sign-outs, and every change to accounts and tokens.
        Never a password or a token; names are cut to 64 characters.
        """
        cursor = self._db.execute(
            "INSERT INTO security_log (at, action, actor, subject, client) VALUES (?, ?, ?, ?, ?)",
            (at.isoformat(), action, actor[:64], subject[:64], client[:64]),
        )
        if cursor.lastrowid is not None and cursor.lastrowid % 1000 == 0:
            self._db.execute(
                "DELETE FROM security_log WHERE seq <= ?", (cursor.lastrowid - SECURITY_LOG_KEEP,)
            )
        log.info("security: %s", action, extra={"actor": actor[:64], "subject": subject[:64],
                                                  "client": client[:64]})  # fmt: skip

    def security_log(self, limit: int = 200) -> list[dict[str, str]]:
        """The newest entries of the security log, newest first."""
        rows = self._db.execute(
            "SELECT at, action, actor, subject, client FROM security_log ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        keys = ("at", "action", "actor", "subject", "client")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def create_token(
        self, label: str, role: Role, at: datetime, expires: datetime | None = None
    ) -> str:
        """A new API token for an integration; returned once, stored hashed."""
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        if not label.strip() or len(label) > 64:
            raise UserError("a token's label is 1 to 64 characters (what it is for)")
        if expires is not None and expires <= at:
            raise UserError("a token must expire after it is made")
        token = "onthaal_" + secrets.token_urlsafe(32)
        self._db.execute(
            "INSERT INTO tokens (digest, label, role, created, expires) VALUES (?, ?, ?, ?, ?)",
            (_digest(token), label, role, at.isoformat(), expires.isoformat() if expires else None),
        )
        return token

    def tokens(self) -> list[TokenInfo]:
        """Every API token (never the token itself: only its id, a digest's start)."""
        rows = self._db.execute(
            "SELECT digest, label, role, created, expires FROM tokens ORDER BY created"
        )
        return [TokenInfo(d[:TOKEN_ID], label, role, c, e) for d, label, role, c, e in rows]

    def revoke_token(self, token_id: str) -> bool:
        """Revoke the token whose id is ``token_id``; whether there was one."""
        if len(token_id) != TOKEN_ID or not all(c in "0123456789abcdef" for c in token_id):
            return False
        cursor = self._db.execute("DELETE FROM tokens WHERE substr(digest, 1, ?) = ?",
                                  (TOKEN_ID, token_id))  # fmt: skip
        return cursor.rowcount > 0

    def user_for_token(self, token: str, now: datetime | None = None) -> User | None:
        """Who a bearer token belongs to (None: unknown, revoked or expired)."""
        row = self._db.execute(
            "SELECT label, role, expires FROM tokens WHERE digest = ?", (_digest(token),)
        ).fetchone()
        if row is None:
            return None
        if row[2] is not None and datetime.fromisoformat(row[2]) <= (now or datetime.now(UTC)):
            return None
        return User(f"token:{row[0]}", row[1], "en")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _check(name: str, password: str, role: str) -> None:
    # ASCII only: 'isalnum' let in full-width look-alikes of real names ('ａｄｍｉｎ'),
    # which the audit trail and the security log then showed as if they were them.
    if not _NAME.match(name):
        raise UserError(
            "a user name is 1-64 lower-case letters a-z, digits, '.', '-' or '_', "
            "starting with a letter or digit"
        )
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")


_DUMMY_HASH = PasswordHasher().hash("not a real password, for timing only")
