"""The :class:`Clock` protocol every part of Onthaal receives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


@runtime_checkable
class Timer(Protocol):
    """A callback scheduled on a clock; cancel it to stop it from firing."""

    @property
    def deadline(self) -> float:
        """The clock's monotonic time at which the callback fires."""
        ...

    def cancel(self) -> None:
        """Stop the callback from firing; harmless if it already fired."""
        ...

    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called before the callback fired."""
        ...


@runtime_checkable
class Clock(Protocol):
    """Wall time and monotonic time, sleeping and timers: the only way code tells time.

    ``now()`` is an aware UTC datetime (convert to the site's zone for display);
    ``monotonic()`` is seconds on a clock that never goes back, for durations.
    """

    def now(self) -> datetime:
        """Current wall time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps backwards; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` of this clock's time."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Suspend the calling task until wall time ``when`` (returns at once if past)."""
        ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Run ``callback`` on the event loop after ``delay`` seconds of this clock."""
        ...

    def call_at(self, when: datetime, callback: Callable[[], object]) -> Timer:
        """Run ``callback`` on the event loop at wall time ``when``."""
        ...

    async def wait_for(self, awaitable: Awaitable[T], timeout: float) -> T:
        """Await ``awaitable`` but give up after ``timeout`` seconds of this clock.

        Raises :class:`TimeoutError` (and cancels the awaitable) when time runs out.
        """
        ...
