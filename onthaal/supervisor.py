"""An Erlang/OTP-style supervisor for Onthaal's long-lived asyncio work.

Every long-lived piece of work (robot link, behaviour runner, BLE driver, MQTT link,
dispatcher, web server, simulator) is a *child*: an async callable with a restart policy.

* ``permanent`` children are always restarted, whether they crash or return;
* ``transient`` children are restarted only when they crash;
* ``temporary`` children are never restarted.

Restarts back off exponentially with jitter. More than ``max_restarts`` restarts within
``period`` seconds means something is wrong beyond a child's reach: the supervisor stops
all its children and raises :class:`RestartIntensityExceeded` to its own parent (a
supervisor is itself an async callable, so supervisors nest).

Shutdown (``stop()``, or SIGINT/SIGTERM through :func:`install_signal_handlers`) cancels
children in reverse start order, giving each ``shutdown_timeout`` real seconds. A child
that ignores cancellation is reported and abandoned, never waited on forever.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import enum
import logging
import random
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from clock import Clock

log = logging.getLogger("onthaal.supervisor")

#: The name of the supervised child the current task belongs to; every log line shows it.
current_child: contextvars.ContextVar[str] = contextvars.ContextVar("current_child", default="-")


# Seconds between repeated cancellations of a child that has not stopped yet.
RECANCEL_EVERY = 0.1


class RestartPolicy(enum.StrEnum):
    """When a child that ended is started again."""

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


class ChildState(enum.StrEnum):
    """Where a child is in its life."""

    STARTING = "starting"
    RUNNING = "running"
    BACKING_OFF = "backing-off"
    FAILED = "failed"
    STOPPED = "stopped"


class RestartIntensityExceeded(RuntimeError):
    """Too many restarts in too short a time: the supervisor gave up and escalates."""

    def __init__(self, supervisor: str, restarts: int, period: float, last_child: str) -> None:
        super().__init__(
            f"supervisor {supervisor!r}: {restarts} restarts within {period:g} s "
            f"(last: {last_child!r}); escalating"
        )
        self.supervisor = supervisor
        self.last_child = last_child


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off between restarts of one child: ``initial * factor**n``."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.1  # +/- this fraction of the delay, so children do not restart in step

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before restart number ``attempt`` (1 = the first restart)."""
        if self.initial <= 0:
            return 0.0
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        return max(0.0, base * (1.0 + rng.uniform(-self.jitter, self.jitter)))


@dataclass(frozen=True)
class Intensity:
    """At most ``max_restarts`` restarts (all children together) within ``period`` s."""

    max_restarts: int = 5
    period: float = 60.0


@dataclass(frozen=True)
class ChildSpec:
    """What to run, under which name and policy."""

    name: str
    run: Callable[[], Awaitable[None]]
    restart: RestartPolicy = RestartPolicy.PERMANENT
    shutdown_timeout: float = 5.0
    # What the child itself says about its health while running: None when all is well,
    # else a short reason ("broker unreachable"). Shown beside the supervisor's state.
    probe: Callable[[], str | None] | None = None


