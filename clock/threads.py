"""A thread pool that knows what it is doing, so a virtual clock can wait for it.

Work handed to a thread (``asyncio.to_thread``, ``loop.run_in_executor``: aiomqtt's
connect, SQLite calls, password hashes) is invisible to an event loop until its result
comes back. A :class:`~clock.VirtualClock` that jumped meanwhile would make the
simulated day depend on how fast the machine is. :class:`CountingExecutor` counts a job
from the moment it is submitted until its outcome has been *queued on the loop*, never
earlier: the count drops only after every done-callback of the future (asyncio's
hand-over to the loop among them) has run, so there is no instant at which a job is
neither counted nor visible to the loop as runnable.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose :meth:`busy` tells whether a job is on its way."""

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "") -> None:
        """Like ``ThreadPoolExecutor``; nothing in flight."""
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Jobs submitted whose outcome has not been handed on yet."""
        return self._in_flight

    def busy(self) -> bool:
        """Whether any job is still on its way (a ``VirtualClock.watch_outside`` probe)."""
        return self._in_flight > 0

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        """Run ``fn(*args, **kwargs)`` on a worker; the future the caller waits on."""
        outer: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            self._in_flight += 1
        try:
            inner = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._finished()
            raise

        def relay(done: concurrent.futures.Future[T]) -> None:
            # Setting the outer future runs its callbacks (asyncio's call_soon_threadsafe)
            # right here; only then is the job no longer in flight.
            try:
                if done.cancelled():
                    outer.cancel()
                    outer.set_running_or_notify_cancel()
                elif (error := done.exception()) is not None:
                    outer.set_exception(error)
                else:
                    outer.set_result(done.result())
            except concurrent.futures.InvalidStateError:
                pass  # the caller cancelled the outer future already
            finally:
                self._finished()

        def propagate_cancel(done: concurrent.futures.Future[T]) -> None:
            if done.cancelled():
                inner.cancel()

        outer.add_done_callback(propagate_cancel)
        inner.add_done_callback(relay)
        return outer

    def _finished(self) -> None:
        with self._lock:
            self._in_flight -= 1
