"""The supervisor: restarts with back-off, escalation, and ordered, bounded shutdown."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time

import pytest

from clock import VirtualClock
from onthaal.supervisor import (
    Backoff,
    ChildSpec,
    ChildState,
    Intensity,
    RestartIntensityExceeded,
    RestartPolicy,
    Supervisor,
    install_signal_handlers,
)
from tests.conftest import T0


class Boom(RuntimeError):
    """A child's crash."""


def no_jitter(initial: float = 1.0, maximum: float = 60.0) -> Backoff:
    return Backoff(initial=initial, maximum=maximum, factor=2.0, jitter=0.0)


async def test_a_crashing_child_is_restarted_with_backoff_while_its_sibling_keeps_running(
    clock: VirtualClock,
) -> None:
    starts: list[float] = []
    ticks: list[float] = []

    async def flaky() -> None:
        starts.append(clock.monotonic())
        await clock.sleep(0.5)
        raise Boom("sensor unplugged")

    async def steady() -> None:
        while True:
            ticks.append(clock.monotonic())
            await clock.sleep(1)

    sup = Supervisor(
        "top",
        [ChildSpec("flaky", flaky), ChildSpec("steady", steady)],
        clock=clock,
        backoff=no_jitter(initial=1.0),
        intensity=Intensity(max_restarts=100, period=60),
    )
    runner = asyncio.create_task(sup.run())
    await clock.sleep(20)
    health = {h.name: h for h in sup.health()}
    sup.stop()
    await runner

    # crash at 0.5, back off 1 s -> start at 1.5; crash at 2.0, back off 2 s -> 4.0; ...
    assert starts[:5] == pytest.approx([0.0, 1.5, 4.0, 8.5, 17.0])
    assert health["flaky"].restarts == 4
    assert health["flaky"].last_error == "Boom: sensor unplugged"
    assert health["flaky"].state is ChildState.BACKING_OFF
    # the sibling ticked every second, undisturbed by its sibling's crashes
    assert ticks[:21] == pytest.approx([float(i) for i in range(21)])
    assert health["steady"].state is ChildState.RUNNING
    assert health["steady"].restarts == 0


async def test_backoff_is_capped_and_jittered_deterministically() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, factor=2.0, jitter=0.1)
    delays = [backoff.delay(n, random.Random(7)) for n in range(1, 8)]
    assert delays == [backoff.delay(n, random.Random(7)) for n in range(1, 8)]
    assert delays[0] == pytest.approx(0.5, rel=0.1)
    assert all(d <= 4.0 * 1.1 for d in delays)
    assert delays[-1] == pytest.approx(4.0, rel=0.1)
    assert Backoff(initial=0).delay(5, random.Random()) == 0.0


async def test_policies_decide_what_is_restarted(clock: VirtualClock) -> None:
    runs = {"permanent": 0, "transient-ok": 0, "transient-crash": 0, "temporary": 0}

    def child(name: str, crash: bool):  # type: ignore[no-untyped-def]
        async def run() -> None:
            runs[name] += 1
            await clock.sleep(1)
            if crash:
                raise Boom(name)

        return run

    sup = Supervisor(
        "top",
        [
            ChildSpec("permanent", child("permanent", False), RestartPolicy.PERMANENT),
            ChildSpec("transient-ok", child("transient-ok", False), RestartPolicy.TRANSIENT),
            ChildSpec("transient-crash", child("transient-crash", True), RestartPolicy.TRANSIENT),
            ChildSpec("temporary", child("temporary", True), RestartPolicy.TEMPORARY),
        ],
        clock=clock,
        backoff=no_jitter(initial=1.0, maximum=1.0),
        intensity=Intensity(max_restarts=100, period=60),
    )
    runner = asyncio.create_task(sup.run())
    await clock.sleep(10.5)
    health = {h.name: h for h in sup.health()}
    sup.stop()
    await runner

    assert runs["permanent"] >= 5  # returned, restarted anyway
    assert runs["transient-ok"] == 1
    assert health["transient-ok"].state is ChildState.STOPPED
    assert runs["transient-crash"] >= 5
    assert runs["temporary"] == 1
    assert health["temporary"].state is ChildState.FAILED
    assert health["temporary"].last_error == "Boom: temporary"


async def test_restart_intensity_limit_escalates_instead_of_looping(clock: VirtualClock) -> None:
    attempts = 0
    sibling_cancelled = asyncio.Event()

    async def always_crashes() -> None:
        nonlocal attempts
        attempts += 1
        raise Boom("no robot")

    async def sibling() -> None:
        try:
            await clock.sleep(10_000)
        except asyncio.CancelledError:
            sibling_cancelled.set()
            raise

    sup = Supervisor(
        "robot",
        [ChildSpec("sibling", sibling), ChildSpec("link", always_crashes)],
        clock=clock,
        backoff=no_jitter(initial=0.1),
        intensity=Intensity(max_restarts=3, period=60),
    )
    with pytest.raises(RestartIntensityExceeded, match=r"'robot'.*4 restarts within 60 s") as info:
        await sup.run()
    assert info.value.last_child == "link"
    assert attempts == 4  # the first run plus three restarts; the fourth is refused
    assert sibling_cancelled.is_set()
    assert {h.name: h.state for h in sup.health()} == {
        "sibling": ChildState.STOPPED,
        "link": ChildState.FAILED,
    }


