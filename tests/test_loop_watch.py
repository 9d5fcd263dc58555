"""The loop watch sees a callback that holds the loop, and logs it once."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from onthaal.loop_watch import LoopWatch


async def test_a_blocking_callback_is_measured_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    watch = LoopWatch(budget=0.02)
    task = asyncio.create_task(watch.run())
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.WARNING, logger="onthaal.loop"):
        time.sleep(0.08)  # noqa: ASYNC251 - what a synchronous call does to the robot
        await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert watch.over >= 1 and watch.worst >= 0.06
    assert "the robot's loop was held" in caplog.text
