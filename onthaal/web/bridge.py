"""The staff web app in a process of its own, and the private socket that joins it to the core.

Why a process: a request is parsed, validated, authorised and answered by Python code,
and under a flood of them one event loop (or one GIL) is always busy. The robot's loop
must never wait behind that, so the web app gets its own interpreter. What crosses the
boundary is small and bounded (:mod:`onthaal.web.core`):

- core → web: a :class:`~onthaal.web.core.CoreSnapshot` every :data:`SNAPSHOT_EVERY`
  seconds, sent only when it changed. Its cost on the robot's loop is copying what the
  parts already hold, whatever the web app is asked and however often.
- web → core: "the schedule changed", a preview of another moment (at most
  :data:`PREVIEWS_AT_ONCE` at a time, each waited for at most :data:`PREVIEW_TIMEOUT`),
  and the simulator's controls. Each is one small message, read by one task.

The socket is a ``socketpair`` inherited by the child only, so nothing else can speak on
it; both ends are this program, which is why the frames are pickles (length-prefixed).
The web process ignores SIGINT (the core owns shutdown), ends when the socket closes,
so it never outlives the core, and runs at a lower CPU priority (:data:`WEB_NICENESS`):
on a machine with fewer cores than busy processes the robot is served first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from beacons.tasks import run_together
from clock import RealClock
from onthaal.config import Config
from onthaal.web.core import CoreSnapshot, CoreUnavailable, LocalCore, SimControls
from robot.hal import TabletTouched, UtteranceHeard
from scheduler.resolve import Showing

log = logging.getLogger("onthaal.web.bridge")

SNAPSHOT_EVERY = 0.2  # seconds (real time) between snapshots the web app may see
PREVIEW_TIMEOUT = 10.0  # seconds a preview may take before the web app answers 503
PREVIEWS_AT_ONCE = 2  # previews the core works on at the same time (more wait in the web)
WEB_NICENESS = 5  # the web process yields the CPU to the robot's when both want it
STOP_TIMEOUT = 3.0  # seconds the web process gets to finish its requests when stopping
KILL_TIMEOUT = 1.0  # seconds each after SIGTERM, then SIGKILL (within the supervisor's 5 s)
LARGEST_FRAME = 64 * 1024 * 1024  # a frame larger than this is a bug, not a message

_LENGTH = struct.Struct("!I")


class WebProcessEnded(Exception):
    """The web process exited (the supervisor starts it again)."""


# -- frames -----------------------------------------------------------------------------------


def _frame(message: object) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


async def _receive(reader: asyncio.StreamReader) -> Any:
    """The next message, or None when the other end closed the socket."""
    try:
        (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
        if length > LARGEST_FRAME:
            raise ValueError(f"frame of {length} bytes")
        return pickle.loads(
            await reader.readexactly(length)
        )  # our own child, over our own socketpair
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


@dataclass(frozen=True)
class WebStart:
    """What the web process needs to start: the config and how to log."""

    config: Config
    config_path: Path
    log_format: str
    log_level: str
    simulate: bool
    speed: float | None  # simulated seconds per real second (None: as fast as possible)
    tablet_token: str  # the robot's key to its tablet pages


# -- the core's side ---------------------------------------------------------------------------


class WebProcess:
    """Runs the web app in a child process and answers it (a supervised child)."""

    def __init__(
        self, core: LocalCore, start: WebStart, ready: asyncio.Event | None = None
    ) -> None:
        """Serve ``core`` to a web process started with ``start``.

        ``ready`` is set once the web app listens (the robot's tablet needs it).
        """
        self._core = core
        self._start = start
        self.ready = ready or asyncio.Event()
        self._previews = asyncio.Semaphore(PREVIEWS_AT_ONCE)
        self.pid: int | None = None

    async def run(self) -> None:
        """Start the process, feed it snapshots, answer it; stop it when cancelled."""
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "onthaal.web.bridge",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.pid = process.pid
        try:
            await run_together(self.serve(ours), self._exited(process))
        finally:
            await _stop(process)

    async def serve(self, sock: socket.socket) -> None:
        """Speak to the web app on ``sock``: its start, then snapshots and answers."""
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        try:
            writer.write(_frame(self._start))
            await run_together(self._publish(writer), self._answer(reader, writer))
        finally:
            writer.close()  # the web app sees the end of its socket and stops serving

    async def _exited(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        raise WebProcessEnded(f"the web process exited with code {code}")

    async def _publish(self, writer: asyncio.StreamWriter) -> None:
        last = b""
        while True:
            frame = _frame(("snapshot", self._core.snapshot()))
            if frame != last:
                last = frame
                writer.write(frame)
                await writer.drain()
            await asyncio.sleep(SNAPSHOT_EVERY)  # clock-ok: the web app lives in real time

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sim = self._core.sim
        pending: set[asyncio.Task[None]] = set()
        while (message := await _receive(reader)) is not None:
            kind, *args = message
            if kind == "listening":
                self.ready.set()
            elif kind == "changed":
                self._core.schedule_changed()
            elif kind == "tablet":
                self._core.tablet(*args)
            elif kind == "preview":
                task = asyncio.create_task(self._preview(writer, *args))
                pending.add(task)
                task.add_done_callback(pending.discard)
            elif kind in ("approach", "leave", "hear") and sim is not None:
                getattr(sim, kind)(*args)
            else:
                log.warning("the web process asked for %r, which does not exist", kind)
        for task in pending:
            task.cancel()

    async def _preview(self, writer: asyncio.StreamWriter, ask: int, at: datetime) -> None:
        async with self._previews:
            try:
                answer: object = await self._core.preview(at)
            except CoreUnavailable as exc:  # sent over: the web app answers 503
                answer = CoreUnavailable(str(exc))
        writer.write(_frame(("preview", ask, answer)))


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Give the web process :data:`STOP_TIMEOUT` to end by itself, then make it."""
    for stop, wait in (
        (None, STOP_TIMEOUT), (process.terminate, KILL_TIMEOUT), (process.kill, KILL_TIMEOUT)
    ):  # fmt: skip
        if process.returncode is not None:
            return
        if stop is not None:
            with contextlib.suppress(ProcessLookupError):
                stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), wait)