async def test_escalation_reaches_the_parent_supervisor_which_restarts_the_subtree(
    clock: VirtualClock,
) -> None:
    inner_runs = 0

    async def hopeless() -> None:
        nonlocal inner_runs
        inner_runs += 1
        raise Boom("always")

    def inner() -> Supervisor:
        return Supervisor(
            "inner",
            [ChildSpec("hopeless", hopeless)],
            clock=clock,
            backoff=no_jitter(initial=0.0),
            intensity=Intensity(max_restarts=2, period=60),
        )

    async def run_inner() -> None:
        await inner().run()

    outer = Supervisor(
        "outer",
        [ChildSpec("inner", run_inner)],
        clock=clock,
        backoff=no_jitter(initial=1.0),
        intensity=Intensity(max_restarts=1, period=60),
    )
    with pytest.raises(RestartIntensityExceeded, match="'outer'"):
        await outer.run()
    # the inner tree ran three times per start (1 + 2 restarts), and was started twice
    assert inner_runs == 6
    [health] = outer.health()
    assert health.restarts == 1
    assert "RestartIntensityExceeded" in (health.last_error or "")


async def test_shutdown_runs_in_reverse_start_order_and_abandons_a_stubborn_child() -> None:
    stopped: list[str] = []

    def polite(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                stopped.append(name)

        return run

    released = False

    async def stubborn() -> None:
        while not released:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if not released and "stubborn (ignored)" not in stopped:
                    stopped.append("stubborn (ignored)")

    async with VirtualClock(T0) as clock:
        sup = Supervisor(
            "top",
            [
                ChildSpec("first", polite("first")),
                ChildSpec("stubborn", stubborn, shutdown_timeout=0.2),
                ChildSpec("third", polite("third")),
            ],
            clock=clock,
        )
        runner = asyncio.create_task(sup.run())
        await asyncio.sleep(0.01)
        started = time.perf_counter()
        sup.stop()
        await runner
        elapsed = time.perf_counter() - started
        health = {h.name: h for h in sup.health()}
        # let the abandoned task end, so the test leaves no task behind
        released = True
        for task in asyncio.all_tasks():
            if task.get_name() == "top/stubborn":
                task.cancel()

    assert stopped == ["third", "stubborn (ignored)", "first"]
    assert elapsed < 1.0, "a stubborn child must not hold up shutdown beyond its timeout"
    assert health["stubborn"].state is ChildState.FAILED
    assert "ignored cancellation" in (health["stubborn"].last_error or "")
    assert health["first"].state is ChildState.STOPPED
    assert health["third"].state is ChildState.STOPPED


async def test_a_child_that_loses_one_cancellation_is_still_stopped_promptly() -> None:
    # On Python 3.11, asyncio.wait_for swallows a cancellation that arrives as its inner
    # future completes; libraries built on it (aiomqtt) can lose a single cancel().
    swallowed = []

    async def loses_the_first_cancel() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.append(True)
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
        await asyncio.Event().wait()  # carries on as if nothing happened

    async with VirtualClock(T0) as clock:
        sup = Supervisor(
            "top", [ChildSpec("mqtt", loses_the_first_cancel, shutdown_timeout=3.0)], clock=clock
        )
        runner = asyncio.create_task(sup.run())
        await asyncio.sleep(0.01)
        started = time.perf_counter()
        sup.stop()
        await runner
        elapsed = time.perf_counter() - started
    assert swallowed == [True]
    assert elapsed < 1.0, "the cancellation is delivered again, not waited out"
    assert sup.health()[0].state is ChildState.STOPPED


async def test_sigterm_stops_everything_in_reverse_start_order_within_the_bound(
    clock: VirtualClock,
) -> None:
    stopped: list[str] = []

    def child(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                await asyncio.sleep(0.01)  # some real clean-up work
                stopped.append(name)

        return run

    names = ["robot-link", "mqtt", "dispatcher", "web"]
    sup = Supervisor(
        "top", [ChildSpec(n, child(n), shutdown_timeout=1.0) for n in names], clock=clock
    )
    remove = install_signal_handlers(sup)
    try:
        runner = asyncio.create_task(sup.run())
        await asyncio.sleep(0.01)
        assert all(h.state is ChildState.RUNNING for h in sup.health())
        started = time.perf_counter()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(runner, timeout=5)
        elapsed = time.perf_counter() - started
    finally:
        remove()
    assert stopped == list(reversed(names))
    assert elapsed < 1.0
    assert all(h.state is ChildState.STOPPED for h in sup.health())


def test_child_names_must_be_unique() -> None:
    async def noop() -> None:
        return None

    with pytest.raises(ValueError, match="duplicate"):
        Supervisor("x", [ChildSpec("a", noop), ChildSpec("a", noop)], clock=None)  # type: ignore[arg-type]
