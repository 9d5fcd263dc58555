"""Sibling tasks: a failure or a cancellation ends them all, even a lost cancel()."""

from __future__ import annotations

import asyncio
import time

import pytest

from beacons.tasks import run_together


async def test_a_failing_sibling_cancels_the_others_and_its_error_surfaces() -> None:
    cancelled = []

    async def waits() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def fails() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("broker gone")

    with pytest.raises(RuntimeError, match="broker gone"):
        await run_together(waits(), fails())
    assert cancelled == [True]


async def test_cancelling_ends_a_sibling_that_lost_the_first_cancel() -> None:
    async def loses_one_cancel() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]  # as wait_for may
        await asyncio.Event().wait()

    runner = asyncio.create_task(run_together(loses_one_cancel(), asyncio.Event().wait()))
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert time.perf_counter() - started < 1.0
