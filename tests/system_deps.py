"""The system programs some tests talk to for real, handled one way for all of them.

``make deps`` installs them (Debian packages). Where one is missing, the tests that need
it skip with a one-line reason locally; with ``CI=true`` a skip fails (tests/conftest.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

#: program -> (Debian package, where Debian puts it when it is not on PATH)
SYSTEM_PROGRAMS = {
    "mosquitto": ("mosquitto", "/usr/sbin/mosquitto"),
    "chromium": ("chromium", "/usr/bin/chromium"),
    "espeak-ng": ("espeak-ng", "/usr/bin/espeak-ng"),  # the simulator's visitors' voices
}


def find(program: str) -> str | None:
    """The path of ``program``, or None when it is not installed."""
    fallback = SYSTEM_PROGRAMS[program][1]
    return shutil.which(program) or (fallback if Path(fallback).exists() else None)


def require(program: str) -> str:
    """The path of ``program``; skips the test (one line, naming the fix) if it is missing."""
    found = find(program)
    if found is None:
        package = SYSTEM_PROGRAMS[program][0]
        why = f"{program} is not installed: run 'make deps' (apt-get install {package})"
        pytest.skip(f"{why}; under CI=true this skip fails the run")
    return found
