"""The in-process stand-in: the same ``session.service(name)`` surface, without the wire.

Where no ``qi`` wheel exists (macOS, CPython 3.13+), :class:`InProcessSession` takes
the place of ``qi.Session``: it "connects" to a :class:`InProcessHub` by URL, hands out
proxies whose methods accept ``_async=True`` and return qi-shaped futures, and signals
with ``connect``/``disconnect``. ``NaoqiRobot`` runs on it unchanged. Only ``_async``
calls are supported, since a blocking call on the event loop's own thread would deadlock.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any, ClassVar

from hw_sim.pepper.signatures import SignatureMismatch, methods
from hw_sim.pepper.world import PepperWorld, Signal, Subscriber

_REFUSED = "Connect error: 111: Connection refused"
_NOT_CONNECTED = "Socket is not connected"


class LocalFuture:
    """A qi-shaped future over an asyncio future, or over a value known at once."""

    def __init__(
        self, future: asyncio.Future[Any] | None = None, value: Any = None, error: str | None = None
    ) -> None:
        self._future = future
        self._value = value
        self._error = error

    def addCallback(self, callback: Callable[[LocalFuture], None]) -> None:  # noqa: N802
        if self._future is None or self._future.done():
            callback(self)
        else:
            self._future.add_done_callback(lambda _: callback(self))

    def isFinished(self) -> bool:  # noqa: N802
        return self._future is None or self._future.done()

    def isCanceled(self) -> bool:  # noqa: N802
        return self._future is not None and self._future.cancelled()

    def hasError(self) -> bool:  # noqa: N802
        if self._future is None:
            return self._error is not None
        return not self._future.cancelled() and self._future.exception() is not None

    def error(self) -> str:
        if self._future is None:
            return self._error or ""
        error = self._future.exception()
        if isinstance(error, SignatureMismatch):
            return str(error)  # libqi's own words, as over the wire
        return f"{type(error).__name__}: {error}"

    def value(self) -> Any:
        if self._future is None:
            if self._error is not None:
                raise RuntimeError(self._error)
            return self._value
        return self._future.result()

    def cancel(self) -> None:
        if self._future is not None:
            self._future.cancel()


class LocalSignal:
    """A signal with libqi's connect/disconnect/emit and onConnect semantics."""

    _ids = itertools.count(1)

    def __init__(self, on_change: Callable[[bool], None] | None = None) -> None:
        self._links: dict[int, Callable[..., None]] = {}
        self._on_change = on_change

    def connect(self, callback: Callable[..., None]) -> int:
        link = next(self._ids)
        self._links[link] = callback
        if len(self._links) == 1 and self._on_change:
            self._on_change(True)
        return link

    def disconnect(self, link: int) -> None:
        if self._links.pop(link, None) is not None and not self._links and self._on_change:
            self._on_change(False)

    def __call__(self, *values: Any) -> None:
        """Emit ``values`` to every connected callback."""
        for callback in list(self._links.values()):
            callback(*values)


def _reply(value: Any, as_future: bool) -> Any:
    return LocalFuture(value=value) if as_future else value


class _SignalProxy:
    """A client's handle on a signal; its links end when the client's session does."""

    def __init__(self, session: InProcessSession, signal: LocalSignal) -> None:
        self._session = session
        self._signal = signal

    def connect(self, callback: Callable[..., None], _async: bool = False) -> Any:
        self._session.check()
        link = self._signal.connect(callback)
        self._session.links.append((self._signal, link))
        return _reply(link, _async)

    def disconnect(self, link: int, _async: bool = False) -> Any:
        self._signal.disconnect(link)
        self._session.links = [(s, i) for s, i in self._session.links if i != link]
        return _reply(None, _async)


class _ObjectProxy:
    """A client's handle on a service (calls go through ``world.invoke``) or an object."""

    def __init__(self, session: InProcessSession, target: Any, service: str | None) -> None:
        self._session = session
        self._target = target
        self._service = service

    def __getattr__(self, name: str) -> Any:
        if self._service is not None and name not in methods(self._service):
            # As over libqi: a method the robot lacks is not there at all.
            raise AttributeError(f"'{self._service}' object has no attribute '{name}'")
        if self._service is not None:
            return lambda *args, _async=False: self._session.call(
                self._service, self._target, name, args, _async
            )
        attribute = getattr(self._target, name)
        if isinstance(attribute, LocalSignal):
            return _SignalProxy(self._session, attribute)
        if not callable(attribute):
            raise AttributeError(name)
        return lambda *args, _async=False: self._session.call(
            self._service, self._target, name, args, _async
        )


