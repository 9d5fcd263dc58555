"""The real clock: the system's wall time and the event loop's monotonic time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")

# Wall-clock sleeps are cut into slices so that a clock step (NTP correction, a VM
# resumed from suspend) delays a deadline by at most this much.
_MAX_WALL_SLICE = 60.0


class _LoopTimer:
    """A :class:`clock.Timer` backed by an asyncio ``TimerHandle``."""

    def __init__(self, handle: asyncio.TimerHandle, deadline: float) -> None:
        self._handle = handle
        self._deadline = deadline

    @property
    def deadline(self) -> float:
        return self._deadline

    def cancel(self) -> None:
        self._handle.cancel()

    def cancelled(self) -> bool:
        return self._handle.cancelled()


class RealClock:
    """The clock production runs on."""

    def now(self) -> datetime:
        """Current wall time in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """The OS monotonic clock, in seconds."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, when: datetime) -> None:
        """Sleep until wall time ``when``, re-reading the wall clock as it goes."""
        # Sliced on purpose: the wall clock can be stepped while we sleep.
        while (remaining := (when - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(remaining, _MAX_WALL_SLICE))

    def call_later(self, delay: float, callback: Callable[[], object]) -> _LoopTimer:
        """Schedule ``callback`` after ``delay`` seconds."""
        loop = asyncio.get_running_loop()
        handle = loop.call_later(max(0.0, delay), callback)
        return _LoopTimer(handle, self.monotonic() + max(0.0, delay))

    def call_at(self, when: datetime, callback: Callable[[], object]) -> _LoopTimer:
        """Schedule ``callback`` at wall time ``when``."""
        return self.call_later((when - self.now()).total_seconds(), callback)

    async def wait_for(self, awaitable: Awaitable[T], timeout: float) -> T:
        """``asyncio.wait_for`` on real time."""
        return await asyncio.wait_for(awaitable, timeout)
