"""The simulator's action journal: one JSON object per line for everything a device did.

Integrators assert on it: ``{"t": "2026-11-24T09:00:01.250+00:00", "device": "pepper",
"action": "say", "text": "Goedemorgen!", "language": "Dutch"}``. Times come from the
simulation's clock, so the same seed gives the same journal.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from clock import Clock


class Journal:
    """An append-only list of actions, optionally mirrored to a JSON-lines file."""

    def __init__(self, clock: Clock, path: Path | None = None) -> None:
        """Record with timestamps from ``clock``; also write lines to ``path`` if given."""
        self._clock = clock
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # libqi threads may read while the loop appends
        self._file: TextIO | None = path.open("a", encoding="utf-8") if path else None
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def add_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener(entry)`` for every entry recorded from now on (on the loop)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def record(self, device: str, action: str, **fields: Any) -> dict[str, Any]:
        """Append one action and return the entry."""
        entry = {
            "t": self._clock.now().isoformat(timespec="milliseconds"),
            "device": device,
            "action": action,
            **fields,
        }
        with self._lock:
            self._entries.append(entry)
            if self._file is not None:
                self._file.write(json.dumps(entry, ensure_ascii=False, sort_keys=False) + "\n")
                self._file.flush()
        for listener in self._listeners:
            listener(entry)
        return entry

    def since(self, index: int = 0) -> list[dict[str, Any]]:
        """Entries from position ``index`` on (0 = all)."""
        with self._lock:
            return list(self._entries[max(0, index) :])

    def find(self, device: str | None = None, action: str | None = None) -> list[dict[str, Any]]:
        """Entries matching a device and/or an action."""
        return [
            e
            for e in self.since(0)
            if (device is None or e["device"] == device)
            and (action is None or e["action"] == action)
        ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def close(self) -> None:
        """Close the mirror file, if any."""
        if self._file is not None:
            self._file.close()
            self._file = None
