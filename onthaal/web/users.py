"""Staff accounts and integrator tokens, in SQLite.

Passwords are stored as Argon2id hashes (argon2-cffi). API tokens are random 32-byte
secrets shown once; only their SHA-256 is stored (a token has full entropy, so a fast
hash is enough and lets a request be checked with one indexed lookup). Roles, each with
what the one before may do: ``staff`` schedules messages; ``desk`` (the reception desk)
also raises and ends emergencies; ``admin`` also manages users and tokens.

An admin never sees or chooses anyone's password: a new account, and a reset one, gets a
one-time set-password link (:data:`LINK_HOURS` valid, single use, stored as its SHA-256
like a token). A reset makes the old password stop working at once and ends the
account's sessions. A disabled account cannot sign in, its sessions end, and the API
tokens it owns stop working (tokens with no owner are integrations', not a person's).
Every change to an account or a token is kept in the account audit trail
(:meth:`Users.account_audit`), which, unlike the security log, is never trimmed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from scheduler.store import check_database_file, private_database

log = logging.getLogger("onthaal.web.users")

Role = Literal["staff", "desk", "admin"]
ROLES: tuple[Role, ...] = ("staff", "desk", "admin")  # each may do what the one before may
MIN_PASSWORD = 10
MAX_PASSWORD = 200
#: How long a set-password link (a new account's, or a reset) can be used.
LINK_HOURS = 72
#: A token's last use is written at most this often (not one write per request).
LAST_USED_EVERY = timedelta(minutes=1)

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
    # Users in the web app (#23): disabled accounts, when each last signed in, whose a
    # token is and when it was last used, set-password links, and the account audit
    # trail. The last sign-in of existing accounts comes from the security log.
    """
    ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN last_sign_in TEXT;
    ALTER TABLE tokens ADD COLUMN owner TEXT;
    ALTER TABLE tokens ADD COLUMN last_used TEXT;
    CREATE INDEX tokens_owner ON tokens (owner);
    CREATE TABLE password_links (
        digest TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        made TEXT NOT NULL,
        expires TEXT NOT NULL
    );
    CREATE TABLE account_audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    UPDATE users SET last_sign_in = (
        SELECT max(at) FROM security_log WHERE action = 'sign-in' AND subject = users.name
    );
    """,
)
#: Entries the security log keeps (the oldest go first): a flood of failed sign-ins
#: must not fill the disk.
SECURITY_LOG_KEEP = 100_000


#: Hex digits of a token's digest that name it in lists and revocations.
TOKEN_ID = 12

#: What the account audit trail records (``action``).
ACCOUNT_ACTIONS = (
    "user-add", "role-change", "password-reset", "password-set", "password-change",
    "disable", "enable", "user-remove", "token-create", "token-revoke", "session-key-rotate",
)  # fmt: skip


@dataclass(frozen=True)
class TokenInfo:
    """An API token as staff see it: never the token itself."""

    id: str
    label: str
    role: str
    created: str
    expires: str | None
    owner: str | None = None  # the account it belongs to (None: an integration's)
    last_used: str | None = None  # ISO instant, to the minute; None: never used (or unknown)


class UserError(ValueError):
    """A user change that is refused; the message says why.

    ``code`` names the reason for the web app's words (``ui.toml``: ``user_error_<code>``),
    ``values`` what those words may name.
    """

    def __init__(self, text: str, code: str = "invalid", **values: str) -> None:
        """A refusal saying ``text`` (English; the web app words it per language)."""
        super().__init__(text)
        self.code = code
        self.values = values


@dataclass(frozen=True)
class User:
    """Someone (or some integration) acting on Onthaal."""

    name: str
    role: Role
    language: str = "nl"
    epoch: int = 0  # sessions of an earlier epoch are over
    disabled: bool = False

    @property
    def is_admin(self) -> bool:
        """Whether the user may manage users and tokens."""
        return self.role == "admin" and not self.disabled

    def has(self, role: Role) -> bool:
        """Whether the user may do what ``role`` may (a higher role may do it all)."""
        if self.disabled or self.role not in ROLES:
            return False
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class Account:
    """An account as an admin sees it in the list."""

    name: str
    role: Role
    language: str
    disabled: bool
    last_sign_in: str | None  # ISO instant; None: never (or before it was recorded)
    password_set: bool  # False: waiting for its set-password link
    link_expires: str | None  # an open set-password link's end


@dataclass(frozen=True)
class AccountEntry:
    """One change to an account or a token: who, when, what, for whom."""

    seq: int
    at: str  # ISO instant
    actor: str
    action: str  # one of ACCOUNT_ACTIONS
    subject: str  # the account's name, or the token's label
    detail: dict[str, Any] = field(default_factory=dict)  # roles, token id, link's end


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


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
        #: The time a token is checked and used at (the web app sets its clock's).
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def secret(self) -> str:
        """The key that signs session cookies (made once, kept in the database)."""
        row = self._db.execute("SELECT value FROM settings WHERE key = 'session-key'").fetchone()
        if row is not None:
            return str(row[0])
        key = secrets.token_urlsafe(48)
        self._db.execute("INSERT INTO settings (key, value) VALUES ('session-key', ?)", (key,))
        return key

    # -- passwords -------------------------------------------------------------------------

    def hash_password(self, name: str, password: str) -> str:
        """The Argon2 hash of ``password`` for ``name``, after the rules (slow: off the loop)."""
        _check_name(name)
        _check_password(password)
        return self._hasher.hash(password)

    def add(
        self,
        name: str,
        password: str | None,
        role: Role,
        language: str = "nl",
        *,
        hashed: str | None = None,
        actor: str | None = None,
        at: datetime | None = None,
    ) -> User:
        """Create a user; raises :class:`UserError` (taken name, weak password, bad role).

        ``password`` None (and no ``hashed``): the account has no usable password until
        it is set through a link (:meth:`invite`). With ``actor`` and ``at`` the change is
        written to the account audit trail in the same transaction.
        """
        _check_name(name)
        _check_role(role)
        if hashed is None and password is not None:
            hashed = self.hash_password(name, password)
        try:
            with self._transaction():
                self._db.execute(
                    "INSERT INTO users (name, role, password, language) VALUES (?, ?, ?, ?)",
                    (name, role, hashed or "", language),
                )
                self._audit(actor, at, "user-add", name, {"role": role})
        except sqlite3.IntegrityError:
            raise UserError(f"user {name!r} already exists", "taken", name=name) from None
        return User(name, role, language)

    def invite(
        self, name: str, role: Role, language: str, actor: str, at: datetime
    ) -> tuple[User, str, datetime]:
        """A new account without a password, and its one-time set-password link's token."""
        _check_name(name)
        _check_role(role)
        expires = at + timedelta(hours=LINK_HOURS)
        token = _link_token()
        try:
            with self._transaction():
                self._db.execute(
                    "INSERT INTO users (name, role, password, language) VALUES (?, ?, '', ?)",
                    (name, role, language),
                )
                self._new_link(name, token, at, expires)
                detail = {"role": role, "link_until": _utc(expires)}
                self._audit(actor, at, "user-add", name, detail)
        except sqlite3.IntegrityError:
            raise UserError(f"user {name!r} already exists", "taken", name=name) from None
        return User(name, role, language), token, expires

    def set_password(
        self,
        name: str,
        password: str | None = None,
        *,
        hashed: str | None = None,
        actor: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Change a password (ends every session of the old one, and any open link)."""
        if hashed is None:
            hashed = self.hash_password(name, password or "")
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE users SET password = ?, epoch = epoch + 1 WHERE name = ?", (hashed, name)
            )  # a new password ends every session of the old one
            if cursor.rowcount == 0:
                raise UserError(f"no user {name!r}", "no_user", name=name)
            self._db.execute("DELETE FROM password_links WHERE name = ?", (name,))
            self._audit(actor, at, "password-change", name, {})

    def reset_password(self, name: str, actor: str, at: datetime) -> tuple[str, datetime]:
        """Start over: the old password stops working now, the account's sessions end,
        and a one-time set-password link (its token, its end) replaces any earlier one.

        The account's API tokens keep working: they are listed and revoked on their own.
        """
        expires = at + timedelta(hours=LINK_HOURS)
        token = _link_token()
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE users SET password = '', epoch = epoch + 1 WHERE name = ?", (name,)
            )
            if cursor.rowcount == 0:
                raise UserError(f"no user {name!r}", "no_user", name=name)
            self._new_link(name, token, at, expires)
            self._audit(actor, at, "password-reset", name, {"link_until": _utc(expires)})
        return token, expires

    def _new_link(self, name: str, token: str, at: datetime, expires: datetime) -> None:
        self._db.execute("DELETE FROM password_links WHERE name = ?", (name,))
        self._db.execute(
            "INSERT INTO password_links (digest, name, made, expires) VALUES (?, ?, ?, ?)",
            (_digest(token), name, _utc(at), _utc(expires)),
        )

    def link_user(self, token: str, at: datetime) -> User | None:
        """Whose set-password link ``token`` is, while it can be used (else None)."""
        row = self._db.execute(
            "SELECT name, expires FROM password_links WHERE digest = ?", (_digest(token),)
        ).fetchone()
        if row is None or datetime.fromisoformat(row[1]) <= at:
            return None
        return self.get(row[0])

    def use_link(self, token: str, hashed: str, at: datetime) -> User:
        """Set the password of the link's account to ``hashed``; the link is used up.

        Raises :class:`UserError` (``link``) for a link that is unknown, used or expired.
        """
        with self._transaction():
            row = self._db.execute(
                "SELECT name, expires FROM password_links WHERE digest = ?", (_digest(token),)
            ).fetchone()
            if row is None or datetime.fromisoformat(row[1]) <= at:
                raise UserError("this link is unknown, used or expired", "link")
            name = str(row[0])
            self._db.execute("DELETE FROM password_links WHERE name = ?", (name,))
            self._db.execute(
                "UPDATE users SET password = ?, epoch = epoch + 1 WHERE name = ?", (hashed, name)
            )
            self._audit(name, at, "password-set", name, {})
        user = self.get(name)
        if user is None:  # removed in between: the link went with it
            raise UserError("this link is unknown, used or expired", "link")
        return user

    # -- roles, disabling, removing --------------------------------------------------------

    def _refuse_last_admin(self, name: str) -> None:
        """Refuse a change that would leave no enabled admin account."""
        row = self._db.execute(
            "SELECT role, disabled FROM users WHERE name = ?", (name,)
        ).fetchone()
        if row is None or row[0] != "admin" or row[1]:
            return
        (others,) = self._db.execute(
            "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND name != ?",
            (name,),
        ).fetchone()
        if others == 0:
            raise UserError(
                f"{name!r} is the last admin; make another admin first", "last_admin", name=name
            )

    def set_role(self, name: str, role: Role, actor: str, at: datetime) -> User:
        """Give ``name`` another role (never the last admin's away)."""
        _check_role(role)
        with self._transaction():
            before = self._db.execute("SELECT role FROM users WHERE name = ?", (name,)).fetchone()
            if before is None:
                raise UserError(f"no user {name!r}", "no_user", name=name)
            if before[0] != role:
                if role != "admin":
                    self._refuse_last_admin(name)
                self._db.execute("UPDATE users SET role = ? WHERE name = ?", (role, name))
                self._audit(actor, at, "role-change", name, {"from": before[0], "to": role})
        return self._must_get(name)

    def set_disabled(self, name: str, disabled: bool, actor: str, at: datetime) -> User:
        """Disable an account (it cannot sign in, its sessions end, its tokens stop
        working, an open set-password link is cancelled) or enable it again."""
        with self._transaction():
            row = self._db.execute("SELECT disabled FROM users WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise UserError(f"no user {name!r}", "no_user", name=name)
            if bool(row[0]) != disabled:
                if disabled:
                    self._refuse_last_admin(name)
                    self._db.execute(
                        "UPDATE users SET disabled = 1, epoch = epoch + 1 WHERE name = ?", (name,)
                    )
                    self._db.execute("DELETE FROM password_links WHERE name = ?", (name,))
                else:
                    self._db.execute("UPDATE users SET disabled = 0 WHERE name = ?", (name,))
                self._audit(actor, at, "disable" if disabled else "enable", name, {})
        return self._must_get(name)

    def end_sessions(self, name: str | None = None) -> None:
        """End every session of ``name``, or of everyone (their cookies stop working)."""
        if name is None:
            self._db.execute("UPDATE users SET epoch = epoch + 1")
        else:
            self._db.execute("UPDATE users SET epoch = epoch + 1 WHERE name = ?", (name,))

    def set_language(self, name: str, language: str) -> None:
        """The interface language of a user (nl or en)."""
        self._db.execute("UPDATE users SET language = ? WHERE name = ?", (language, name))

    def remove(self, name: str, *, actor: str | None = None, at: datetime | None = None) -> None:
        """Delete a user, its tokens and open link; never the last admin (nobody could
        manage users after). Raises :class:`UserError` for an unknown name."""
        with self._transaction():
            if self._db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None:
                raise UserError(f"no user {name!r}", "no_user", name=name)
            self._refuse_last_admin(name)
            self._db.execute("DELETE FROM users WHERE name = ?", (name,))
            self._db.execute("DELETE FROM tokens WHERE owner = ?", (name,))
            self._db.execute("DELETE FROM password_links WHERE name = ?", (name,))
            self._audit(actor, at, "user-remove", name, {})

    # -- reading ---------------------------------------------------------------------------

    _USER = "SELECT name, role, language, epoch, disabled FROM users"

    def get(self, name: str) -> User | None:
        """A user by name."""
        row = self._db.execute(self._USER + " WHERE name = ?", (name,)).fetchone()
        return User(row[0], row[1], row[2], row[3], bool(row[4])) if row else None

    def _must_get(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise UserError(f"no user {name!r}", "no_user", name=name)
        return user

    def all(self) -> list[User]:
        """Every user, by name."""
        rows = self._db.execute(self._USER + " ORDER BY name")
        return [User(n, r, lang, e, bool(d)) for n, r, lang, e, d in rows]

    def accounts(self) -> list[Account]:
        """Every account as the admins' list shows it, by name."""
        rows = self._db.execute(
            "SELECT u.name, u.role, u.language, u.disabled, u.last_sign_in, u.password != '',"
            " l.expires FROM users u LEFT JOIN password_links l ON l.name = u.name"
            " ORDER BY u.name"
        )
        return [
            Account(n, r, lang, bool(d), last, bool(has), link)
            for n, r, lang, d, last, has, link in rows
        ]

    def check_password(self, name: str, password: str) -> User | None:
        """The user if ``password`` is right and the account enabled, else None (same
        work either way)."""
        row = self._db.execute(
            "SELECT password, role, language, epoch, disabled FROM users WHERE name = ?", (name,)
        ).fetchone()
        stored = row[0] if row and row[0] else _DUMMY_HASH  # '': waiting for its link
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or not row[0] or row[4]:
            return None
        if self._hasher.check_needs_rehash(stored):
            self._db.execute(
                "UPDATE users SET password = ? WHERE name = ?", (self._hasher.hash(password), name)
            )
        return User(name, row[1], row[2], row[3])

    # -- the two trails --------------------------------------------------------------------

    def _audit(
        self, actor: str | None, at: datetime | None, action: str, subject: str, detail: Any
    ) -> None:
        """One entry of the account audit trail (inside the change's transaction)."""
        if actor is None or at is None:
            return
        self._db.execute(
            "INSERT INTO account_audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
            (_utc(at), actor[:64], action, subject[:64], json.dumps(detail)),
        )

    def record(self, action: str, actor: str, subject: str, at: datetime, **detail: Any) -> None:
        """An account audit entry for a change made elsewhere (e.g. the session key)."""
        self._audit(actor, at, action, subject, detail)

    def account_audit(self) -> list[AccountEntry]:
        """The account audit trail, oldest first."""
        rows = self._db.execute(
            "SELECT seq, at, actor, action, subject, detail FROM account_audit ORDER BY seq"
        )
        return [
            AccountEntry(seq, at, actor, action, subject, json.loads(detail or "{}"))
            for seq, at, actor, action, subject, detail in rows
        ]

    def note(self, action: str, actor: str, subject: str, client: str, at: datetime) -> None:
        """Write one entry of the security log: who did what to whom, from where.

        Sign-ins and their failures, sign-outs, and every change to accounts and tokens.
        Never a password or a token; names are cut to 64 characters. A sign-in is also
        the account's last sign-in.
        """
        cursor = self._db.execute(
            "INSERT INTO security_log (at, action, actor, subject, client) VALUES (?, ?, ?, ?, ?)",
            (at.isoformat(), action, actor[:64], subject[:64], client[:64]),
        )
        if action == "sign-in":
            self._db.execute(
                "UPDATE users SET last_sign_in = ? WHERE name = ?", (_utc(at), subject)
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

    # -- API tokens ------------------------------------------------------------------------

    def create_token(
        self,
        label: str,
        role: Role,
        at: datetime,
        expires: datetime | None = None,
        *,
        owner: str | None = None,
        actor: str | None = None,
    ) -> str:
        """A new API token; returned once, stored hashed.

        ``owner``: the account it acts for (its role at most the owner's; it stops working
        while the owner is disabled); None for an integration's.
        """
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}", "role")
        if not label.strip() or len(label) > 64:
            raise UserError("a token's label is 1 to 64 characters (what it is for)", "label")
        if expires is not None and expires <= at:
            raise UserError("a token must expire after it is made", "expires")
        token = "onthaal_" + secrets.token_urlsafe(32)
        with self._transaction():
            if owner is not None:
                row = self._db.execute(
                    "SELECT role, disabled FROM users WHERE name = ?", (owner,)
                ).fetchone()
                if row is None:
                    raise UserError(f"no user {owner!r}", "no_user", name=owner)
                if row[1]:
                    raise UserError(f"{owner!r} is disabled", "owner_disabled", name=owner)
                if ROLES.index(role) > ROLES.index(row[0]):
                    raise UserError(
                        f"a token of {owner!r} may have at most the role {row[0]!r}",
                        "owner_role",
                        name=owner,
                        role=str(row[0]),
                    )
            self._db.execute(
                "INSERT INTO tokens (digest, label, role, created, expires, owner)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (_digest(token), label, role, at.isoformat(),
                 expires.isoformat() if expires else None, owner),
            )  # fmt: skip
            detail = {"id": _digest(token)[:TOKEN_ID], "role": role, "owner": owner,
                      "expires": _utc(expires) if expires else None}  # fmt: skip
            self._audit(actor, at, "token-create", label, detail)
        return token

    def tokens(self, owner: str | None = None) -> list[TokenInfo]:
        """Every API token, or ``owner``'s (never the token itself: its id, a digest's start)."""
        query = "SELECT digest, label, role, created, expires, owner, last_used FROM tokens"
        params: tuple[str, ...] = ()
        if owner is not None:
            query += " WHERE owner = ?"
            params = (owner,)
        rows = self._db.execute(query + " ORDER BY created, label", params)
        return [
            TokenInfo(d[:TOKEN_ID], label, role, c, e, o, used)
            for d, label, role, c, e, o, used in rows
        ]

    def revoke_token(
        self, token_id: str, *, actor: str | None = None, at: datetime | None = None
    ) -> bool:
        """Revoke the token whose id is ``token_id``; whether there was one."""
        if len(token_id) != TOKEN_ID or not all(c in "0123456789abcdef" for c in token_id):
            return False
        with self._transaction():
            row = self._db.execute(
                "SELECT label, owner FROM tokens WHERE substr(digest, 1, ?) = ?",
                (TOKEN_ID, token_id),
            ).fetchone()
            if row is None:
                return False
            self._db.execute("DELETE FROM tokens WHERE substr(digest, 1, ?) = ?",
                             (TOKEN_ID, token_id))  # fmt: skip
            self._audit(actor, at, "token-revoke", row[0], {"id": token_id, "owner": row[1]})
        return True

    def user_for_token(self, token: str, now: datetime | None = None) -> User | None:
        """Who a bearer token belongs to (None: unknown, revoked or expired, or its owner
        is disabled or gone). An owner's token has at most the owner's current role."""
        digest = _digest(token)
        row = self._db.execute(
            "SELECT t.label, t.role, t.expires, t.owner, t.last_used, u.role, u.disabled"
            " FROM tokens t LEFT JOIN users u ON u.name = t.owner WHERE t.digest = ?",
            (digest,),
        ).fetchone()
        if row is None:
            return None
        label, role, expires, owner, last_used, owner_role, owner_disabled = row
        at = now or self.now()
        if expires is not None and datetime.fromisoformat(expires) <= at:
            return None
        if owner is not None:
            if owner_role not in ROLES or owner_disabled:
                return None
            role = min(role, owner_role, key=ROLES.index)
        if last_used is None or datetime.fromisoformat(last_used) <= at - LAST_USED_EVERY:
            # Bookkeeping never refuses a request, nor makes it wait for another writer.
            self._db.execute("PRAGMA busy_timeout = 50")
            try:
                with contextlib.suppress(sqlite3.OperationalError):
                    self._db.execute(
                        "UPDATE tokens SET last_used = ? WHERE digest = ?",
                        (at.astimezone(UTC).isoformat(timespec="seconds"), digest),
                    )
            finally:
                self._db.execute("PRAGMA busy_timeout = 5000")
        name = f"token:{label}" if owner is None else f"{owner} (token:{label})"
        return User(name, role, "en")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _link_token() -> str:
    return secrets.token_urlsafe(32)


_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _check_name(name: str) -> None:
    # ASCII only: 'isalnum' let in full-width look-alikes of real names ('ａｄｍｉｎ'),
    # which the audit trail and the security log then showed as if they were them.
    if not _NAME.match(name):
        raise UserError(
            "a user name is 1-64 lower-case letters a-z, digits, '.', '-' or '_', "
            "starting with a letter or digit",
            "name",
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(
            f"a password needs at least {MIN_PASSWORD} characters", "short", min=str(MIN_PASSWORD)
        )
    if len(password) > MAX_PASSWORD:
        raise UserError(
            f"a password has at most {MAX_PASSWORD} characters", "long", max=str(MAX_PASSWORD)
        )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}", "role")


_DUMMY_HASH = PasswordHasher().hash("not a real password, for timing only")
