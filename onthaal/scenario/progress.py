"""How far a scenario run is: a progress bar on a terminal, plain lines elsewhere.

The runner reports after every visitor; what is shown is what a person watching wants
to know: the simulated time of day, visitors so far, and how the expectations stand.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@dataclass(frozen=True)
class Standing:
    """The run so far."""

    now: datetime  # simulated, local
    visitors: int
    total: int
    greeted: int
    walked_on: int
    checks_held: int
    checks_failed: int

    def describe(self) -> str:
        """One line: time of day, visitors, expectations."""
        checks = f"checks {self.checks_held} ok"
        if self.checks_failed:
            checks += f", {self.checks_failed} FAILED"
        walked = f", {self.walked_on} walked on" if self.walked_on else ""
        return (
            f"sim {self.now:%H:%M}  visitors {self.visitors}/{self.total} "
            f"({self.greeted} greeted{walked})  {checks}"
        )


class ProgressSink(Protocol):
    """Where the runner reports how far it is."""

    def update(self, standing: Standing) -> None:
        """The run moved on."""

    def close(self) -> None:
        """The run ended (or was stopped)."""


class PlainProgress:
    """A line at every tenth of the visitors (for logs and pipes)."""

    def __init__(self, stream: TextIO) -> None:
        """Write to ``stream``."""
        self._stream = stream
        self._shown = -1

    def update(self, standing: Standing) -> None:
        """Print a line when another tenth of the visitors is done."""
        tenth = standing.visitors * 10 // max(1, standing.total)
        if tenth > self._shown:
            self._shown = tenth
            print(standing.describe(), file=self._stream, flush=True)

    def close(self) -> None:
        """Nothing to clean up."""


class BarProgress:
    """A rich progress bar, redrawn in place on a terminal."""

    def __init__(self, stream: TextIO, total: int) -> None:
        """A bar for ``total`` visitors on ``stream``."""
        self._progress = Progress(
            TextColumn("[bold]{task.fields[clock]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(file=stream),
            transient=False,
        )
        self._task = self._progress.add_task("visitors", total=total, clock="sim --:--", detail="")
        self._progress.start()

    def update(self, standing: Standing) -> None:
        """Move the bar."""
        detail = f"greeted {standing.greeted}"
        if standing.walked_on:
            detail += f", walked on {standing.walked_on}"
        detail += f"  checks {standing.checks_held} ok"
        if standing.checks_failed:
            detail += f", {standing.checks_failed} FAILED"
        self._progress.update(
            self._task,
            completed=standing.visitors,
            total=standing.total,
            clock=f"sim {standing.now:%H:%M}",
            detail=detail,
        )

    def close(self) -> None:
        """Leave the last state of the bar on screen."""
        self._progress.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def progress_for(stream: TextIO = sys.stderr, total: int = 0) -> ProgressSink:
    """A bar when ``stream`` is a terminal, plain lines otherwise."""
    if stream.isatty():
        return BarProgress(stream, total)
    return PlainProgress(stream)
