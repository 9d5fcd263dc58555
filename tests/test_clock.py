"""The virtual clock: a simulated day in milliseconds, in order, and at a chosen speed."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest

from clock import Clock, RealClock, VirtualClock
from clock.virtual import VirtualClockNotRunning
from tests.conftest import T0


async def test_nine_hour_timeline_of_timers_runs_in_order_in_well_under_a_second() -> None:
    fired: list[tuple[float, str]] = []
    async with VirtualClock(T0) as clock:
        # 9 hours of events: one timer every 30 s plus sleepers, deliberately scheduled
        # out of order so the heap, not insertion order, decides.
        offsets = [(i * 30.0) for i in range(9 * 120)]
        for offset in reversed(offsets):
            clock.call_later(offset, lambda o=offset: fired.append((clock.monotonic(), f"t{o}")))

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            fired.append((clock.monotonic(), name))

        started = time.perf_counter()
        await asyncio.gather(
            sleeper("lunch", 4.5 * 3600 + 1), sleeper("close", 9 * 3600), clock.sleep(9 * 3600 + 1)
        )
        wall = time.perf_counter() - started

    assert wall < 1.0, f"9 simulated hours took {wall:.2f} s of wall time"
    assert len(fired) == len(offsets) + 2
    times = [t for t, _ in fired]
    assert times == sorted(times), "timers fired out of order"
    # every timer fired exactly at its own deadline
    for t, name in fired:
        if name.startswith("t"):
            assert t == pytest.approx(float(name[1:]))
    assert clock.now() == T0 + timedelta(hours=9, seconds=1)


async def test_sleep_until_wakes_at_the_wall_time_asked_for(clock: VirtualClock) -> None:
    target = T0 + timedelta(hours=1, minutes=30)
    await clock.sleep_until(target)
    assert clock.now() == target
    await clock.sleep_until(T0)  # in the past: returns at once
    assert clock.now() == target


async def test_a_cancelled_timer_does_not_fire_and_a_cancelled_sleeper_leaves_no_trace(
    clock: VirtualClock,
) -> None:
    fired: list[str] = []
    timer = clock.call_later(10, lambda: fired.append("cancelled"))
    clock.call_later(20, lambda: fired.append("kept"))
    timer.cancel()
    sleeper = asyncio.create_task(clock.sleep(15))
    await clock.sleep(1)
    sleeper.cancel()
    await clock.sleep(30)
    assert fired == ["kept"]
    assert timer.cancelled()
    assert sleeper.cancelled()


async def test_wait_for_times_out_on_virtual_time_and_cancels_the_work(clock: VirtualClock) -> None:
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await clock.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        await clock.wait_for(slow(), timeout=5)
    assert clock.monotonic() == pytest.approx(5)
    assert cancelled.is_set()
    assert await clock.wait_for(clock.sleep(1), timeout=5) is None


async def test_time_does_not_jump_while_other_tasks_are_still_runnable(
    clock: VirtualClock,
) -> None:
    """A task that keeps working (yielding, not sleeping) sees time stand still."""
    readings = []
    for _ in range(100):
        readings.append(clock.monotonic())
        await asyncio.sleep(0)  # runnable work, not waiting on the clock
    assert set(readings) == {0.0}


async def test_fixed_speed_runs_simulated_time_faster_than_real_time() -> None:
    async with VirtualClock(T0, speed=100.0) as clock:
        started = time.perf_counter()
        await clock.sleep(20)  # 20 simulated seconds at 100x: about 0.2 s
        wall = time.perf_counter() - started
        assert clock.monotonic() >= 20
    assert 0.15 <= wall < 1.5


async def test_sleeping_outside_the_async_with_block_is_an_error() -> None:
    clock = VirtualClock(T0)
    with pytest.raises(VirtualClockNotRunning):
        await clock.sleep(1)


def test_virtual_clock_needs_an_aware_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(T0.replace(tzinfo=None))


async def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(RealClock(), Clock)
    assert isinstance(VirtualClock(T0), Clock)
    real = RealClock()
    before = real.monotonic()
    await real.sleep(0.01)
    assert real.monotonic() - before >= 0.009
    assert real.now().tzinfo is not None


async def test_virtual_time_crosses_a_dst_change_in_real_seconds() -> None:
    from zoneinfo import ZoneInfo

    brussels = ZoneInfo("Europe/Brussels")
    # Saturday 24 October 2026 09:00 CEST; the clocks go back at 03:00 on Sunday.
    start = datetime(2026, 10, 24, 9, 0, tzinfo=brussels)
    async with VirtualClock(start) as clock:
        await clock.sleep(24 * 3600)
        assert clock.now().astimezone(brussels).strftime("%a %H:%M") == "Sun 08:00"
        await clock.sleep_until(datetime(2026, 10, 25, 9, 0, tzinfo=brussels))
        assert clock.monotonic() == 25 * 3600


async def test_held_time_stands_still_until_released() -> None:
    async with VirtualClock(T0) as clock:
        fired: list[float] = []
        clock.call_later(10, lambda: fired.append(clock.monotonic()))
        with clock.held():
            await asyncio.sleep(0.05)  # real time passes; simulated time does not
            assert clock.monotonic() == 0 and fired == []
        await clock.sleep(20)
        assert fired == [10]


async def test_time_waits_for_work_on_another_thread_that_a_probe_reports() -> None:
    """A reply on its way from another thread (as libqi's) is waited for, not jumped over."""
    async with VirtualClock(T0) as clock:
        loop = asyncio.get_running_loop()
        in_flight = 0
        woke_at: list[float] = []

        def reply_later(delay: float) -> None:  # on another thread, like libqi's
            nonlocal in_flight
            time.sleep(delay)  # clock-ok: the other thread's real work
            loop.call_soon_threadsafe(lambda: woke_at.append(clock.monotonic()))
            in_flight -= 1

        clock.watch_outside(lambda: in_flight > 0)
        clock.call_later(60, lambda: None)  # something to jump to
        in_flight += 1
        worker = asyncio.ensure_future(asyncio.to_thread(reply_later, 0.05))
        await clock.sleep(120)
        await worker
        assert woke_at == [0.0], "the reply arrived before simulated time moved on"


async def test_until_stops_time_at_the_first_quiet_moment_its_condition_holds() -> None:
    async with VirtualClock(T0) as clock:
        done: list[float] = []
        for seconds in (5, 10, 15):
            clock.call_later(seconds, lambda s=seconds: done.append(s))
        await clock.until(lambda: len(done) >= 2)
        with clock.held():
            assert clock.monotonic() == 10 and done == [5, 10]
            await asyncio.sleep(0.02)  # real time; held: the 15 s timer does not fire
            assert done == [5, 10]
