"""Anonymous visitor statistics, only when the config turns them on.

Counts per hour, language and intent; nothing else (no text, no track ids, no faces).
The counts are written to a CSV file staff can open or export as is.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Protocol


class Statistics(Protocol):
    """Where the behaviours report what happened."""

    def count(self, at: datetime, language: str, event: str) -> None:
        """Count one ``event`` (an intent id, "greeted", "handover", ...) at ``at``."""
        ...


class NoStatistics:
    """Privacy by default: nothing is counted."""

    def count(self, at: datetime, language: str, event: str) -> None:
        """Do nothing."""


class CsvStatistics:
    """Counts per (hour, language, event), rewritten to ``path`` after every change."""

    def __init__(self, path: Path, timezone: tzinfo) -> None:
        """Start from the counts already in ``path``, if it exists.

        Hours are the site's local hours (``timezone``): what staff read on the wall clock.
        """
        self._path = path
        self._timezone = timezone
        self._counts: Counter[tuple[str, str, str]] = Counter()
        if path.exists():
            with path.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    self._counts[(row["hour"], row["language"], row["event"])] += int(row["count"])

    def count(self, at: datetime, language: str, event: str) -> None:
        """Count and save."""
        local = at.astimezone(self._timezone)
        self._counts[(local.strftime("%Y-%m-%dT%H:00%z"), language, event)] += 1
        self._save()

    def rows(self) -> list[dict[str, str | int]]:
        """Every count, sorted by hour."""
        return [
            {"hour": h, "language": lang, "event": e, "count": n}
            for (h, lang, e), n in sorted(self._counts.items())
        ]

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_suffix(".tmp")
        with temporary.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["hour", "language", "event", "count"])
            writer.writeheader()
            writer.writerows(self.rows())
        temporary.replace(self._path)


class Tee:
    """Report to several :class:`Statistics` at once (the file and the live metrics)."""

    def __init__(self, *targets: Statistics) -> None:
        """Report to every one of ``targets``."""
        self._targets = targets

    def count(self, at: datetime, language: str, event: str) -> None:
        """Count in each."""
        for target in self._targets:
            target.count(at, language, event)
