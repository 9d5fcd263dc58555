"""The account database and the session key named in ``[web]``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from onthaal.config import Config
from onthaal.web.users import Users


def open_users(config: Config, config_path: Path) -> Users:
    """Open ``[web] users`` (relative to the config file)."""
    return Users(config_path.parent / config.web.users)


def session_key(config: Config, config_path: Path, *, rotate: bool = False) -> str:
    """The key signing session cookies, from ``[web] session_key`` (0600), made once.

    Kept apart from the account database, so that it can be replaced on its own.
    ``rotate`` writes a new one (cookies signed with the old one stop working at the
    web app's next start; end the sessions too for at once, see ``users rotate``).
    """
    path = config_path.parent / config.web.session_key
    if path.exists() and not rotate:
        path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()
    key = secrets.token_urlsafe(48)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(key + "\n")
    return key
