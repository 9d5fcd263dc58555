"""Who is asking: session cookies for staff, bearer tokens for integrators, CSRF, login limits.

- Sessions: Starlette's signed cookie (HttpOnly, SameSite=Lax), holding only the user
  name, the user's session epoch and a CSRF token. Logout and a new password raise the
  epoch, so a copied cookie stops working on the server's word, not the browser's.
- CSRF: every form carries the session's token in a hidden ``csrf`` field; API calls
  authenticated by the cookie send it in ``X-CSRF-Token``. Token-authenticated API
  calls need none (no ambient credentials).
- Login attempts: at most :data:`LOGIN_ATTEMPTS` failures per user name and client
  address, and :data:`CLIENT_ATTEMPTS` per client address whatever the names, within
  :data:`LOGIN_WINDOW` seconds of the clock; then 429. (Hashing is bounded globally by
  ``onthaal.web.limits.HashGate``.)
"""

from __future__ import annotations

import secrets
from collections import defaultdict, deque

from fastapi import HTTPException, Request, status

from clock import Clock
from onthaal.web.users import Role, User, Users
from scheduler.model import Kind, Message

LOGIN_ATTEMPTS = 5
CLIENT_ATTEMPTS = 20  # a flood of made-up names from one address
LOGIN_WINDOW = 300.0


class LoginLimiter:
    """Counts failed logins per (user name, client address) on the clock."""

    def __init__(self, clock: Clock) -> None:
        """An empty limiter."""
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        failures = self._failures[key]
        horizon = self._clock.monotonic() - LOGIN_WINDOW
        while failures and failures[0] < horizon:
            failures.popleft()
        return failures

    def blocked(self, name: str, client: str) -> bool:
        """Whether this pair (or this address) must wait before trying again."""
        return (
            len(self._recent((name.lower(), client))) >= LOGIN_ATTEMPTS
            or len(self._recent(("", client))) >= CLIENT_ATTEMPTS
        )

    def failed(self, name: str, client: str) -> None:
        """Record a failed attempt (for the pair and for the address)."""
        now = self._clock.monotonic()
        self._recent((name.lower(), client)).append(now)
        self._recent(("", client)).append(now)

    def succeeded(self, name: str, client: str) -> None:
        """Forget the failures of a pair that logged in."""
        self._failures.pop((name.lower(), client), None)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse (403) a state-changing request without the session's CSRF token."""
    expected = request.session.get("csrf")
    if (
        not isinstance(expected, str)
        or not submitted
        or not secrets.compare_digest(expected, submitted)
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")


def session_user(request: Request, users: Users) -> User | None:
    """The logged-in staff member, if any (and if the session was not ended since)."""
    name = request.session.get("user")
    user = users.get(name) if isinstance(name, str) else None
    if user is None or request.session.get("epoch") != user.epoch:
        return None
    return user


def api_user(request: Request, users: Users) -> User:
    """Who calls the API: a bearer token, or a session with its CSRF header (401 if none)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = users.user_for_token(header[7:].strip())
        if user is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "unknown API token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return user
    user = session_user(request, users)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "log in or send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf(request, request.headers.get("x-csrf-token"))
    return user


def require_role(user: User, role: Role) -> None:
    """403 unless ``user`` has ``role`` or a higher one (staff < desk < admin)."""
    if not user.has(role):
        needed = "the desk or admin role" if role == "desk" else f"the {role} role"
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs {needed}")


def may_change_message(user: User, before: Message | None, after: Message | None) -> None:
    """The one rule for every route that adds, edits or removes a message (API and forms).

    Emergencies are the reception desk's and the admins': raising, editing and ending one
    needs the desk role or higher (403). And an emergency stays an emergency: nobody turns
    one into an ordinary message by editing it (409; it is ended on the emergency page),
    which would take it off every screen without anyone having ended it.
    """
    emergency = Kind.EMERGENCY
    if (before is not None and before.kind is emergency) or (
        after is not None and after.kind is emergency
    ):
        require_role(user, "desk")
    converted = after is not None and after.kind is not emergency
    if before is not None and before.kind is emergency and converted:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{before.id!r} is an emergency: end it on the emergency page, do not "
            "turn it into another kind of message",
        )
