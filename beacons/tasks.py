"""Running sibling tasks so that a lost cancellation cannot hang a shutdown.

On Python 3.11, ``asyncio.wait_for`` swallows a cancellation that arrives just as its
inner future completes, and libraries built on it (aiomqtt among them) can therefore
lose a single ``cancel()``. ``asyncio.TaskGroup`` cancels its children only once, so
one unlucky child keeps the whole group, and its supervisor, waiting. These helpers
deliver the cancellation again until every child has ended, as AnyIO's cancel scopes do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

RECANCEL_EVERY = 0.1  # seconds between repeated cancellations


async def cancel_all(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` (again and again) until every one has ended."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_EVERY)
    # Retrieve outcomes so none is reported as "never retrieved".
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()


async def run_together(*coroutines: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutines`` as sibling tasks until one fails (re-raised) or all finish.

    When one fails or this call is cancelled, the others are cancelled and awaited
    with :func:`cancel_all` before returning.
    """
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    if not tasks:
        return
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        await cancel_all(tasks)
