"""Shared fixtures: a virtual clock started at a fixed instant, a seeded RNG."""

from __future__ import annotations

import contextlib
import os
import random
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from playwright.async_api import Browser, async_playwright

from clock import VirtualClock
from hw_sim.brokers import BrokerUnderTest, Embedded, Mosquitto
from tests.system_deps import require

# Property tests explore the same examples on every run: a failure is reproducible, and
# a run that passed passes again (new ground is broken by changing the tests, not by luck).
settings.register_profile("onthaal", derandomize=True, print_blob=True)
settings.load_profile("onthaal")

#: A Tuesday morning, before the city hall opens.
T0 = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _ports_of_this_worker() -> None:
    """Under pytest-xdist, each worker takes free ports from a range of its own.

    ``free_port`` asks the kernel for any free port: two workers asking at once may be
    handed the same one, and the second server to bind it fails ("port in use"). Ranges
    below the kernel's ephemeral range (32768+) also keep clear of outgoing connections.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    import socket

    import hw_sim.brokers

    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    span = (32000 - 12000) // count
    low = 12000 + int(worker[2:]) % count * span
    given: set[int] = set()
    chooser = random.Random(os.getpid())

    def free_port() -> int:
        for _ in range(500):
            port = chooser.randrange(low, low + span)
            if port in given:
                continue
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            given.add(port)
            return port
        raise RuntimeError(f"no free port in {low}-{low + span} for {worker}")

    hw_sim.brokers.free_port = free_port  # type: ignore[assignment]


_ports_of_this_worker()


@pytest.fixture
async def clock() -> AsyncIterator[VirtualClock]:
    """A virtual clock running as fast as possible, starting at :data:`T0`."""
    async with VirtualClock(T0) as virtual:
        yield virtual


@pytest.fixture
def rng() -> random.Random:
    """Seeded randomness, so every run makes the same choices."""
    return random.Random(1234)


_exit_status = 0


@pytest.fixture(params=["mosquitto", "embedded"])
async def broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BrokerUnderTest]:
    """A running MQTT broker of each kind (the signage suites run against both)."""
    if request.param == "mosquitto":
        require("mosquitto")
    chosen: BrokerUnderTest = Mosquitto(tmp_path) if request.param == "mosquitto" else Embedded()
    await chosen.start()
    try:
        yield chosen
    finally:
        await chosen.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remember the outcome for :func:`pytest_unconfigure`; under pytest-xdist, a worker
    also hands its loop holds to the controller for the summary."""
    global _exit_status
    _exit_status = int(exitstatus)
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["loop_holds"] = dict(_loop_holds)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """libqi can abort the interpreter's finalisation; end the run the same way as the CLI."""
    from onthaal.process import finish

    if "qi" in sys.modules:
        finish(_exit_status)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """With CI=true nothing may skip: a skip there is a missing install step, so fail."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which is not allowed: {report.longrepr}"


# -- the robot's loop, watched in every async test (#15) ---------------------------------

#: Holds of the event loop longer than this are listed at the end of the run.
LOOP_REPORT = 0.100
_loop_holds: dict[str, float] = {}


@pytest.fixture(autouse=True)
async def _watch_the_loop(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Measure, in real time, the longest hold of the event loop during the test.

    The same watch runs under ``onthaal run`` and ``sim`` (:mod:`onthaal.loop_watch`,
    logging holds over 20 ms); here the worst hold of each test goes into the summary,
    so code that blocks the robot's loop shows up in every test run.
    """
    import asyncio
    import inspect

    from onthaal.loop_watch import LoopWatch

    if not inspect.iscoroutinefunction(getattr(request.node, "obj", None)):
        yield  # a plain test: no loop runs while it does
        return
    watch = LoopWatch()
    task = asyncio.get_running_loop().create_task(watch.run(), name="test-loop-watch")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if watch.worst > LOOP_REPORT:
            _loop_holds[request.node.nodeid] = watch.worst


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """The controller gathers each worker's loop holds for the summary."""
    _loop_holds.update(getattr(node, "workeroutput", {}).get("loop_holds", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the tests in which the event loop was held longest."""
    if not _loop_holds:
        return
    terminalreporter.section("event loop held (real time, #15)")
    worst = sorted(_loop_holds.items(), key=lambda item: -item[1])
    for nodeid, held in worst[:10]:
        terminalreporter.write_line(f"{held * 1000:7.0f} ms  {nodeid}")
    if len(worst) > 10:
        terminalreporter.write_line(
            f"... and {len(worst) - 10} more over {LOOP_REPORT * 1000:.0f} ms"
        )


# -- a real browser (Debian's chromium, driven by Playwright) ------------------------------

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless chromium (skipped locally without it, a failure under CI=true)."""
    chromium = require("chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()
