"""Bounds on what one request can cost the process the robot shares.

- :class:`BodyLimit`: a request body over ``max_bytes`` is refused with 413 before it
  is read into memory, parsed or even authenticated (a 40 MB JSON body used to cost a
  gigabyte and a second of the event loop, unauthenticated).
- :class:`HashGate`: password hashing (Argon2, ~85 ms of CPU each) runs on worker
  threads, at most ``concurrency`` at once, with at most ``queue`` sign-ins waiting;
  beyond that a sign-in is refused at once instead of queueing without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
HASH_NICENESS = 10  # password hashes give way to the robot's threads

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """The body went past the limit while it was being received."""


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        """Wrap ``app``."""
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse early by Content-Length, else count the bytes as they arrive."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(send, 400, "Content-Length is not a number")
                    return
                if declared > self.max_bytes:
                    await self._refuse(send, 413, self._too_large())
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, 413, self._too_large())

    def _too_large(self) -> str:
        return f"request body over {self.max_bytes} bytes ([web] max_body)"

    @staticmethod
    async def _refuse(send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class GateFull(Exception):
    """Too many sign-ins are waiting already."""


class HashGate:
    """Runs password checks on threads, ``concurrency`` at a time, ``queue`` waiting.

    The threads run at a lower CPU priority (nice +10 on Linux), so that a flood of
    sign-ins, each an Argon2 hash of tens of milliseconds, takes what the robot leaves
    rather than what it needs. By default one hash at a time per spare core.
    """

    def __init__(self, concurrency: int | None = None, queue: int = 16) -> None:
        """A gate with room for ``concurrency + queue`` sign-ins in progress."""
        if concurrency is None:
            concurrency = max(1, min(2, (os.cpu_count() or 2) - 1))
        self._slots = asyncio.Semaphore(concurrency)
        self._room = concurrency + queue
        self._inside = 0
        self._pool = ThreadPoolExecutor(
            concurrency, thread_name_prefix="password-hash", initializer=_lower_priority
        )

    async def run(self, check: Callable[..., T], *args: Any) -> T:
        """``check(*args)`` on a worker thread; raises :class:`GateFull` when full."""
        if self._inside >= self._room:
            raise GateFull
        self._inside += 1
        try:
            async with self._slots:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._pool, functools.partial(check, *args))
        finally:
            self._inside -= 1


def _lower_priority() -> None:
    """Lower this worker thread's CPU priority (Linux schedules threads one by one)."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICENESS)
