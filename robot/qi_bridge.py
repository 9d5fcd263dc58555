"""Bridging libqi's threads into asyncio.

libqi completes futures and emits signals on its own worker threads. Nothing here blocks
the event loop: a qi future is awaited through ``addCallback`` and the result handed to
the loop with ``call_soon_threadsafe``; a signal callback does the same. The functions
work with anything shaped like a qi future (the simulator's in-process stand-in too).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol


class QiFuture(Protocol):
    """The part of ``qi.Future`` this bridge uses."""

    def addCallback(self, callback: Callable[[QiFuture], None]) -> None: ...  # noqa: N802
    def isCanceled(self) -> bool: ...  # noqa: N802
    def hasError(self) -> bool: ...  # noqa: N802
    def error(self) -> str: ...
    def value(self) -> Any: ...
    def cancel(self) -> None: ...


class QiCallError(RuntimeError):
    """A qi call ended in error; the message is libqi's (often naming the remote exception)."""


def to_asyncio(
    future: QiFuture, loop: asyncio.AbstractEventLoop | None = None
) -> asyncio.Future[Any]:
    """Wrap a qi future in an asyncio future. Cancelling the latter cancels the former."""
    loop = loop or asyncio.get_running_loop()
    result: asyncio.Future[Any] = loop.create_future()

    def settle(kind: str, payload: Any) -> None:
        if result.done():
            return
        if kind == "value":
            result.set_result(payload)
        elif kind == "cancel":
            result.cancel()
        else:
            result.set_exception(QiCallError(payload))

    def on_done(done: QiFuture) -> None:
        # Runs on a libqi thread (or inline if the future already finished).
        if done.isCanceled():
            outcome: tuple[str, Any] = ("cancel", None)
        elif done.hasError():
            outcome = ("error", done.error())
        else:
            outcome = ("value", done.value())
        with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, *outcome)

    def propagate_cancel(done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            with contextlib.suppress(Exception):
                future.cancel()

    result.add_done_callback(propagate_cancel)
    future.addCallback(on_done)
    return result


def threadsafe_callback(
    loop: asyncio.AbstractEventLoop, handler: Callable[..., None], *bound: Any
) -> Callable[..., None]:
    """A callback for a qi signal that runs ``handler(*bound, *args)`` on ``loop``."""

    def callback(*args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            loop.call_soon_threadsafe(handler, *(*bound, *args))

    return callback
