"""The account database named in ``[web]``."""

from __future__ import annotations

from pathlib import Path

from onthaal.config import Config
from onthaal.web.users import Users


def open_users(config: Config, config_path: Path) -> Users:
    """Open ``[web] users`` (relative to the config file)."""
    return Users(config_path.parent / config.web.users)