@dataclass
class ChildHealth:
    """What the supervisor knows about one child, for ``/healthz``, the CLI and logs."""

    name: str
    policy: RestartPolicy
    state: ChildState = ChildState.STOPPED
    restarts: int = 0
    last_error: str | None = None
    since: datetime | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly view."""
        return {
            "name": self.name,
            "policy": str(self.policy),
            "state": str(self.state),
            "restarts": self.restarts,
            "last_error": self.last_error,
            "since": self.since.isoformat() if self.since else None,
            "problem": self.problem,
        }


@dataclass
class _Child:
    spec: ChildSpec
    health: ChildHealth
    task: asyncio.Task[None] | None = None
    consecutive_failures: int = 0
    events: list[str] = field(default_factory=list)


class Supervisor:
    """Runs children, restarts them by policy, and shuts them down in order."""

    def __init__(
        self,
        name: str,
        children: Sequence[ChildSpec],
        *,
        clock: Clock,
        backoff: Backoff | None = None,
        intensity: Intensity | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Prepare (not start) a supervisor; ``run()`` starts the children in order."""
        names = [c.name for c in children]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate child names in supervisor {name!r}: {names}")
        self.name = name
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._intensity = intensity or Intensity()
        self._rng = rng or random.Random()
        self._children = [_Child(spec, ChildHealth(spec.name, spec.restart)) for spec in children]
        self._restart_times: deque[float] = deque()
        self._stop_requested = asyncio.Event()
        self._escalation: RestartIntensityExceeded | None = None
        self._started: list[_Child] = []
        self._on_restart: list[Callable[[str], None]] = []

    # -- public API -------------------------------------------------------------------

    def health(self) -> list[ChildHealth]:
        """A snapshot of every child's health, in start order."""
        snapshot = []
        for child in self._children:
            health = dataclasses.replace(child.health)
            if child.spec.probe is not None and health.state is ChildState.RUNNING:
                health.problem = child.spec.probe()
            snapshot.append(health)
        return snapshot

    def on_restart(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(child_name)`` each time a child is restarted (for metrics)."""
        self._on_restart.append(callback)

    def stop(self) -> None:
        """Ask the supervisor to shut down; ``run()`` returns once children stopped."""
        self._stop_requested.set()

    async def run(self) -> None:
        """Start children in order, supervise them until stopped, then shut down.

        Raises :class:`RestartIntensityExceeded` if children restart too often.
        """
        try:
            for child in self._children:
                self._start(child)
            await self._stop_requested.wait()
        finally:
            await self._shutdown()
        if self._escalation is not None:
            raise self._escalation

    async def __call__(self) -> None:
        """A supervisor is a child like any other: ``ChildSpec("web", supervisor)``."""
        await self.run()

    # -- internals --------------------------------------------------------------------

    def _set_state(self, child: _Child, state: ChildState, error: str | None = None) -> None:
        child.health.state = state
        child.health.since = self._clock.now()
        if error is not None:
            child.health.last_error = error

    def _start(self, child: _Child) -> None:
        self._set_state(child, ChildState.STARTING)
        context = contextvars.copy_context()
        context.run(current_child.set, child.spec.name)
        child.task = asyncio.create_task(
            self._supervise(child), name=f"{self.name}/{child.spec.name}", context=context
        )
        if child not in self._started:
            self._started.append(child)

    async def _supervise(self, child: _Child) -> None:
        """Run one child until its policy says it is done (or the supervisor stops)."""
        spec = child.spec
        while True:
            self._set_state(child, ChildState.RUNNING)
            log.info("child started", extra={"policy": str(spec.restart)})
            try:
                await spec.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stop_requested.is_set():
                    return  # crashed while being shut down: shutdown records the outcome
                error = f"{type(exc).__name__}: {exc}"
                log.warning("child crashed: %s", error, exc_info=exc)
                if spec.restart is RestartPolicy.TEMPORARY:
                    self._set_state(child, ChildState.FAILED, error)
                    return
                self._set_state(child, ChildState.BACKING_OFF, error)
                child.consecutive_failures += 1
            else:
                if self._stop_requested.is_set():
                    return
                if spec.restart is not RestartPolicy.PERMANENT:
                    log.info("child finished")
                    self._set_state(child, ChildState.STOPPED)
                    return
                log.warning("permanent child returned; restarting")
                self._set_state(child, ChildState.BACKING_OFF, "returned unexpectedly")
                child.consecutive_failures += 1

            if not self._allow_restart(child):
                self._set_state(child, ChildState.FAILED)
                return
            delay = self._backoff.delay(child.consecutive_failures, self._rng)
            if delay > 0:
                await self._clock.sleep(delay)
            child.health.restarts += 1
            for callback in self._on_restart:
                callback(spec.name)

    def _allow_restart(self, child: _Child) -> bool:
        """Record a restart; escalate (stop everything) when the intensity is exceeded."""
        now = self._clock.monotonic()
        self._restart_times.append(now)
        horizon = now - self._intensity.period
        while self._restart_times and self._restart_times[0] < horizon:
            self._restart_times.popleft()
        if len(self._restart_times) <= self._intensity.max_restarts:
            return True
        self._escalation = RestartIntensityExceeded(
            self.name, len(self._restart_times), self._intensity.period, child.spec.name
        )
        log.error("%s", self._escalation)
        self.stop()
        return False

    async def _shutdown(self) -> None:
        """Cancel children in reverse start order, each within its shutdown timeout."""
        for child in reversed(self._started):
            task = child.task
            if task is None:
                continue
            if task.done():
                if child.health.state not in (ChildState.FAILED, ChildState.STOPPED):
                    self._set_state(child, ChildState.STOPPED)
                continue
            timeout = child.spec.shutdown_timeout
            started = time.monotonic()
            # Real time on purpose: a bounded shutdown is a promise about the wall clock.
            # The cancellation is delivered again until the child ends, as AnyIO's cancel
            # scopes do: on Python 3.11, asyncio.wait_for swallows a cancellation that
            # arrives as its inner future completes (used by libraries such as aiomqtt),
            # and a single cancel() can then be lost.
            done: set[asyncio.Task[None]] = set()
            while not done and time.monotonic() - started < timeout:
                task.cancel()
                remaining = timeout - (time.monotonic() - started)
                done, _ = await asyncio.wait({task}, timeout=min(RECANCEL_EVERY, remaining))
            if task in done:
                self._set_state(child, ChildState.STOPPED)
                log.info(
                    "child stopped",
                    extra={"child": child.spec.name, "seconds": time.monotonic() - started},
                )
            else:
                message = f"ignored cancellation for {timeout:g} s; abandoned"
                self._set_state(child, ChildState.FAILED, message)
                log.error("child %s", message, extra={"child": child.spec.name})


def install_signal_handlers(supervisor: Supervisor) -> Callable[[], None]:
    """Make SIGINT and SIGTERM stop ``supervisor``; returns a function that undoes it."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal(signum: signal.Signals) -> None:
        log.info("received %s; shutting down", signum.name)
        supervisor.stop()

    for signum in signals:
        loop.add_signal_handler(signum, on_signal, signum)

    def remove() -> None:
        for signum in signals:
            loop.remove_signal_handler(signum)

    return remove
