"""A virtual clock: simulated time that jumps ahead when everybody is waiting on it.

Two ways to run:

* **as fast as possible** (``speed=None``): when no task on the event loop can make
  progress (every runnable callback has run and the rest wait on this clock), time jumps
  straight to the next deadline. A 9-hour day of timers takes milliseconds.
* **at a fixed speed-up** (``speed=60.0``): simulated time passes ``speed`` times faster
  than real time, so a person can watch a simulated day.

Work that waits on something outside the event loop (a socket, a libqi thread) is not
seen by the idle detection. Two remedies: a probe that knows exactly whether such work
is in flight (:meth:`VirtualClock.watch_outside`; time waits while it says so), and
``settle``, that many real seconds of quiet before time jumps, for work nobody can
count (the same idea as Trio's ``MockClock.autojump_threshold``).

:meth:`VirtualClock.until` lets a driver of the simulation (a scenario runner) act at
the first quiet moment at which something holds, before time moves on.

The driver task that moves time is owned by the clock and lives exactly as long as the
``async with clock:`` block.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self, TypeVar

from clock.threads import CountingExecutor

T = TypeVar("T")

log = logging.getLogger("onthaal.clock")

# How many times the driver yields to the loop looking for quiet before it concludes
# that something is spinning on ``sleep(0)`` and lets time move anyway.
_MAX_SETTLE_ROUNDS = 10_000
# Real seconds between looks at an outside-work probe that says work is in flight.
_OUTSIDE_POLL = 0.0005
# Real seconds of waiting for outside work after which the clock says so in the log.
_WAITING_TOO_LONG = 5.0
# Real seconds between looks at the conditions of until() while time cannot move.
_WATCH_POLL = 0.005


class VirtualClockNotRunning(RuntimeError):
    """Raised when a virtual clock is slept on outside its ``async with`` block."""


class _Entry:
    """One scheduled wake-up: a sleeping task's future or a timer's callback."""

    __slots__ = ("_cancelled", "callback", "deadline", "future")

    def __init__(
        self,
        deadline: float,
        future: asyncio.Future[None] | None,
        callback: Callable[[], object] | None,
    ) -> None:
        self.deadline = deadline
        self.future = future
        self.callback = callback
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled


class VirtualClock:
    """Simulated time for tests and the simulator; satisfies :class:`clock.Clock`."""

    def __init__(
        self,
        start: datetime,
        *,
        speed: float | None = None,
        settle: float = 0.0,
        pace: float | None = None,
    ) -> None:
        """Create a clock reading ``start`` (an aware datetime) until it is driven.

        ``speed`` is the speed-up factor (``None``: as fast as possible); ``settle`` the
        real seconds of quiet required before time jumps in fast mode. ``pace`` (fast
        mode only) spaces the jumps out in real time, ``pace`` simulated seconds per
        real second at most: time still moves only at quiet moments, so the day is the
        same at every pace, only slower to watch.
        """
        if start.tzinfo is None:
            raise ValueError("VirtualClock start must be timezone-aware")
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        if pace is not None and (pace <= 0 or speed is not None):
            raise ValueError(f"pace must be positive and needs speed=None, got {pace}")
        self._pace = pace
        # UTC: adding seconds to a local wall time would ignore daylight-saving changes.
        self._epoch = start.astimezone(UTC)
        self._speed = speed
        self._settle = settle
        self._t = 0.0  # simulated seconds since start
        self._holds = 0  # time stands still while > 0 (see held())
        self._real_anchor = 0.0  # loop.time() when _t was last set (speed mode)
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._driver: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None
        self._outside: list[Callable[[], bool]] = []
        self._watchers: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._waiting_since: float | None = None  # loop time since when probes say busy
        self._waiting_told = False

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Start driving time on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._real_anchor = self._loop.time()
        # Work handed to threads (asyncio.to_thread, aiomqtt's connect, SQLite) is on
        # its way too: the loop's default executor counts it, and time waits for it.
        # One per loop: a loop outlives many clocks in a test session.
        threads = getattr(self._loop, "_default_executor", None)
        if not isinstance(threads, CountingExecutor):
            threads = CountingExecutor(thread_name_prefix="virtual-clock-worker")
            self._loop.set_default_executor(threads)
        self._outside.append(threads.busy)
        self._driver = asyncio.create_task(self._drive(), name="virtual-clock")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop driving time; tasks still sleeping on the clock stay asleep."""
        if self._driver is not None:
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._driver
            self._driver = None

    @property
    def pace(self) -> float | None:
        """Simulated seconds per real second at most in fast mode, or ``None``."""
        return self._pace

    @property
    def speed(self) -> float | None:
        """The speed-up factor, or ``None`` when running as fast as possible."""
        return self._speed

    def describe(self) -> str:
        """The clock's state in one line, for a log when a simulation seems stuck."""
        busy = [getattr(p, "__qualname__", type(p).__name__) for p in self._outside if p()]
        deadline = self._next_deadline()
        return (
            f"t={self._t:.3f}s next={'none' if deadline is None else f'{deadline:.3f}s'} "
            f"holds={self._holds} watchers={len(self._watchers)} "
            f"busy={','.join(busy) or 'nothing'} driver="
            f"{'running' if self._driver is not None and not self._driver.done() else 'stopped'}"
        )

    # -- reading time ---------------------------------------------------------------

    def monotonic(self) -> float:
        """Simulated seconds since the clock's start."""
        if self._speed is None or self._loop is None or self._driver is None:
            return self._t
        elapsed = (self._loop.time() - self._real_anchor) * self._speed
        t = self._t + max(0.0, elapsed)
        # Never read past a deadline that has not fired yet, so that callbacks see
        # time in the same order as they are run.
        nxt = self._next_deadline()
        return t if nxt is None else min(t, max(nxt, self._t))

    def now(self) -> datetime:
        """Simulated wall time (UTC)."""
        return self._epoch + timedelta(seconds=self.monotonic())

    # -- waiting --------------------------------------------------------------------

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Freeze simulated time inside the block; timers already due still fire.

        For a person (or a browser) looking at the simulation: nothing moves on while
        they read, however long it takes in real time.
        """
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if self._holds == 0 and self._changed is not None:
                self._changed.set()

    def watch_outside(self, in_flight: Callable[[], bool]) -> None:
        """Do not jump while ``in_flight()`` says work outside the loop is on its way.

        For work on other threads the clock cannot see (libqi's): with an exact probe
        time waits exactly as long as needed, however slow the machine, and ``settle``
        can be 0. The probe is called often; it must be cheap and must not block.
        """
        self._outside.append(in_flight)

    async def until(self, condition: Callable[[], bool]) -> None:
        """Let time run until ``condition()`` holds at a quiet moment; return before it moves on.

        "Quiet" as for a jump: nothing runnable, nothing in flight outside. The caller
        resumes before the next jump, so it can hold the clock (:meth:`held`) at the very
        moment the condition held. Needs time to be free to move (not held), or
        something else that makes the condition true.
        """
        future: asyncio.Future[None] = self._running_loop().create_future()
        watcher = (condition, future)
        self._watchers.append(watcher)
        assert self._changed is not None
        self._changed.set()
        try:
            await future
        finally:
            self._watchers.remove(watcher)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of simulated time."""
        loop = self._running_loop()
        if seconds <= 0:
            await asyncio.sleep(0)  # clock-ok: a plain yield, no time passes
            return
        future: asyncio.Future[None] = loop.create_future()
        entry = self._push(self.monotonic() + seconds, future=future)
        try:
            await future
        finally:
            entry.cancel()

    async def sleep_until(self, when: datetime) -> None:
        """Sleep until simulated wall time ``when``."""
        await self.sleep((when - self.now()).total_seconds())

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Timer:
        """Run ``callback`` after ``delay`` simulated seconds."""
        self._running_loop()
        return _Timer(self._push(self.monotonic() + max(0.0, delay), callback=callback))

    def call_at(self, when: datetime, callback: Callable[[], object]) -> _Timer:
        """Run ``callback`` at simulated wall time ``when``."""
        return self.call_later((when - self.now()).total_seconds(), callback)

    async def wait_for(self, awaitable: Awaitable[T], timeout: float) -> T:
        """Await with a timeout measured in simulated time."""
        task = asyncio.ensure_future(awaitable)
        timed_out = False

        def expire() -> None:
            nonlocal timed_out
            if not task.done():
                timed_out = True
                task.cancel()

        timer = self.call_later(timeout, expire)
        try:
            return await task
        except asyncio.CancelledError:
            if timed_out:
                raise TimeoutError(f"timed out after {timeout} s of virtual time") from None
            raise
        finally:
            timer.cancel()

    # -- internals ------------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._driver is None or self._driver.done():
            raise VirtualClockNotRunning(
                "use 'async with clock:' before sleeping on a VirtualClock"
            )
        return asyncio.get_running_loop()

    def _push(
        self,
        deadline: float,
        *,
        future: asyncio.Future[None] | None = None,
        callback: Callable[[], object] | None = None,
    ) -> _Entry:
        entry = _Entry(deadline, future, callback)
        heapq.heappush(self._heap, (deadline, next(self._seq), entry))
        assert self._changed is not None
        self._changed.set()
        return entry

    def _next_deadline(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled():
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def _note_waiting(
        self, loop: asyncio.AbstractEventLoop, busy: list[Callable[[], bool]]
    ) -> None:
        """Say so (once) when time has waited long for outside work: the probe may be wrong."""
        now = loop.time()
        if self._waiting_since is None:
            self._waiting_since, self._waiting_told = now, False
        elif not self._waiting_told and now - self._waiting_since > _WAITING_TOO_LONG:
            self._waiting_told = True
            log.warning(
                "simulated time has waited %.0f real seconds for work on its way: %s",
                now - self._waiting_since,
                ", ".join(getattr(p, "__qualname__", type(p).__name__) for p in busy),
            )

    async def _quiet(self, loop: asyncio.AbstractEventLoop) -> None:
        """Return once nothing else on the loop is runnable (and, if asked, stays so)."""
        while True:
            for _ in range(_MAX_SETTLE_ROUNDS):
                await asyncio.sleep(0)  # clock-ok: yield to runnable tasks
                if not _has_ready_callbacks(loop) and not _has_pending_io(loop):
                    break
            busy = [probe for probe in self._outside if probe()]
            if busy:
                self._note_waiting(loop, busy)
                await asyncio.sleep(_OUTSIDE_POLL)  # clock-ok: real time for other threads
                continue
            self._waiting_since = None
            if self._outside and (_has_ready_callbacks(loop) or _has_pending_io(loop)):
                # Another thread queued its work between our first look and the probe's.
                continue
            if self._settle <= 0:
                return
            generation = len(self._heap), self._next_deadline()
            await asyncio.sleep(self._settle)  # clock-ok: real quiet for outside work
            if not _has_ready_callbacks(loop) and generation == (
                len(self._heap),
                self._next_deadline(),
            ):
                return

    async def _drive(self) -> None:
        loop = asyncio.get_running_loop()
        changed = self._changed
        assert changed is not None
        while True:
            if self._speed is None:
                await self._quiet(loop)
            if self._fire_watchers():
                continue  # let them act before time moves on
            deadline = self._next_deadline()
            if deadline is None or (self._holds and deadline > self._t):
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_WATCH_POLL if self._watchers else None):
                        await changed.wait()
                continue
            if self._pace is not None:
                # Real time since the last jump counts: a hold that lasted counts too.
                real_wait = self._real_anchor + (deadline - self._t) / self._pace - loop.time()
                if real_wait > 0:
                    changed.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(
                            min(real_wait, _WATCH_POLL) if self._watchers else real_wait
                        ):
                            await changed.wait()
                    continue
            if self._speed is not None:
                real_wait = (deadline - self.monotonic()) / self._speed
                if real_wait > 0:
                    changed.clear()
                    if self._watchers:
                        real_wait = min(real_wait, _WATCH_POLL)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(real_wait):
                            await changed.wait()
                    continue
            self._advance(deadline, loop)

    def _fire_watchers(self) -> bool:
        """Wake the callers of :meth:`until` whose condition holds; whether any woke."""
        fired = False
        for condition, future in self._watchers:
            if future.done():
                continue
            try:
                if condition():
                    future.set_result(None)
                    fired = True
            except Exception as exc:  # the caller of until() gets it, not the clock
                future.set_exception(exc)
                fired = True
        return fired

    def _advance(self, deadline: float, loop: asyncio.AbstractEventLoop) -> None:
        self._t = max(self._t, deadline)
        self._real_anchor = loop.time()
        while self._heap and self._heap[0][0] <= self._t:
            _, _, entry = heapq.heappop(self._heap)
            if entry.cancelled():
                continue
            entry.cancel()  # fired: a later cancel() is a no-op
            if entry.future is not None:
                if not entry.future.done():
                    entry.future.set_result(None)
            elif entry.callback is not None:
                loop.call_soon(entry.callback)


class _Timer:
    """A :class:`clock.Timer` on a :class:`VirtualClock`."""

    def __init__(self, entry: _Entry) -> None:
        self._entry = entry
        self._cancelled = False

    @property
    def deadline(self) -> float:
        return self._entry.deadline

    def cancel(self) -> None:
        if not self._entry.cancelled():
            self._cancelled = True
        self._entry.cancel()

    def cancelled(self) -> bool:
        return self._cancelled


def _has_pending_io(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether a socket (or the loop's wake-up pipe) is ready but not yet handled.

    Bytes written to a loopback socket by a callback that ran after the loop last polled
    are invisible in the ready queue until the next poll; asking the selector (level
    triggered: nothing is consumed) sees them now. Loops without a selector: assume none.
    """
    selector = getattr(loop, "_selector", None)
    if selector is None:
        return False
    try:
        return bool(selector.select(0))
    except (OSError, ValueError):
        return False


def _has_ready_callbacks(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the loop has callbacks queued to run right now.

    CPython's event loops keep them in ``_ready``; on a loop without it we cannot tell,
    and assume quiet (time then jumps as soon as the driver runs).
    """
    ready = getattr(loop, "_ready", None)
    return bool(ready)
