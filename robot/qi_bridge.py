"""Bridging libqi's threads into asyncio.

libqi completes futures and emits signals on its own worker threads. Nothing here blocks
the event loop: a qi future is awaited through ``addCallback`` and the result handed to
the loop with ``call_soon_threadsafe``; a signal callback does the same. The functions
work with anything shaped like a qi future (the simulator's in-process stand-in too).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
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


class Traffic:
    """What is on its way between the event loop and libqi's threads right now.

    ``calls_in_flight`` counts qi calls whose outcome has not reached the loop yet;
    ``events_received`` counts signal callbacks handed to the loop. An event loop cannot
    see work on other threads; with these counts a simulation (or a metrics page) can.
    """

    def __init__(self) -> None:
        """Nothing in flight, nothing received."""
        self._lock = threading.Lock()  # updated from the loop and from libqi's threads
        self._calls = 0
        self._events = 0

    @property
    def calls_in_flight(self) -> int:
        """qi calls sent whose outcome has not been handed to the loop yet."""
        return self._calls

    @property
    def events_received(self) -> int:
        """Signal callbacks handed to the loop so far."""
        return self._events

    def call_sent(self) -> None:
        """One more call on its way."""
        with self._lock:
            self._calls += 1

    def call_answered(self) -> None:
        """A call's outcome is queued on the loop."""
        with self._lock:
            self._calls -= 1

    def event_received(self) -> None:
        """A signal's callback is queued on the loop."""
        with self._lock:
            self._events += 1


def to_asyncio(
    future: QiFuture,
    loop: asyncio.AbstractEventLoop | None = None,
    traffic: Traffic | None = None,
) -> asyncio.Future[Any]:
    """Wrap a qi future in an asyncio future. Cancelling the latter cancels the former.

    With ``traffic``, the call counts as in flight until its outcome is queued on the loop.
    """
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
        if traffic is not None:
            traffic.call_answered()  # after queueing: the loop sees it as runnable now

    def propagate_cancel(done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            with contextlib.suppress(Exception):
                future.cancel()

    result.add_done_callback(propagate_cancel)
    if traffic is not None:
        traffic.call_sent()  # before addCallback, which may run on_done at once
    future.addCallback(on_done)
    return result


def threadsafe_callback(
    loop: asyncio.AbstractEventLoop,
    handler: Callable[..., None],
    *bound: Any,
    traffic: Traffic | None = None,
) -> Callable[..., None]:
    """A callback for a qi signal that runs ``handler(*bound, *args)`` on ``loop``.

    With ``traffic``, each callback is counted once it is queued on the loop.
    """

    def callback(*args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            loop.call_soon_threadsafe(handler, *(*bound, *args))
        if traffic is not None:
            traffic.event_received()

    return callback