class InProcessHub:
    """Serves a :class:`PepperWorld` to in-process sessions under a made-up URL."""

    hubs: ClassVar[dict[str, InProcessHub]] = {}
    _numbers = itertools.count(1)

    def __init__(self, world: PepperWorld) -> None:
        """Prepare to serve ``world``; :meth:`start` makes it reachable."""
        self.world = world
        self.url = f"tcp://inprocess-{next(self._numbers)}.sim:9559"
        self.down = False
        self.sessions: list[InProcessSession] = []

    def start(self) -> str:
        """Make the hub reachable at :attr:`url` and return it."""
        self.world.use_signals(_local_signal)
        self.world.drop_handler = self.drop
        self.hubs[self.url] = self
        return self.url

    def close(self) -> None:
        """Disconnect every session and stop answering."""
        for session in list(self.sessions):
            session.lose()
        self.hubs.pop(self.url, None)

    def drop(self, seconds: float) -> None:
        """Disconnect every session; refuse connections for ``seconds`` of simulated time."""
        self.down = True
        asyncio.get_running_loop().call_soon(self._drop_now)
        self.world.clock.call_later(seconds, self._restore)

    def _drop_now(self) -> None:
        for session in list(self.sessions):
            session.lose()

    def _restore(self) -> None:
        self.down = False


def _local_signal(on_change: Callable[[bool], None]) -> Signal:
    return LocalSignal(on_change)


class InProcessSession:
    """Stands in for ``qi.Session`` against an :class:`InProcessHub`."""

    def __init__(self) -> None:
        """A session that is not connected yet."""
        self.disconnected = LocalSignal()
        self.links: list[tuple[LocalSignal, int]] = []
        self._hub: InProcessHub | None = None

    def isConnected(self) -> bool:  # noqa: N802
        return self._hub is not None

    def check(self) -> InProcessHub:
        if self._hub is None:
            raise RuntimeError(_NOT_CONNECTED)
        return self._hub

    def connect(self, url: str, _async: bool = False) -> Any:
        hub = InProcessHub.hubs.get(url)
        if hub is None or hub.down:
            if _async:
                return LocalFuture(error=_REFUSED)
            raise RuntimeError(_REFUSED)
        self._hub = hub
        hub.sessions.append(self)
        return _reply(None, _async)

    def service(self, name: str, _async: bool = False) -> Any:
        hub = self.check()
        if name not in hub.world.services:
            error = f"Cannot find service '{name}' in index"
            if _async:
                return LocalFuture(error=error)
            raise RuntimeError(error)
        return _reply(_ObjectProxy(self, hub.world.services[name], name), _async)

    def call(
        self, service: str | None, target: Any, method: str, args: tuple[Any, ...], _async: bool
    ) -> Any:
        if not _async:
            raise RuntimeError("the in-process stand-in only takes _async=True calls")
        if self._hub is None:
            return LocalFuture(error=_NOT_CONNECTED)
        world = self._hub.world

        async def run() -> Any:
            if service is not None:
                result = await world.invoke(service, method, args)
            else:
                result = getattr(target, method)(*args)
            return _ObjectProxy(self, result, None) if isinstance(result, Subscriber) else result

        return LocalFuture(asyncio.get_running_loop().create_task(run()))

    def lose(self) -> None:
        """The connection ends: links are dropped and ``disconnected`` fires."""
        hub, self._hub = self._hub, None
        if hub is None:
            return
        for signal, link in self.links:
            signal.disconnect(link)
        self.links.clear()
        if self in hub.sessions:
            hub.sessions.remove(self)
        self.disconnected("disconnected")

    def close(self) -> None:
        """Close the session (as libqi does, this also fires ``disconnected``)."""
        self.lose()