# -- the web process's side ------------------------------------------------------------------


class FollowingClock(RealClock):
    """The core's time, followed from its snapshots (simulated time when simulating)."""

    def __init__(self, speed: float | None) -> None:
        """Between snapshots time runs at ``speed`` (None: it waits for the next one)."""
        self._speed = speed or 0.0
        self._core_now: datetime | None = None
        self._received = 0.0

    def follow(self, core_now: datetime) -> None:
        """A snapshot said the core's time is ``core_now``."""
        self._core_now, self._received = core_now, time.monotonic()

    def now(self) -> datetime:
        """The core's time as of the last snapshot, moved on by the time since."""
        if self._core_now is None:
            return super().now()
        elapsed = (time.monotonic() - self._received) * self._speed
        return self._core_now + timedelta(seconds=elapsed)


class RemoteCore:
    """:class:`~onthaal.web.core.Core` for the web process: snapshots in, requests out."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        clock: FollowingClock,
        *,
        simulate: bool,
    ) -> None:
        """Speak to the core over ``reader``/``writer``."""
        self._reader = reader
        self._writer = writer
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._latest: CoreSnapshot | None = None
        self._first = asyncio.Event()
        self._asks = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[object]] = {}
        self._sim = (
            SimControls(
                approach=lambda track, zone: self._send(("approach", track, zone)),
                leave=lambda track: self._send(("leave", track)),
                hear=lambda text, language: self._send(("hear", text, language)),
            )
            if simulate
            else None
        )

    @property
    def sim(self) -> SimControls | None:
        """The simulator's controls (sent to the core), or None."""
        return self._sim

    def snapshot(self) -> CoreSnapshot:
        """The latest snapshot from the core."""
        if self._latest is None:
            raise CoreUnavailable("no word from the core yet")
        return self._latest

    async def first_snapshot(self) -> None:
        """Wait for the first snapshot (the app starts serving after it)."""
        await self._first.wait()

    async def preview(self, at: datetime) -> dict[str, Showing]:
        """Ask the core; :class:`CoreUnavailable` after :data:`PREVIEW_TIMEOUT`."""
        ask = next(self._asks)
        answer = self._waiting[ask] = self._loop.create_future()
        self._send(("preview", ask, at))
        try:
            result = await asyncio.wait_for(answer, PREVIEW_TIMEOUT)
        except TimeoutError:
            raise CoreUnavailable("the robot's side is busy; try again in a moment") from None
        finally:
            self._waiting.pop(ask, None)
        if isinstance(result, CoreUnavailable):
            raise result
        showing: dict[str, Showing] = result
        return showing

    def schedule_changed(self) -> None:
        """Tell the core (from any thread: a worker thread writes the schedule)."""
        self._loop.call_soon_threadsafe(self._send, ("changed",))

    def tablet(self, event: TabletTouched | UtteranceHeard) -> None:
        """Send a tap or typed question to the core."""
        self._send(("tablet", event))

    def listening(self) -> None:
        """Tell the core the web app accepts connections."""
        self._send(("listening",))

    def _send(self, message: tuple[object, ...]) -> None:
        if not self._writer.is_closing():
            self._writer.write(_frame(message))

    async def run(self) -> None:
        """Read what the core sends until it closes the socket."""
        while (message := await _receive(self._reader)) is not None:
            kind, *args = message
            if kind == "snapshot":
                self._latest = args[0]
                self._clock.follow(self._latest.taken_at)
                self._first.set()
            elif kind == "preview":
                ask, answer = args
                waiting = self._waiting.get(ask)
                if waiting is not None and not waiting.done():
                    waiting.set_result(answer)
        log.info("the core closed the web app's socket: stopping")


async def _serve_web(fd: int) -> int:
    """The web process: start from what the core sends, serve until the socket closes."""
    return await serve_web_on(socket.socket(fileno=fd))


async def serve_web_on(sock: socket.socket, *, own_process: bool = True) -> int:
    """Serve the web app as the core on ``sock`` says, until it closes the socket.

    In its own process it also sets up logging as the core's; a test sharing its
    process with the core passes ``own_process=False``.
    """
    from beacons.alert_log import AlertLog
    from onthaal.fleet_stack import alert_log_path
    from onthaal.logs import configure_logging, use_simulated_time
    from onthaal.scheduler_stack import open_store
    from onthaal.supervisor import current_child
    from onthaal.web.app import WebServices, create_app, serve
    from onthaal.web.users_stack import open_users, session_key

    reader, writer = await asyncio.open_unix_connection(sock=sock)
    start = await _receive(reader)
    if not isinstance(start, WebStart):
        print(f"the web process expected its start, got {type(start).__name__}", file=sys.stderr)
        return 1
    clock = FollowingClock(start.speed)
    if own_process:
        configure_logging(start.log_format, start.log_level)  # type: ignore[arg-type]
        current_child.set("web")
    if own_process and start.simulate:
        zone = ZoneInfo(start.config.site.timezone)
        use_simulated_time(lambda: clock.now().astimezone(zone))
    core = RemoteCore(reader, writer, clock, simulate=start.simulate)
    listening = asyncio.create_task(core.run())
    first = asyncio.ensure_future(core.first_snapshot())
    await asyncio.wait({listening, first}, return_when=asyncio.FIRST_COMPLETED)
    if not first.done():  # the core went away before it sent anything
        first.cancel()
        return 0
    config = start.config
    store = open_store(config, start.config_path)
    store.on_change(core.schedule_changed)  # emergencies are written on the web's loop
    users = open_users(config, start.config_path)
    alert_log = AlertLog(alert_log_path(config, start.config_path))  # read: the dashboard
    services = WebServices(
        config=config,
        config_path=start.config_path,
        clock=clock,
        users=users,
        store=store,
        core=core,
        tablet_token=start.tablet_token,
        session_key=session_key(config, start.config_path),
        alerts=alert_log,
    )
    app = create_app(services)
    server = asyncio.create_task(serve(app, config.web.host, config.web.port))
    try:
        await _until_listening(config.web.host, config.web.port, server)
        core.listening()
        await asyncio.wait({listening, server}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        store.close()
        users.close()
        writer.close()
    return 0


async def _until_listening(host: str, port: int, server: asyncio.Task[None]) -> None:
    """Return once ``host:port`` accepts a connection (or the server ended)."""
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    while not server.done():
        try:
            _, probe = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.02)  # clock-ok: uvicorn binds in real time
            continue
        probe.close()
        return


def main(argv: list[str]) -> int:
    """``python -m onthaal.web.bridge FD``: the web process (started by :class:`WebProcess`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the core, which stops us
    # With fewer cores than busy processes the kernel shares them out; a visitor waiting
    # on the robot comes before a staff member waiting on a page.
    os.nice(WEB_NICENESS)
    if len(argv) != 2 or not argv[1].isdigit():
        print("onthaal.web.bridge is started by onthaal itself", file=sys.stderr)
        return 2
    return asyncio.run(_serve_web(int(argv[1])))


if __name__ == "__main__":
    # Run under the module's own name: the core's pickles name onthaal.web.bridge's
    # classes, which would otherwise be two different classes here.
    from onthaal.web import bridge

    sys.exit(bridge.main(sys.argv))
